// PeerJS sessions served by a real relay: the translation both ways, the queue for absent peers and its expiry,
// liveness, and a typed ERROR for every bad frame.
import { test, type Test } from 'tap'
import { PeerjsEndpoint, reclaimDigest, sameDigest, type PeerjsLimits } from '../../lib/compat/peerjs.js'
import { joinClaims } from '../../lib/join-token.js'
import { Relay } from '../../lib/relay.js'
import { MemoryRoomRegistry } from '../../lib/room-registry.js'

const ROOM = { roomId: 'r1', maxPeers: 10, emptyTimeout: 60, metadata: {}, createdAt: new Date(Date.now() - 10_000).toISOString() }

async function until (condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

interface Client { frames: any[], closes: Array<[number, string]>, send: (frame: unknown) => void, session: ReturnType<PeerjsEndpoint['open']> }

async function setup (t: Test, limits: Partial<PeerjsLimits> = {}): Promise<{ relay: Relay, endpoint: PeerjsEndpoint, join: (id: string) => Promise<Client> }> {
  const registry = new MemoryRoomRegistry()
  await registry.create(ROOM)
  const relay = new Relay({ registry, heartbeatInterval: 0, resume: { grace: 0 } })
  const endpoint = new PeerjsEndpoint(limits)
  t.teardown(async () => { endpoint.close(); await relay.close() })
  const join = async (id: string): Promise<Client> => {
    const frames: any[] = []
    const closes: Array<[number, string]> = []
    const session = endpoint.open(id, { send: (text) => frames.push(JSON.parse(text)), close: (code, reason) => closes.push([code, reason]) })
    relay.connect(session.relaySocket.asWebSocket, joinClaims('r1', id, 60, {}))
    await until(() => frames.some((f) => f.type === 'OPEN'), `${id} open`)
    const send = (frame: unknown): void => { session.fromClient(typeof frame === 'string' ? frame : JSON.stringify(frame), false) }
    return { frames, closes, send, session }
  }
  return { relay, endpoint, join }
}

test('OPEN on joining; OFFER, ANSWER, CANDIDATE and LEAVE relayed with src set by the server and payload unchanged', async (t) => {
  const { join } = await setup(t)
  const a = await join('a')
  const b = await join('b')
  t.same(a.frames, [{ type: 'OPEN' }], 'nothing but OPEN: presence has no PeerJS form')
  const payload = { sdp: 'v=0\r\n', type: 'data', connectionId: 'dc_1', nested: [1, 'two', null, { x: true }] }
  a.send({ type: 'OFFER', dst: 'b', src: 'mallory', payload })
  b.send({ type: 'ANSWER', dst: 'a', payload: { sdp: 'answer', connectionId: 'dc_1' } })
  a.send({ type: 'CANDIDATE', dst: 'b', payload: { candidate: { candidate: 'candidate:1 1 udp 1 127.0.0.1 9 typ host' }, connectionId: 'dc_1' } })
  a.send({ type: 'LEAVE', dst: 'b' })
  await until(() => b.frames.length === 4 && a.frames.length === 2, 'relayed')
  t.same(b.frames.slice(1), [
    { type: 'OFFER', src: 'a', dst: 'b', payload },
    { type: 'CANDIDATE', src: 'a', dst: 'b', payload: { candidate: { candidate: 'candidate:1 1 udp 1 127.0.0.1 9 typ host' }, connectionId: 'dc_1' } },
    { type: 'LEAVE', src: 'a', dst: 'b' }
  ])
  t.same(a.frames[1], { type: 'ANSWER', src: 'b', dst: 'a', payload: { sdp: 'answer', connectionId: 'dc_1' } })
})

test('a message for a peer not connected waits for it, and reaches it in order when it joins', async (t) => {
  const { join, endpoint } = await setup(t)
  const a = await join('a')
  a.send({ type: 'OFFER', dst: 'late', payload: { n: 1 } })
  a.send({ type: 'CANDIDATE', dst: 'late', payload: { n: 2 } })
  a.send({ type: 'LEAVE', dst: 'late' })
  await until(() => a.session.queued === 2, 'queued')
  t.equal(endpoint.queued, 2, 'LEAVE is not queued, as in the reference server')
  const late = await join('late')
  await until(() => late.frames.length === 3, 'delivered')
  t.same(late.frames.slice(1).map((f) => f.payload), [{ n: 1 }, { n: 2 }])
  t.equal(endpoint.queued, 0)
  t.same(a.frames, [{ type: 'OPEN' }], 'no EXPIRE')
})

test('a queued message expires after expireTimeout with one EXPIRE per recipient', async (t) => {
  const { join, endpoint } = await setup(t)
  const a = await join('a')
  a.send({ type: 'OFFER', dst: 'x', payload: 1 })
  a.send({ type: 'CANDIDATE', dst: 'x', payload: 2 })
  a.send({ type: 'OFFER', dst: 'y', payload: 3 })
  a.send({ type: 'OFFER', dst: 'not a valid id', payload: 4 })
  await until(() => a.session.queued === 4, 'queued')
  endpoint.sweep(Date.now() + 1000)
  t.equal(a.frames.length, 1, 'nothing expires early')
  endpoint.sweep(Date.now() + endpoint.limits.expireTimeout)
  t.same(a.frames.slice(1), [
    { type: 'EXPIRE', src: 'x', dst: 'a' },
    { type: 'EXPIRE', src: 'y', dst: 'a' },
    { type: 'EXPIRE', src: 'not a valid id', dst: 'a' }
  ])
  t.equal(endpoint.queued, 0)
})

test('the queue is bounded per sender and in all: past a bound the sender gets EXPIRE at once', async (t) => {
  const { join, endpoint } = await setup(t, { queuePerSender: 2, queueTotal: 3 })
  const a = await join('a')
  const b = await join('b')
  a.send({ type: 'OFFER', dst: 'x', payload: 1 })
  a.send({ type: 'OFFER', dst: 'y', payload: 2 })
  await until(() => a.session.queued === 2, 'queued')
  a.send({ type: 'OFFER', dst: 'y', payload: 3 })
  await until(() => a.frames.length === 2, 'EXPIRE')
  t.same(a.frames[1], { type: 'EXPIRE', src: 'y', dst: 'a' })
  t.equal(a.session.queued, 1, 'the messages for y are dropped with it')
  b.send({ type: 'OFFER', dst: 'z', payload: 4 })
  b.send({ type: 'OFFER', dst: 'w', payload: 5 })
  await until(() => endpoint.queued === 3, 'total reached')
  b.send({ type: 'OFFER', dst: 'v', payload: 6 })
  await until(() => b.frames.length === 2, 'EXPIRE past the total')
  t.same(b.frames[1], { type: 'EXPIRE', src: 'v', dst: 'b' })
  t.equal(endpoint.queued, 3)
})

test('every bad frame gets a typed ERROR and the session goes on; HEARTBEAT and EXPIRE get nothing', async (t) => {
  const { join } = await setup(t)
  const a = await join('a')
  const b = await join('b')
  a.session.fromClient(Buffer.from([1, 2, 3]), true)
  for (const frame of ['not json', '[1,2]', 'null', '"text"', '{"dst":"b"}', '{"type":7}', '{"type":"NOPE","dst":"b"}',
    '{"type":"OFFER"}', '{"type":"OFFER","dst":42}', '{"type":"OFFER","dst":""}', '{"type":"HEARTBEAT"}', '{"type":"EXPIRE","dst":"b"}']) {
    a.send(frame)
  }
  const errors = a.frames.slice(1)
  t.same(errors.map((f) => [f.type, f.payload.code]), [
    ...Array(6).fill(['ERROR', 'INVALID_MESSAGE']), ['ERROR', 'INVALID_MESSAGE'], ['ERROR', 'UNKNOWN_TYPE'],
    ...Array(3).fill(['ERROR', 'INVALID_MESSAGE'])
  ])
  t.match(errors[0].payload.msg, /binary/)
  t.match(errors[1].payload.msg, /not valid JSON/)
  t.match(errors[7].payload.msg, /Unknown message type: NOPE/)
  a.send({ type: 'OFFER', dst: 'b', payload: 'still here' })
  await until(() => b.frames.length === 2, 'relayed after the errors')
  t.same(b.frames[1], { type: 'OFFER', src: 'a', dst: 'b', payload: 'still here' })
  t.same(a.closes, [])
})

test('a kick ends the session with ERROR and 4403; the others are told nothing', async (t) => {
  const { join, relay } = await setup(t)
  const a = await join('a')
  const b = await join('b')
  await relay.kick('r1', 'a')
  t.same(a.frames.at(-1), { type: 'ERROR', payload: { msg: 'Removed from the room', code: 'KICKED' } })
  t.same(a.closes, [[4403, 'KICKED']])
  await until(() => relay.localPeerCount === 1, 'a gone')
  t.same(b.frames, [{ type: 'OPEN' }])
})

test('room deletion ends the session with ERROR and 4404', async (t) => {
  const { join, relay } = await setup(t)
  const a = await join('a')
  await relay.closeRoom('r1')
  t.same(a.frames.slice(1), [{ type: 'ERROR', payload: { msg: 'The room was deleted', code: 'ROOM_NOT_FOUND' } }])
  t.same(a.closes, [[4404, 'ROOM_NOT_FOUND']])
})

test('LEAVE without dst ends the session (1000, no ERROR); the end of the socket is a departure', async (t) => {
  const { join, relay, endpoint } = await setup(t)
  const a = await join('a')
  const b = await join('b')
  a.send({ type: 'LEAVE' })
  await until(() => a.closes.length === 1, 'closed')
  t.same(a.closes, [[1000, '']])
  t.same(a.frames, [{ type: 'OPEN' }])
  b.session.end()
  await until(() => relay.localPeerCount === 0, 'both gone')
  t.equal(endpoint.sessions.size, 0)
  b.send({ type: 'OFFER', dst: 'a', payload: 1 })
  t.same(b.frames, [{ type: 'OPEN' }], 'nothing after the end')
})

test('a client silent for aliveTimeout is closed and leaves; any frame keeps it alive', async (t) => {
  const { join, relay, endpoint } = await setup(t)
  const a = await join('a')
  const b = await join('b')
  const later = Date.now() + endpoint.limits.aliveTimeout
  b.session.lastSeen = later
  endpoint.sweep(later)
  t.same(a.closes, [[1005, 'timeout']])
  t.same(b.closes, [])
  await until(() => relay.localPeerCount === 1, 'a gone')
})

test('reclaim digests: the same token gives the same digest under the same secret, and nothing else does', async (t) => {
  const secret = 'test-secret-0123456789abcdef0123456789abcdef'
  const digest = reclaimDigest(secret, 'tok1')
  t.ok(sameDigest(digest, reclaimDigest(secret, 'tok1')))
  t.notOk(sameDigest(digest, reclaimDigest(secret, 'tok2')))
  t.notOk(sameDigest(digest, reclaimDigest(`${secret}x`, 'tok1')))
  t.notOk(sameDigest(digest, 'short'))
  t.notOk(digest.includes('tok1'))
})
