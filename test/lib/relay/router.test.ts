import { test } from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { MAX_FRAME_BYTES } from '../../../lib/protocol.js'
import type { MessageRate } from '../../../lib/limits.js'
import { PeerUpdates } from '../../../lib/relay/metadata.js'
import { Router } from '../../../lib/relay/router.js'
import { relayParts, socketPairs, type SocketPair } from './parts.js'

const iceServers = (peerId: string) => ({ iceServers: [{ urls: `stun:stun.example.test?for=${peerId}` }], ttl: 60 })
const frame = (message: unknown): Buffer => Buffer.from(JSON.stringify(message))
const last = async (p: SocketPair, count: number): Promise<Record<string, unknown>> => JSON.parse((await p.frames(count))[count - 1]!) as Record<string, unknown>

async function room (t: Parameters<typeof socketPairs>[0], rate: MessageRate | false = false) {
  const { pair } = await socketPairs(t)
  const parts = await relayParts()
  const router = new Router(parts.ctx, parts.delivery, parts.departures, rate, iceServers, new PeerUpdates(parts.ctx, parts.delivery, parts.departures))
  const [a, b, c] = [await pair(), await pair(), await pair()]
  const alice = await parts.seat(a.server, 'alice')
  await parts.seat(b.server, 'bob')
  await parts.seat(c.server, 'carol')
  return { parts, router, a, b, c, alice }
}

test('an offer goes to its recipient alone, from its sender as the server saw it', async (t) => {
  const { parts, router, a, b, c, alice } = await room(t)
  router.onFrame(alice, frame({ type: 'offer', to: 'bob', from: 'mallory', data: { sdp: 'v=0' } }), false)
  t.same(await last(b, 1), { type: 'offer', from: 'alice', data: { sdp: 'v=0' }, seq: 1 }, 'a claimed from is not the sender')
  await sleep(50)
  t.same(a.received, [])
  t.same(c.received, [])
  t.same(parts.metrics.relayedTypes, ['offer'])
})

test('a message without `to` goes to everyone else in the room', async (t) => {
  const { router, a, b, c, alice } = await room(t)
  router.onFrame(alice, frame({ type: 'message', data: { hello: 1 } }), false)
  t.match(await last(b, 1), { type: 'message', from: 'alice', data: { hello: 1 } })
  t.match(await last(c, 1), { type: 'message', from: 'alice', data: { hello: 1 } })
  await sleep(50)
  t.same(a.received, [], 'not back to the sender')
})

test('to nobody, or to oneself: PEER_NOT_FOUND with the message id', async (t) => {
  const { router, a, alice } = await room(t)
  router.onFrame(alice, frame({ type: 'answer', to: 'zed', data: {} }), false)
  t.match(await last(a, 1), { type: 'error', code: 'PEER_NOT_FOUND' })
  router.onFrame(alice, frame({ type: 'message', to: 'alice', data: 1, id: 'm1' }), false)
  t.match(await last(a, 2), { type: 'error', code: 'PEER_NOT_FOUND', id: 'm1' })
})

test('binary, malformed and oversized frames get their own answers', async (t) => {
  const { parts, router, a, alice } = await room(t)
  router.onFrame(alice, Buffer.from([1, 2, 3]), true)
  t.match(await last(a, 1), { type: 'error', code: 'INVALID_MESSAGE' })
  router.onFrame(alice, Buffer.from('{"type":'), false)
  t.match(await last(a, 2), { type: 'error', code: 'INVALID_MESSAGE' })
  router.onFrame(alice, frame({ type: 'teleport', to: 'bob' }), false)
  t.match(await last(a, 3), { type: 'error' })
  router.onFrame(alice, Buffer.alloc(MAX_FRAME_BYTES + 1, 0x20), false)
  t.equal(await a.closed, 1009)
  t.same(parts.metrics.refusals, ['frame_size'])
  t.ok(alice.detached)
})

test('ping, ice-servers and leave are answered by the server', async (t) => {
  const { router, a, b, alice } = await room(t)
  router.onFrame(alice, frame({ type: 'ping' }), false)
  t.match(await last(a, 1), { type: 'pong' })
  router.onFrame(alice, frame({ type: 'ice-servers' }), false)
  t.match(await last(a, 2), { type: 'ice-servers', ttl: 60, iceServers: [{ urls: 'stun:stun.example.test?for=alice' }] })
  router.onFrame(alice, frame({ type: 'leave' }), false)
  t.equal(await a.closed, 1000)
  t.match(await last(b, 1), { type: 'peer-left', peerId: 'alice', reason: 'left' })
})

test('over the rate, messages are answered RATE_LIMITED and not relayed', async (t) => {
  const { parts, router, a, b, alice } = await room(t, { perSecond: 1, burst: 2, abuseSeconds: 3 })
  alice.tokens = 2
  alice.refilledAt = Math.floor(performance.now())
  for (let i = 0; i < 3; i++) router.onFrame(alice, frame({ type: 'message', to: 'bob', data: i }), false)
  await b.frames(2)
  t.match(await last(a, 1), { type: 'error', code: 'RATE_LIMITED' })
  await sleep(50)
  t.same(b.received.map((f) => (JSON.parse(f) as { data: number }).data), [0, 1], 'the third was not relayed')
  t.same(parts.metrics.refusals, ['message_rate'])
})
