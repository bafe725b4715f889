// After a backplane outage, resync on a real redis-server: the node's peers put back, and its local peers told what
// they missed of the others.
import t, { type Test } from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { RedisBackplane } from '../../../lib/redis-backplane.js'
import { resync } from '../../../lib/relay/resync.js'
import { requireProgram } from '../../support/programs.js'
import { startRedis, type RedisProcess } from '../../support/redis.js'
import { relayParts, socketPairs } from './parts.js'

const json = (frame: string): Record<string, unknown> => JSON.parse(frame) as Record<string, unknown>

/** A started backplane on a redis-server of the test's own. */
async function onRedis (t: Test): Promise<{ redis: RedisProcess, backplane: RedisBackplane }> {
  const redis = (await startRedis(t))!
  const backplane = new RedisBackplane({ url: redis.url, keyPrefix: 'resync:', nodeTtl: 2000 })
  await backplane.start()
  t.teardown(async () => { await backplane.close() })
  return { redis, backplane }
}

if (requireProgram(t, 'redis-server') !== undefined) {
  t.test('Redis restarted empty: the room and this node\'s peers are registered again', async (t) => {
    const { redis, backplane } = await onRedis(t)
    const parts = await relayParts({ backplane })
    await parts.seat(undefined, 'alice')
    await parts.seat(undefined, 'bob')
    await redis.kill()
    await redis.restart()
    let room: unknown = 'unanswered'
    for (let i = 0; i < 200 && room === 'unanswered'; i++) room = await backplane.get('r1').catch(async () => { await sleep(50); return 'unanswered' })
    t.equal(room, undefined, 'connected again, to a store that lost the room')
    await resync(parts.ctx, parts.delivery, parts.departures, { storeLost: true })
    t.match(await backplane.get('r1'), { roomId: 'r1', maxPeers: 10 })
    t.same((await backplane.peers('r1')).map((p) => p.peerId).sort(), ['alice', 'bob'])
  })

  t.test('peers of other nodes that came and went meanwhile are announced to the local peers', async (t) => {
    const { backplane } = await onRedis(t)
    const { pair } = await socketPairs(t)
    const parts = await relayParts({ backplane })
    const a = await pair()
    await parts.seat(a.server, 'alice')
    // what this node believed of the other nodes before the outage, and what the store says after it
    parts.rooms.get('r1')!.remote = new Map([['zed', {}]])
    await backplane.join('r1', { peerId: 'yan', metadata: { n: 1 }, joinedAt: new Date().toISOString() }, 'othernode.1')
    await resync(parts.ctx, parts.delivery, parts.departures, { storeLost: false })
    const frames = (await a.frames(2)).map(json)
    t.same(frames.map((f) => [f.type, f.peerId ?? (f.peer as { peerId: string }).peerId]), [['peer-left', 'zed'], ['peer-joined', 'yan']])
    t.same([...parts.rooms.get('r1')!.remote!.keys()], ['yan'])
  })

  t.test('records claiming this node for connections it no longer has are removed', async (t) => {
    const { backplane } = await onRedis(t)
    const parts = await relayParts({ backplane })
    await parts.seat(undefined, 'alice')
    const ghost = await parts.seat(undefined, 'ghost')
    // gone from this node while the store could not be told
    parts.rooms.get('r1')!.peers.delete(ghost.peerId)
    await resync(parts.ctx, parts.delivery, parts.departures, { storeLost: false })
    t.same((await backplane.peers('r1')).map((p) => p.peerId), ['alice'])
  })
}
