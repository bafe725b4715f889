// The PeerJS endpoint on the wire, through a real server: its HTTP routes, every message type and refusal of the
// protocol, and our rules (rooms, kicks, origin, frame size, metrics) applied to PeerJS clients.
import t from 'tap'
import { startServer, TEST_API_KEY, upgradeStatus, type TestServer } from '../helper.js'
import { PeerjsWire } from '../support/peerjs-wire.js'
import type { AppOptions } from '../../app.js'

const auth = { authorization: `Bearer ${TEST_API_KEY}` }

async function server (options: Partial<AppOptions> = {}): Promise<TestServer & { pj: string }> {
  const started = await startServer(t, { peerjs: true, ...options })
  return { ...started, pj: `${started.wsUrl.slice(0, -'/ws'.length)}/peerjs` }
}

t.test('off by default: no PeerJS routes', async (t) => {
  const s = await startServer(t)
  t.equal((await fetch(`${s.baseUrl}/peerjs/peerjs/id`)).status, 404)
  t.equal((await upgradeStatus(`${s.wsUrl.slice(0, -3)}/peerjs/peerjs?key=peerjs&id=a&token=t`)).status, 404)
})

t.test('GET {path}/{key}/id answers a fresh id as text; /peers is 401 without discovery; other paths 404', async (t) => {
  const s = await server()
  const res = await fetch(`${s.baseUrl}/peerjs/peerjs/id?ts=123&version=1.5.5`, { headers: { origin: 'http://app.example' } })
  t.equal(res.status, 200)
  t.match(res.headers.get('content-type'), /^text\/html/)
  t.equal(res.headers.get('access-control-allow-origin'), 'http://app.example', 'CORS as the reference server')
  const id = await res.text()
  t.match(id, /^[0-9a-f-]{36}$/)
  t.not(await (await fetch(`${s.baseUrl}/peerjs/peerjs/id`)).text(), id)
  const peers = await fetch(`${s.baseUrl}/peerjs/peerjs/peers`)
  t.equal(peers.status, 401)
  t.equal((await peers.json()).code, 'UNAUTHORIZED')
  t.equal((await fetch(`${s.baseUrl}/peerjs/peerjs/nope`)).status, 404)
  t.equal((await fetch(`${s.baseUrl}/peerjs/id`)).status, 404)
  t.equal((await fetch(`${s.baseUrl}/peerjs/wrong/id`)).status, 401, 'a key other than the configured one')
})

t.test('with discovery, /peers lists the ids of the key\'s room', async (t) => {
  const s = await server({ peerjs: { discovery: true } })
  t.same(await (await fetch(`${s.baseUrl}/peerjs/peerjs/peers`)).json(), [])
  const a = await PeerjsWire.open(t, s.pj, { key: 'peerjs', id: 'alice', token: 't1' })
  await a.next('OPEN')
  t.same(await (await fetch(`${s.baseUrl}/peerjs/peerjs/peers`)).json(), ['alice'])
})

t.test('OPEN, then every relayed type both ways with src set by the server; HEARTBEAT answered by nothing', async (t) => {
  const s = await server()
  const a = await PeerjsWire.open(t, s.pj, { key: 'peerjs', id: 'alice', token: 't1' })
  const b = await PeerjsWire.open(t, s.pj, { key: 'peerjs', id: 'bob', token: 't2' })
  t.same(await a.next('OPEN'), { type: 'OPEN' })
  await b.next('OPEN')
  const offer = { type: 'data', sdp: { type: 'offer', sdp: 'v=0\r\n' }, connectionId: 'dc_x', label: 'dc_x', serialization: 'binary', reliable: true, metadata: { n: 1 } }
  a.send({ type: 'OFFER', dst: 'bob', src: 'mallory', payload: offer })
  t.same(await b.next('OFFER'), { type: 'OFFER', src: 'alice', dst: 'bob', payload: offer })
  b.send({ type: 'ANSWER', dst: 'alice', payload: { sdp: { type: 'answer', sdp: 'v=0' }, connectionId: 'dc_x' } })
  t.same(await a.next('ANSWER'), { type: 'ANSWER', src: 'bob', dst: 'alice', payload: { sdp: { type: 'answer', sdp: 'v=0' }, connectionId: 'dc_x' } })
  b.send({ type: 'CANDIDATE', dst: 'alice', payload: { candidate: { candidate: 'candidate:1', sdpMid: '0' }, connectionId: 'dc_x' } })
  t.same(await a.next('CANDIDATE'), { type: 'CANDIDATE', src: 'bob', dst: 'alice', payload: { candidate: { candidate: 'candidate:1', sdpMid: '0' }, connectionId: 'dc_x' } })
  a.send({ type: 'HEARTBEAT' })
  a.send({ type: 'LEAVE', dst: 'bob' })
  t.same(await b.next('LEAVE'), { type: 'LEAVE', src: 'alice', dst: 'bob' })
  t.same(a.frames, [], 'HEARTBEAT got nothing')
  // presence, metrics and the room are ours
  const room = await s.app.signalling.room('peerjs')
  t.same(room.peers.map((p) => p.peerId).sort(), ['alice', 'bob'])
  const metrics = await (await fetch(`${s.baseUrl}/metrics`)).text()
  t.match(metrics, /signalling_messages_relayed_total\{type="offer"\} 1/)
  t.match(metrics, /signalling_messages_relayed_total\{type="bye"\} 1/)
})

t.test('a message for a peer not connected yet waits, reaches it when it connects, or expires with EXPIRE', async (t) => {
  const s = await server({ peerjs: { expireTimeout: 300 } })
  const a = await PeerjsWire.open(t, s.pj, { key: 'peerjs', id: 'alice', token: 't1' })
  await a.next('OPEN')
  a.send({ type: 'OFFER', dst: 'carol', payload: { n: 1 } })
  a.send({ type: 'CANDIDATE', dst: 'carol', payload: { n: 2 } })
  const c = await PeerjsWire.open(t, s.pj, { key: 'peerjs', id: 'carol', token: 't3' })
  await c.next('OPEN')
  t.same((await c.next('OFFER')).payload, { n: 1 })
  t.same((await c.next('CANDIDATE')).payload, { n: 2 })
  a.send({ type: 'OFFER', dst: 'dave', payload: {} })
  t.same(await a.next('EXPIRE'), { type: 'EXPIRE', src: 'dave', dst: 'alice' })
})

t.test('refusals inside the socket as the reference server sends them: missing parameters, wrong key, invalid id, ID-TAKEN', async (t) => {
  const s = await server()
  for (const [query, msg] of [
    [{ key: 'peerjs', id: 'a' }, 'No id, token, or key supplied to websocket server'],
    [{ key: 'peerjs', token: 't' }, 'No id, token, or key supplied to websocket server'],
    [{ key: 'other', id: 'a', token: 't' }, 'Invalid key provided'],
    [{ key: 'peerjs', id: 'has%20space', token: 't' }, 'ID "has space" is invalid here: 1 to 64 of A-Z a-z 0-9 _ -']
  ] as const) {
    const wire = await PeerjsWire.open(t, s.pj, query)
    t.equal((await wire.next('ERROR')).payload.msg, msg)
    await wire.closed
  }
  const first = await PeerjsWire.open(t, s.pj, { key: 'peerjs', id: 'alice', token: 'mine' })
  await first.next('OPEN')
  const second = await PeerjsWire.open(t, s.pj, { key: 'peerjs', id: 'alice', token: 'yours' })
  t.same(await second.next('ID-TAKEN'), { type: 'ID-TAKEN', payload: { msg: 'ID is taken' } })
  await second.closed
  t.equal(first.socket.readyState, first.socket.OPEN, 'the holder keeps its id')
  const metrics = await (await fetch(`${s.baseUrl}/metrics`)).text()
  t.match(metrics, /signalling_upgrades_rejected_total\{reason="id_taken"\} 1/)
})

t.test('the same id with the same token takes the id over (a reload); the old socket is told and closed', async (t) => {
  const s = await server()
  const old = await PeerjsWire.open(t, s.pj, { key: 'peerjs', id: 'alice', token: 'mine' })
  await old.next('OPEN')
  const bob = await PeerjsWire.open(t, s.pj, { key: 'peerjs', id: 'bob', token: 'b' })
  await bob.next('OPEN')
  const reloaded = await PeerjsWire.open(t, s.pj, { key: 'peerjs', id: 'alice', token: 'mine' })
  await reloaded.next('OPEN')
  t.equal((await old.next('ERROR')).payload.code, 'REPLACED')
  t.equal((await old.closed).code, 4409)
  bob.send({ type: 'OFFER', dst: 'alice', payload: 'to the new one' })
  t.equal((await reloaded.next('OFFER')).payload, 'to the new one')
})

t.test('rules of ours: a kick and a room deletion close PeerJS sockets; frames over 64 KiB close with 1009; origins', async (t) => {
  const s = await server({ allowedOrigins: ['http://good.example'] })
  const a = await PeerjsWire.open(t, s.pj, { key: 'peerjs', id: 'alice', token: 't' })
  await a.next('OPEN')
  t.equal((await s.app.inject({ method: 'DELETE', url: '/rooms/peerjs/peers/alice', headers: auth })).statusCode, 204)
  t.same(await a.next('ERROR'), { type: 'ERROR', payload: { msg: 'Removed from the room', code: 'KICKED' } })
  t.equal((await a.closed).code, 4403)
  await new Promise((resolve) => setTimeout(resolve, 1100)) // a kick refuses tokens of its own second
  const b = await PeerjsWire.open(t, s.pj, { key: 'peerjs', id: 'bob', token: 't' })
  await b.next('OPEN')
  t.equal((await s.app.inject({ method: 'DELETE', url: '/rooms/peerjs', headers: auth })).statusCode, 204)
  t.equal((await b.next('ERROR')).payload.code, 'ROOM_NOT_FOUND')
  t.equal((await b.closed).code, 4404)
  const c = await PeerjsWire.open(t, s.pj, { key: 'peerjs', id: 'carol', token: 't' })
  await c.next('OPEN')
  t.ok(await s.app.signalling.room('peerjs'), 'the room is created again on demand')
  c.send(JSON.stringify({ type: 'OFFER', dst: 'x', payload: 'x'.repeat(70_000) }))
  t.equal((await c.closed).code, 1009)
  const refused = await upgradeStatus(`${s.pj}/peerjs?key=peerjs&id=d&token=t`, { headers: { origin: 'http://evil.example' } })
  t.equal(refused.status, 403)
  t.equal(JSON.parse(refused.body).code, 'ORIGIN_NOT_ALLOWED')
  t.equal((await upgradeStatus(`${s.pj}/peerjs?key=peerjs&id=d&token=t`, { headers: { origin: 'http://good.example' } })).status, 101)
})

t.test('a full room and, with rooms: existing, a missing room are ERROR inside the socket', async (t) => {
  const s = await server({ peerjs: { rooms: 'existing' }, roomDefaults: { maxPeers: 2 } })
  const none = await PeerjsWire.open(t, s.pj, { key: 'peerjs', id: 'a', token: 't' })
  t.same(await none.next('ERROR'), { type: 'ERROR', payload: { msg: 'Room peerjs not found', code: 'ROOM_NOT_FOUND' } })
  await s.createRoom({ roomId: 'peerjs' })
  for (const id of ['a', 'b']) await (await PeerjsWire.open(t, s.pj, { key: 'peerjs', id, token: id })).next('OPEN')
  const third = await PeerjsWire.open(t, s.pj, { key: 'peerjs', id: 'c', token: 'c' })
  const error = await third.next('ERROR')
  t.equal(error.payload.code, 'ROOM_FULL')
  t.match(error.payload.msg, /^Server has reached its concurrent user limit/)
})

t.test('malformed frames: a typed ERROR each, never a crash; the session goes on', async (t) => {
  const s = await server()
  const a = await PeerjsWire.open(t, s.pj, { key: 'peerjs', id: 'alice', token: 't' })
  const b = await PeerjsWire.open(t, s.pj, { key: 'peerjs', id: 'bob', token: 't' })
  await a.next('OPEN')
  await b.next('OPEN')
  a.socket.send(Buffer.from([0xff, 0x00]), { binary: true })
  for (const frame of ['{', '[]', '42', '{"type":null}', '{"type":"WHAT"}', '{"type":"OFFER","payload":{}}', '{"type":"ANSWER","dst":{"x":1}}']) a.send(frame)
  const codes: string[] = []
  for (let i = 0; i < 8; i++) codes.push((await a.next('ERROR')).payload.code)
  t.same(codes, ['INVALID_MESSAGE', 'INVALID_MESSAGE', 'INVALID_MESSAGE', 'INVALID_MESSAGE', 'INVALID_MESSAGE', 'UNKNOWN_TYPE', 'INVALID_MESSAGE', 'INVALID_MESSAGE'])
  a.send({ type: 'OFFER', dst: 'bob', payload: 'ok' })
  t.equal((await b.next('OFFER')).payload, 'ok')
})

t.test('token mode: a join token as the key (longer than a route parameter may be) or as the token', async (t) => {
  const s = await server({ peerjs: { mode: 'token' } })
  await s.createRoom({ roomId: 'call' })
  const { token } = await s.issueToken('call', { peerId: 'alice', metadata: { name: 'A'.repeat(100) } })
  t.ok(token.length > 200)
  const id = await fetch(`${s.baseUrl}/peerjs/${token}/id?ts=1`)
  t.equal(id.status, 200)
  t.equal(await id.text(), 'alice', 'the id the token names')
  t.equal((await fetch(`${s.baseUrl}/peerjs/peerjs/id`)).status, 401, 'no token, no id')
  const a = await PeerjsWire.open(t, s.pj, { key: token, id: 'alice', token: 'random1' })
  await a.next('OPEN')
  const bob = await s.issueToken('call', { peerId: 'bob' })
  const b = await PeerjsWire.open(t, s.pj, { key: 'peerjs', id: 'bob', token: bob.token })
  await b.next('OPEN')
  b.send({ type: 'OFFER', dst: 'alice', payload: 1 })
  t.same(await a.next('OFFER'), { type: 'OFFER', src: 'bob', dst: 'alice', payload: 1 })
  t.same((await s.app.signalling.room('call')).peers.find((p) => p.peerId === 'alice')?.metadata.name, 'A'.repeat(100), 'the token\'s metadata')

  const wrong = await PeerjsWire.open(t, s.pj, { key: `${token.slice(0, -2)}xx`, id: 'alice', token: 'r' })
  t.match((await wrong.next('ERROR')).payload, { msg: /^Invalid token provided/, code: 'UNAUTHORIZED' })
  await wrong.closed
  const none = await PeerjsWire.open(t, s.pj, { key: 'peerjs', id: 'alice', token: 'r' })
  t.match((await none.next('ERROR')).payload, { msg: /^Invalid token provided/, code: 'UNAUTHORIZED' })
  const otherId = await PeerjsWire.open(t, s.pj, { key: bob.token, id: 'mallory', token: 'r' })
  t.same((await otherId.next('ERROR')).payload, { msg: 'Invalid token provided: it is for id "bob"', code: 'UNAUTHORIZED' })
  const taken = await PeerjsWire.open(t, s.pj, { key: token, id: 'alice', token: 'random2' })
  await taken.next('ID-TAKEN')
  t.equal(a.socket.readyState, a.socket.OPEN)
})

t.test('under a plugin prefix, with the host\'s own @fastify/websocket too', async (t) => {
  const s = await startServer(t, { peerjs: { path: '/rtc' }, prefix: '/signalling' })
  const base = `${s.wsUrl.slice(0, -'/ws'.length)}/signalling/rtc`
  t.equal((await fetch(`${s.baseUrl}/signalling/rtc/peerjs/id`)).status, 200)
  const a = await PeerjsWire.open(t, base, { key: 'peerjs', id: 'alice', token: 't' })
  await a.next('OPEN')

  const { default: Fastify } = await import('fastify')
  const { default: websocket } = await import('@fastify/websocket')
  const { default: signalling } = await import('../../index.js')
  const host = Fastify()
  t.teardown(async () => { await host.close() })
  await host.register(websocket)
  await host.register(signalling, { jwtSecret: 'test-secret-0123456789abcdef0123456789abcdef', apiKey: 'k', peerjs: true })
  await host.listen({ host: '127.0.0.1', port: 0 })
  const port = (host.server.address() as { port: number }).port
  const b = await PeerjsWire.open(t, `ws://127.0.0.1:${port}/peerjs`, { key: 'peerjs', id: 'bob', token: 't' })
  await b.next('OPEN')
})

t.test('bad plugin options fail the registration with a message naming the option', async (t) => {
  const { buildApp } = await import('../../app.js')
  for (const [peerjs, message] of [
    [{ path: '/' }, /^peerjs\.path must look like \/peerjs/],
    [{ path: 'peerjs' }, /^peerjs\.path/],
    [{ mode: 'closed' }, /^peerjs\.mode must be 'open' or 'token'/],
    [{ key: 'a b' }, /^peerjs\.key names a room/],
    [{ rooms: 'some' }, /^peerjs\.rooms/],
    [{ expireTimeout: 10 }, /^peerjs\.expireTimeout must be an integer from 100 to 600000, got 10/],
    [{ queue: { perSender: -1 } }, /^peerjs\.queue\.perSender/]
  ] as const) {
    await t.rejects(buildApp({ jwtSecret: 'test-secret-0123456789abcdef0123456789abcdef', apiKey: 'k', peerjs: peerjs as never }), { message }, JSON.stringify(peerjs))
  }
})

t.test('a join token never reaches the logs, in the path of /{key}/id nor in the socket\'s query', async (t) => {
  const { Writable } = await import('node:stream')
  const lines: string[] = []
  const stream = new Writable({ write (chunk: Buffer, _enc, done) { lines.push(chunk.toString()); done() } })
  const s = await server({ peerjs: { mode: 'token' }, logger: { level: 'trace', stream } })
  await s.createRoom({ roomId: 'call' })
  const { token } = await s.issueToken('call', { peerId: 'alice' })
  t.equal(await (await fetch(`${s.baseUrl}/peerjs/${token}/id?ts=1`)).text(), 'alice')
  const short = token.slice(0, 90)
  t.equal((await fetch(`${s.baseUrl}/peerjs/${short}/id`)).status, 401, 'a key short enough for the parameter route')
  const a = await PeerjsWire.open(t, s.pj, { key: token, id: 'alice', token: 'r' })
  await a.next('OPEN')
  const logged = lines.join('')
  t.match(logged, /\/peerjs\/\[key\]\/id/)
  t.notOk(logged.includes(token.split('.')[1]!), 'no part of the token in the logs')
  t.notOk(logged.includes(short), 'nor of a shorter key')
})
