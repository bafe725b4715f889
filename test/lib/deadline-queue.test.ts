import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { DeadlineQueue } from '../../lib/deadline-queue.js'

/** A queue that records what came due, with its ticket, in order. */
function recording (): { queue: DeadlineQueue<string>, due: Array<[string, number]> } {
  const due: Array<[string, number]> = []
  const queue = new DeadlineQueue<string>((item, ticket) => { due.push([item, ticket]) })
  return { queue, due }
}

const refTimers = (): number => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length

t.test('entries come due in deadline order, whatever their durations and the order they were set in', async (t) => {
  const { queue, due } = recording()
  t.teardown(() => { queue.clear() })
  const slow = queue.schedule('slow', 600)
  const middle = queue.schedule('middle', 300)
  const fast = queue.schedule('fast', 50)
  t.ok(slow > 0 && middle > slow && fast > middle, 'each entry gets a new ticket, never 0')
  await sleep(10)
  t.same(due, [], 'nothing is due early')
  await sleep(140)
  t.same(due, [['fast', fast]], 'a shorter duration set later comes due first')
  await sleep(750)
  t.same(due, [['fast', fast], ['middle', middle], ['slow', slow]])
})

t.test('entries of one duration come due in the order they were set, each with its own ticket', async (t) => {
  const { queue, due } = recording()
  t.teardown(() => { queue.clear() })
  const tickets = ['a', 'b', 'c'].map((item) => queue.schedule(item, 10))
  await sleep(40)
  t.same(due, [['a', tickets[0]], ['b', tickets[1]], ['c', tickets[2]]])
})

t.test('an entry set while others come due waits for its own time', async (t) => {
  const due: string[] = []
  const queue = new DeadlineQueue<string>((item) => {
    due.push(item)
    if (item === 'first') queue.schedule('again', 200)
  })
  t.teardown(() => { queue.clear() })
  queue.schedule('first', 10)
  await sleep(100)
  t.same(due, ['first'], 'not in the same round')
  await sleep(300)
  t.same(due, ['first', 'again'])
})

t.test('a long lane drops what came due and keeps the rest in order', async (t) => {
  const { queue, due } = recording()
  t.teardown(() => { queue.clear() })
  // the early entries come due while the late ones wait in the same lane
  const early = Array.from({ length: 2000 }, (_, i) => queue.schedule(`e${i}`, 50))
  await sleep(30)
  const late = Array.from({ length: 10 }, (_, i) => queue.schedule(`l${i}`, 50))
  await sleep(150)
  t.equal(due.length, 2010)
  t.same(due.map(([, ticket]) => ticket), [...early, ...late])
  t.same(due.slice(-10).map(([item]) => item), late.map((_, i) => `l${i}`))
})

t.test('clear drops every entry; the timer never holds the process open', async (t) => {
  const { queue, due } = recording()
  const before = refTimers()
  queue.schedule('x', 10)
  t.equal(refTimers(), before, 'the pending timer is unreferenced')
  queue.clear()
  await sleep(30)
  t.same(due, [])
  queue.schedule('y', 5)
  await sleep(25)
  t.same(due, [['y', 2]], 'the queue works after a clear, with tickets still counting up')
  queue.clear()
})
