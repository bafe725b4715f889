// Our rules applied to y-webrtc clients as to /ws peers: rooms required to exist, room limits, the per-peer rate limit,
// origins, kicks, room deletion, draining, and the token mode's join tokens.
import t from 'tap'
import { startServer, TEST_API_KEY, upgradeStatus, type TestServer } from '../helper.js'
import { YWebrtcWire } from '../support/y-webrtc-wire.js'
import type { AppOptions } from '../../app.js'

const auth = { authorization: `Bearer ${TEST_API_KEY}` }

async function server (options: Partial<AppOptions> = {}): Promise<TestServer & { yjs: string }> {
  const started = await startServer(t, { yWebrtc: true, ...options })
  return { ...started, yjs: `${started.wsUrl.slice(0, -'/ws'.length)}/yjs` }
}

async function peerIds (s: TestServer, roomId: string): Promise<string[]> {
  return (await s.app.signalling.room(roomId)).peers.map((peer) => peer.peerId).sort()
}

t.test('rooms: existing: a topic without its room is refused ROOM_NOT_FOUND; once created, it is served', async (t) => {
  const s = await server({ yWebrtc: { rooms: 'existing' } })
  const a = await YWebrtcWire.open(t, s.yjs)
  a.send({ type: 'subscribe', topics: ['doc'] })
  t.same(await a.next('error'), { type: 'error', code: 'ROOM_NOT_FOUND', message: 'Room doc not found', topic: 'doc' })
  a.send({ type: 'publish', topic: 'doc', data: 1 })
  t.equal((await a.next('error')).message, 'Invalid message: subscribe to the topic before publishing to it', 'the refused topic is not subscribed')
  await s.createRoom({ roomId: 'doc' })
  await a.subscribe('doc')
  t.equal((await peerIds(s, 'doc')).length, 1)
})

t.test('a full room refuses the next subscriber ROOM_FULL, counted in the metrics', async (t) => {
  const s = await server()
  await s.createRoom({ roomId: 'small', maxPeers: 2 })
  const a = await YWebrtcWire.open(t, s.yjs)
  const b = await YWebrtcWire.open(t, s.yjs)
  await a.subscribe('small')
  await (await YWebrtcWire.open(t, s.yjs)).subscribe('small')
  b.send({ type: 'subscribe', topics: ['small'] })
  t.same(await b.next('error'), { type: 'error', code: 'ROOM_FULL', message: 'Room small is full', topic: 'small' })
  const metrics = await (await fetch(`${s.baseUrl}/metrics`)).text()
  t.match(metrics, /signalling_limit_refusals_total\{limit="room_full"\} 1/)
})

t.test('the per-peer rate limit: a publish over it is refused RATE_LIMITED, delivered to nobody, not echoed', async (t) => {
  const s = await server({ messageRate: { perSecond: 1, burst: 3, abuseSeconds: 60 } })
  const a = await YWebrtcWire.open(t, s.yjs)
  const b = await YWebrtcWire.open(t, s.yjs)
  await a.subscribe('doc')
  await b.subscribe('doc')
  for (let i = 0; i < 5; i++) a.send({ type: 'publish', topic: 'doc', data: i })
  const error = await a.next('error')
  t.match(error, { type: 'error', code: 'RATE_LIMITED', topic: 'doc' })
  await a.settle()
  const echoed = a.frames.filter((frame) => frame.type === 'publish').length
  await new Promise((resolve) => setTimeout(resolve, 100))
  const delivered = b.frames.filter((frame) => frame.type === 'publish').length
  t.equal(echoed, delivered, 'the sender saw exactly what the others got')
  t.ok(delivered < 5)
})

t.test('origins: an upgrade from an origin not allowed is refused 403 before the socket opens', async (t) => {
  const s = await server({ allowedOrigins: ['http://good.example'] })
  const refused = await upgradeStatus(s.yjs, { headers: { origin: 'http://evil.example' } })
  t.equal(refused.status, 403)
  t.equal(JSON.parse(refused.body).code, 'ORIGIN_NOT_ALLOWED')
  t.equal((await upgradeStatus(s.yjs, { headers: { origin: 'http://good.example' } })).status, 101)
  const metrics = await (await fetch(`${s.baseUrl}/metrics`)).text()
  t.match(metrics, /signalling_upgrades_rejected_total\{reason="origin"\} 1/)
})

t.test('a kick ends the subscription (KICKED); a room deletion too (ROOM_NOT_FOUND); the connection stays', async (t) => {
  const s = await server()
  const a = await YWebrtcWire.open(t, s.yjs)
  const b = await YWebrtcWire.open(t, s.yjs)
  await a.subscribe('doc')
  const [peerA] = await peerIds(s, 'doc')
  await b.subscribe('doc')
  t.equal((await s.app.inject({ method: 'DELETE', url: `/rooms/doc/peers/${peerA!}`, headers: auth })).statusCode, 204)
  t.same(await a.next('error'), { type: 'error', code: 'KICKED', message: 'Removed from the room', topic: 'doc' })
  t.notOk((await peerIds(s, 'doc')).includes(peerA!))
  b.send({ type: 'publish', topic: 'doc', data: 'after the kick' })
  t.equal((await b.next('publish')).clients, 1, 'the others count one subscriber less')
  await a.settle()
  t.same(a.frames, [], 'nothing more of the topic for the kicked connection')

  t.equal((await s.app.inject({ method: 'DELETE', url: '/rooms/doc', headers: auth })).statusCode, 204)
  t.same(await b.next('error'), { type: 'error', code: 'ROOM_NOT_FOUND', message: 'The room was deleted', topic: 'doc' })
  await b.settle()
  await b.subscribe('doc')
  t.equal((await peerIds(s, 'doc')).length, 1, 'subscribing again creates the room again')
})

t.test('draining: connections are closed with 1012, and new upgrades refused 503', async (t) => {
  const s = await server()
  const a = await YWebrtcWire.open(t, s.yjs)
  await a.subscribe('doc')
  const drained = s.app.signalling.relay.drain(200)
  t.same(await a.next('error'), { type: 'error', code: 'SERVICE_UNAVAILABLE', message: 'Service unavailable: the server is restarting; connect again', topic: 'doc' })
  t.equal((await a.closed).code, 1012)
  await drained
  t.equal((await upgradeStatus(s.yjs)).status, 503)
})

t.test('token mode: the token is checked before the upgrade; it allows its room alone, under its peer id', async (t) => {
  const s = await server({ yWebrtc: { mode: 'token' } })
  t.equal((await upgradeStatus(s.yjs)).status, 401, 'no token')
  t.equal((await upgradeStatus(`${s.yjs}?token=not.a.token`)).status, 401, 'a bad token')
  await s.createRoom({ roomId: 'doc' })
  await s.createRoom({ roomId: 'other' })
  const { token } = await s.issueToken('doc', { peerId: 'alice' })
  const a = await YWebrtcWire.open(t, `${s.yjs}?token=${token}`)
  a.send({ type: 'subscribe', topics: ['other'] })
  t.same(await a.next('error'), { type: 'error', code: 'UNAUTHORIZED', message: 'Unauthorized: the join token allows topic doc alone', topic: 'other' })
  await a.subscribe('doc')
  t.same(await peerIds(s, 'doc'), ['alice'], 'the token\'s peer id')
  t.same(await peerIds(s, 'other'), [])

  // a kick ends the subscription, and the token held no longer subscribes
  t.equal((await s.app.inject({ method: 'DELETE', url: '/rooms/doc/peers/alice', headers: auth })).statusCode, 204)
  t.equal((await a.next('error')).code, 'KICKED')
  a.send({ type: 'subscribe', topics: ['doc'] })
  t.match(await a.next('error'), { code: 'UNAUTHORIZED', topic: 'doc', message: /removed from the room/ })
  t.equal((await upgradeStatus(`${s.yjs}?token=${token}`)).status, 401, 'nor opens a connection')
})

t.test('token mode: the room\'s limits before the upgrade; a second connection with the token replaces the first', async (t) => {
  const s = await server({ yWebrtc: { mode: 'token', rooms: 'existing' } })
  await s.createRoom({ roomId: 'small', maxPeers: 2 })
  const first = (await s.issueToken('small', { peerId: 'alice' })).token
  const a = await YWebrtcWire.open(t, `${s.yjs}?token=${first}`)
  await a.subscribe('small')
  await (await YWebrtcWire.open(t, `${s.yjs}?token=${(await s.issueToken('small', { peerId: 'carol' })).token}`)).subscribe('small')
  t.equal((await upgradeStatus(`${s.yjs}?token=${(await s.issueToken('small', { peerId: 'bob' })).token}`)).status, 403, 'the room is full')
  const again = await YWebrtcWire.open(t, `${s.yjs}?token=${first}`)
  await again.subscribe('small')
  t.same(await a.next('error'), { type: 'error', code: 'REPLACED', message: 'The peer id was taken over by a new connection with the same token', topic: 'small' })
  t.same(await peerIds(s, 'small'), ['alice', 'carol'])
  t.equal((await s.app.inject({ method: 'DELETE', url: '/rooms/small', headers: auth })).statusCode, 204)
  t.equal((await upgradeStatus(`${s.yjs}?token=${first}`)).status, 404, 'with rooms: existing, a token of a deleted room is refused 404')
})
