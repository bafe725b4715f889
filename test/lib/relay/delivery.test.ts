import { test } from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { CloseCodes } from '../../../lib/protocol.js'
import { relayParts, socketPairs } from './parts.js'

test('deliver numbers each frame for its peer, keeps it, and writes it', async (t) => {
  const { pair } = await socketPairs(t)
  const parts = await relayParts()
  const b = await pair()
  const bob = await parts.seat(b.server, 'bob')
  parts.delivery.deliverOpen(bob, '{"type":"offer","from":"alice"')
  parts.delivery.deliver(bob, '{"type":"pong"}')
  const frames = (await b.frames(2)).map((f) => JSON.parse(f) as { seq: number })
  t.same(frames, [{ type: 'offer', from: 'alice', seq: 1 }, { type: 'pong', seq: 2 }])
  t.same(bob.framesAfter(0).map((f) => JSON.parse(f)), frames, 'both kept for a resume')
})

test('a peer in its grace period gets its frames kept, not written; past the bounds it leaves', async (t) => {
  const { pair } = await socketPairs(t)
  const parts = await relayParts({ resume: { maxMessages: 2 } })
  const w = await pair()
  await parts.seat(w.server, 'watcher')
  const bob = await parts.seat(undefined, 'bob')
  parts.departures.enterGrace(bob)
  parts.delivery.deliver(bob, '{"type":"pong"}')
  parts.delivery.deliver(bob, '{"type":"pong"}')
  t.equal(bob.replay.length, 2)
  t.notOk(bob.detached, 'within the bounds: still waiting')
  parts.delivery.deliver(bob, '{"type":"pong"}')
  t.ok(bob.detached, 'one frame more than can be replayed: gone')
  t.match(JSON.parse((await w.frames(1))[0]!), { type: 'peer-left', peerId: 'bob', reason: 'disconnected' }, 'and the others are told')
})

test('announce reaches every local peer but the one excepted', async (t) => {
  const { pair } = await socketPairs(t)
  const parts = await relayParts()
  const [a, b, c] = [await pair(), await pair(), await pair()]
  await parts.seat(a.server, 'alice')
  await parts.seat(b.server, 'bob')
  await parts.seat(c.server, 'carol')
  parts.delivery.announce('r1', { type: 'peer-left', peerId: 'alice', reason: 'left' }, 'alice')
  t.match(JSON.parse((await b.frames(1))[0]!), { type: 'peer-left', peerId: 'alice', seq: 1 })
  t.match(JSON.parse((await c.frames(1))[0]!), { type: 'peer-left', peerId: 'alice', seq: 1 })
  await sleep(50)
  t.same(a.received, [], 'not to the one excepted')
})

test('sendError counts the code and tells the peer, with the id of its message', async (t) => {
  const { pair } = await socketPairs(t)
  const parts = await relayParts()
  const a = await pair()
  const alice = await parts.seat(a.server, 'alice')
  parts.delivery.sendError(alice, 'PEER_NOT_FOUND', 'nobody', 7)
  t.match(JSON.parse((await a.frames(1))[0]!), { type: 'error', code: 'PEER_NOT_FOUND', id: 7 })
  t.same(parts.metrics.errors, ['PEER_NOT_FOUND'])
})

test('a peer that does not read is closed once its socket buffers more than the limit', async (t) => {
  const { pair } = await socketPairs(t)
  const parts = await relayParts({ maxBufferedBytes: 64 * 1024 })
  const slow = await pair()
  const bob = await parts.seat(slow.server, 'bob')
  ;(slow.client as unknown as { _socket: { pause: () => void } })._socket.pause()
  const big = `{"type":"message","from":"alice","data":"${'x'.repeat(256 * 1024)}"`
  for (let i = 0; i < 64 && !bob.detached; i++) parts.delivery.deliverOpen(bob, big)
  t.ok(bob.detached, 'gone from the room')
  t.same(parts.metrics.refusals, ['slow_consumer'])
  t.equal(parts.rooms.peer('r1', 'bob'), undefined)
  ;(slow.client as unknown as { _socket: { resume: () => void } })._socket.resume()
  t.equal(await slow.closed, CloseCodes.TRY_AGAIN_LATER, 'closed with 1013 (or cut a second later)')
})
