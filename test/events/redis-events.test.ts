// Events of two in-process nodes on a real redis-server: one numbering per room across nodes, an expiry told once,
// a dead letter one node lists and the other replays.
import t from 'tap'
import type { SignallingEvent } from '../../lib/events/types.js'
import { startServer, TEST_API_KEY, type TestServer } from '../helper.js'
import { startRedis } from '../support/redis.js'
import { startReceiver, TEST_WEBHOOK_SECRET, until } from './receiver.js'

t.test('two nodes: numbered per room across nodes, empty-timeout told once, delivered once, dead letters shared', async (t) => {
  const redis = await startRedis(t)
  if (redis === undefined) return
  const receiver = await startReceiver(t)
  const options = {
    redis: { url: redis.url, keyPrefix: 'ev:', nodeTtl: 2000 },
    webhooks: { endpoints: [receiver.url], secret: TEST_WEBHOOK_SECRET, backoff: { initial: 20, max: 50 }, retryFor: 60_000 }
  }
  const nodes: TestServer[] = [await startServer(t, options), await startServer(t, options)]
  const seen: Array<SignallingEvent & { node: number }> = []
  nodes.forEach((node, i) => {
    for (const type of ['room.created', 'room.deleted', 'peer.joined', 'peer.left'] as const) node.app.signalling.on(type, (e) => seen.push({ ...e, node: i }))
  })
  await nodes[0]!.createRoom({ roomId: 'r', emptyTimeout: 1 })
  const alice = await nodes[1]!.join('r', 'alice')
  const bob = await nodes[0]!.join('r', 'bob')
  bob.send({ type: 'leave' })
  await alice.next('peer-left')
  alice.send({ type: 'leave' })
  await until(() => seen.some((e) => e.type === 'room.deleted'), 'the expiry', 10_000)
  await new Promise((resolve) => setTimeout(resolve, 1200))
  // each node tells its own listeners: across the two, arrival order is not the room's
  seen.sort((x, y) => x.seq - y.seq)
  t.same(seen.map((e) => `${e.seq} ${e.type}`), ['1 room.created', '2 peer.joined', '3 peer.joined', '4 peer.left', '5 peer.left', '6 room.deleted'],
    'one numbering for the room, whichever node the event happened on')
  t.equal(seen.filter((e) => e.type === 'room.deleted').length, 1, 'the expiry is told once, by one node')
  await until(() => receiver.accepted().length === 6, 'the deliveries')
  await new Promise((resolve) => setTimeout(resolve, 300))
  t.same(receiver.accepted().map((e) => e.id), seen.map((e) => e.id), 'each delivered once, in order')

  receiver.answer(410)
  await nodes[1]!.createRoom({ roomId: 'g' })
  let letters: unknown[] = []
  for (let tries = 0; letters.length === 0 && tries < 100; tries++) {
    letters = (await nodes[0]!.app.inject({ url: '/webhooks/dead-letters', headers: { authorization: `Bearer ${TEST_API_KEY}` } })).json().deadLetters
    if (letters.length === 0) await new Promise((resolve) => setTimeout(resolve, 50))
  }
  t.match(letters, [{ reason: 'gone', event: { type: 'room.created', roomId: 'g' } }], 'listed by either node')
  receiver.answer(200)
  const id = (letters[0] as { id: string }).id
  const replay = await nodes[1]!.app.inject({ method: 'POST', url: `/webhooks/dead-letters/${id}/replay`, headers: { authorization: `Bearer ${TEST_API_KEY}` } })
  t.equal(replay.statusCode, 202)
  await until(() => receiver.accepted().some((e) => e.roomId === 'g'), 'the replay')
  t.same(await nodes[0]!.app.signalling.deadLetters(), [])
  await t.rejects(nodes[0]!.app.signalling.replayDeadLetter(id), { code: 'DEAD_LETTER_NOT_FOUND' })
})
