// Partial outages with real processes: a Redis that stops answering (SIGSTOP), and one node alone cut off from
// Redis (a TCP proxy in front of it), in whole or only its subscriber connection.
import t, { type Test } from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { RedisBackplane } from '../../lib/redis-backplane.js'
import { startServer, TestPeer, type TestServer } from '../helper.js'
import { requireProgram } from '../support/programs.js'
import { startRedis, startRedisProxy, type RedisProcess } from '../support/redis.js'

/** Resolves with the promise's value, or undefined if it has not settled within `ms`. */
async function within<T> (ms: number, promise: Promise<T>): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<undefined>((resolve) => { timer = setTimeout(() => resolve(undefined), ms) })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** Polls until `check` holds (true) or `ms` pass (false). */
async function eventually (ms: number, check: () => Promise<boolean> | boolean): Promise<boolean> {
  const deadline = Date.now() + ms
  for (;;) {
    if (await check()) return true
    if (Date.now() > deadline) return false
    await sleep(100)
  }
}

/** Redis's own count of subscribers of a channel, asked on a connection of the test's own. */
function subscribers (t: Test, redis: RedisProcess): (channel: string) => Promise<number> {
  const client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 })
  t.teardown(() => { client.disconnect() })
  return async (channel) => {
    const [, count] = await client.call('PUBSUB', 'NUMSUB', channel) as [string, number]
    return Number(count)
  }
}

const backplaneOf = (server: TestServer): RedisBackplane => server.app.signalling.relay.backplane as RedisBackplane
const status = async (server: TestServer): Promise<number> => (await server.app.inject({ url: '/ready' })).statusCode

// every test here starts its own redis-server: without one the whole file is skipped, with one line
if (requireProgram(t, 'redis-server') !== undefined) redisTests()

function redisTests (): void {
  t.test('Redis stops answering (SIGSTOP): senders get BACKPLANE_UNAVAILABLE, /ready says down; SIGCONT: everything resumes', async (t) => {
    const redis = await startRedis(t)
    if (redis === undefined) return
    t.teardown(() => redis.resume())
    const options = { redis: { url: redis.url, keyPrefix: 'test:', nodeTtl: 10_000, commandTimeout: 1000 } }
    const a = await startServer(t, options)
    const b = await startServer(t, options)
    await a.createRoom({ roomId: 'r' })
    const alice = await a.join('r', 'alice')
    const bob = await b.join('r', 'bob')
    await alice.next('peer-joined')

    redis.pause()
    alice.send({ type: 'offer', to: 'bob', data: 'lost', id: 's1' })
    t.same(await alice.next('error', 15_000), { type: 'error', code: 'BACKPLANE_UNAVAILABLE', message: 'Backplane unavailable: the peer is on another node', id: 's1' },
      'the sender is told, instead of the message waiting in a queue')
    t.ok(await eventually(15_000, async () => await status(a) === 503), '/ready on node A reports the backplane down')
    t.match((await a.app.inject({ url: '/ready' })).json(), { status: 'degraded', backplane: 'down' })
    t.ok(await eventually(10_000, () => backplaneOf(a).pendingCommands === 0), 'nothing keeps waiting on the frozen Redis')

    redis.resume()
    t.ok(await eventually(15_000, async () => await status(a) === 200 && await status(b) === 200), 'both nodes ready again')
    alice.send({ type: 'offer', to: 'bob', data: 'after' })
    // the frame that timed out was in Redis's socket buffer already: a thawed Redis may still run it, so it may arrive
    let offer = await bob.next('offer', 10_000)
    if (offer.data === 'lost') offer = await bob.next('offer', 10_000)
    t.same(offer, { type: 'offer', from: 'alice', data: 'after' }, 'cross-node relay works again')
  })

  t.test('commands waiting for a frozen Redis are bounded: past maxPending they fail at once', async (t) => {
    const redis = await startRedis(t)
    if (redis === undefined) return
    t.teardown(() => redis.resume())
    const backplane = new RedisBackplane({ url: redis.url, keyPrefix: 'test:', maxPending: 5, commandTimeout: 1000 })
    await backplane.start()
    t.teardown(async () => { await backplane.close() })

    redis.pause()
    const settled: number[] = []
    const outcomes = Array.from({ length: 20 }, async (_, i) => {
      try {
        await backplane.sendToPeer('r', 'p', '{}')
        return 'resolved'
      } catch (err) {
        return (err as { code?: string }).code ?? (err as Error).message
      } finally {
        settled.push(i)
      }
    })
    const results = await within(15_000, Promise.all(outcomes))
    t.ok(results !== undefined, 'every command settled')
    t.same(settled.slice(0, 15).sort((x, y) => x - y), [...Array(15).keys()].map((i) => i + 5), 'those past the bound failed first, without waiting')
    t.same(results?.slice(5), Array(15).fill('BACKPLANE_UNAVAILABLE'))
    t.notOk(results?.slice(0, 5).includes('resolved'), 'those within the bound failed on the timeout')
    t.equal(backplane.pendingCommands, 0)
    redis.resume()
  })

  t.test('a room unwatched while Redis was unreachable is not subscribed again on reconnection', async (t) => {
    const redis = await startRedis(t)
    if (redis === undefined) return
    const proxy = await startRedisProxy(t, redis)
    const numsub = subscribers(t, redis)
    const a = await startServer(t, { redis: { url: proxy.url, keyPrefix: 'test:', nodeTtl: 10_000 } })
    await a.createRoom({ roomId: 'r' })
    await a.createRoom({ roomId: 'other' })
    const alice = await a.join('r', 'alice')
    t.equal(await numsub('test:room:r'), 1)

    proxy.cut()
    t.ok(await eventually(10_000, () => !backplaneOf(a).up), 'node A lost Redis')
    alice.send({ type: 'leave' })
    await alice.closed
    t.ok(await eventually(10_000, () => backplaneOf(a).watchedRooms.length === 0), 'node A let go of the room')

    proxy.mend()
    t.ok(await eventually(15_000, async () => await status(a) === 200), 'node A is back')
    // a subscription after the reconnection: whatever ioredis re-subscribed by itself has reached Redis by then
    await a.join('other', 'olga')
    t.ok(await eventually(10_000, async () => await numsub('test:room:r') === 0), 'nobody subscribes to the room any more')
    t.equal(await numsub('test:room:other'), 1)
  })

  for (const [what, connection] of [['both its connections', undefined], ['its subscriber connection only', 'events']] as const) {
    t.test(`presence missed while node A lost ${what} is caught up when it is back`, async (t) => {
      const redis = await startRedis(t)
      if (redis === undefined) return
      const proxy = await startRedisProxy(t, redis)
      const a = await startServer(t, { redis: { url: proxy.url, keyPrefix: 'test:', nodeTtl: 10_000 } })
      const b = await startServer(t, { redis: { url: redis.url, keyPrefix: 'test:', nodeTtl: 10_000 } })
      await b.createRoom({ roomId: 'r' })
      const alice = await a.join('r', 'alice')
      const bob = await b.join('r', 'bob')
      await alice.next('peer-joined')
      const { token } = await b.issueToken('r', { peerId: 'carol', metadata: { c: 1 } })

      proxy.cut(connection === undefined ? undefined : `signalling-${backplaneOf(a).nodeId}-${connection}`)
      t.ok(await eventually(10_000, () => !backplaneOf(a).up), 'node A lost Redis')
      bob.send({ type: 'leave' })
      await bob.closed
      const carol = await TestPeer.connect(t, `${b.wsUrl}?token=${token}`)
      t.same((await carol.next('welcome')).peers, [{ peerId: 'alice', metadata: {} }])
      await sleep(200)
      t.same(alice.received.filter((m) => m.type !== 'pong'), [], 'alice heard nothing meanwhile')

      proxy.mend()
      t.same(await alice.next(undefined, 20_000), { type: 'peer-left', peerId: 'bob', reason: 'disconnected' }, 'alice learns that bob left')
      t.same(await alice.next(undefined, 10_000), { type: 'peer-joined', peer: { peerId: 'carol', metadata: { c: 1 } } }, 'and that carol came')
      alice.send({ type: 'offer', to: 'carol', data: 1 })
      t.same(await carol.next('offer', 10_000), { type: 'offer', from: 'alice', data: 1 })
      await alice.settle()
      await carol.settle()
      t.same(alice.received, [], 'nothing more for alice')
      t.same(carol.received, [], 'carol saw no churn')
    })
  }
}
