import t from 'tap'
import { startServer } from '../helper.js'

t.test('welcome lists the peers already in the room; the others get peer-joined', async (t) => {
  const server = await startServer(t)
  await server.createRoom({ roomId: 'r1' })
  const alice = await server.join('r1', 'alice', { name: 'Alice' })
  t.match(alice.welcome, { type: 'welcome', peerId: 'alice', roomId: 'r1', peers: [], iceServers: [], resumed: false, resumeToken: String })
  t.same(Object.keys(alice.welcome!).sort(), ['iceServers', 'peerId', 'peers', 'resumeToken', 'resumed', 'roomId', 'type'])
  const bob = await server.join('r1', 'bob', { name: 'Bob' })
  t.match(bob.welcome, { type: 'welcome', peerId: 'bob', roomId: 'r1', peers: [{ peerId: 'alice', metadata: { name: 'Alice' } }], iceServers: [], resumed: false })
  t.same(bob.welcome?.peers, [{ peerId: 'alice', metadata: { name: 'Alice' } }])
  t.same(await alice.next(), { type: 'peer-joined', peer: { peerId: 'bob', metadata: { name: 'Bob' } } })
})

t.test('offer, answer, candidate, bye and message reach their target with data unchanged and from set by the server', async (t) => {
  const server = await startServer(t)
  await server.createRoom({ roomId: 'r' })
  const alice = await server.join('r', 'alice')
  const bob = await server.join('r', 'bob')
  await alice.next('peer-joined')
  const line = 'a=candidate:1 1 udp 2122260223 192.0.2.1 54400 typ host generation 0 ufrag EsAw network-id 1 network-cost 10 x'
  const sdp = 'v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n' + `${line}\r\n`.repeat(560)
  t.ok(sdp.length > 60 * 1024 && sdp.length < 63 * 1024, 'a 60 KiB SDP')
  const payloads: Array<[string, unknown]> = [
    ['offer', { type: 'offer', sdp }],
    ['answer', { type: 'answer', sdp: 'v=0 — ünïcødé ✓ 🎥 \u2028 "quoted" \\ back' }],
    ['candidate', { candidate: 'candidate:1 1 udp 1 192.0.2.1 1 typ host', sdpMid: '0', sdpMLineIndex: 0, nested: [null, true, 1.5e-7, { deep: [[[]]] }] }],
    ['bye', { reason: 'hang up' }],
    ['message', 'plain string']
  ]
  for (const [type, data] of payloads) {
    alice.send({ type, to: 'bob', data, from: 'mallory', extra: 'dropped', id: 7 })
    const got = await bob.next(type)
    t.same(got, { type, from: 'alice', data }, `${type}: only type, from and data, data deep-equal`)
    t.equal(JSON.stringify(got.data), JSON.stringify(data), `${type}: data byte-for-byte after a JSON round trip`)
  }
  for (const [type, data] of payloads) {
    // the client SDK's form ({type, to, data} in this order) takes the path that relays `data` as sent
    alice.send({ type, to: 'bob', data })
    t.same(await bob.next(type), { type, from: 'alice', data }, `${type} in the SDK's form: the same frame`)
  }
  const raw = new Promise<string>((resolve) => { bob.socket.once('message', (frame) => { resolve(frame.toString()) }) })
  alice.send('{"type":"candidate","to":"bob","data":{ "n" : 1.50, "s":"\\u00e9" }}')
  t.match(await raw, /^\{"type":"candidate","from":"alice","data":\{ "n" : 1\.50, "s":"\\u00e9" \},"seq":\d+\}$/, 'data relayed byte for byte')
  t.same(await bob.next('candidate'), { type: 'candidate', from: 'alice', data: { n: 1.5, s: 'é' } })
  bob.send({ type: 'bye', to: 'alice' })
  t.same(await alice.next('bye'), { type: 'bye', from: 'bob' }, 'bye without data')
  await alice.settle()
  t.same(alice.received, [], 'the sender gets no echo and no error')
})

t.test('message without `to` goes to every other peer of the room', async (t) => {
  const server = await startServer(t)
  await server.createRoom({ roomId: 'r' })
  const a = await server.join('r', 'a')
  const b = await server.join('r', 'b')
  const c = await server.join('r', 'c')
  a.send({ type: 'message', data: { hello: 'all' } })
  t.same(await b.next('message'), { type: 'message', from: 'a', data: { hello: 'all' } })
  t.same(await c.next('message'), { type: 'message', from: 'a', data: { hello: 'all' } })
  await a.settle()
  t.notOk(a.received.some((m) => m.type === 'message'), 'the sender does not get its own broadcast')
})

t.test('PEER_NOT_FOUND for an unknown peer or oneself, with the id echoed, delivered to nobody', async (t) => {
  const server = await startServer(t)
  await server.createRoom({ roomId: 'r' })
  const a = await server.join('r', 'a')
  const b = await server.join('r', 'b')
  a.send({ type: 'offer', to: 'nobody', data: {}, id: 'req-1' })
  t.same(await a.next('error'), { type: 'error', code: 'PEER_NOT_FOUND', message: 'Peer nobody not found', id: 'req-1' })
  a.send({ type: 'message', to: 'a', data: 'me', id: 2 })
  t.same(await a.next('error'), { type: 'error', code: 'PEER_NOT_FOUND', message: 'Peer a not found', id: 2 })
  await b.settle()
  t.same(b.received.filter((m) => m.type !== 'peer-joined'), [], 'b got nothing')
})

t.test('every kind of invalid message gets a typed error and the socket stays usable', async (t) => {
  const server = await startServer(t)
  await server.createRoom({ roomId: 'r' })
  const a = await server.join('r', 'a')
  const b = await server.join('r', 'b')
  const cases: Array<[string, string | Buffer, string, (string | number)?]> = [
    ['not JSON', '{"type":', 'INVALID_MESSAGE'],
    ['a JSON string', '"offer"', 'INVALID_MESSAGE'],
    ['a JSON array', '[{"type":"offer"}]', 'INVALID_MESSAGE'],
    ['null', 'null', 'INVALID_MESSAGE'],
    ['missing type', '{"to":"b","data":1,"id":"m1"}', 'INVALID_MESSAGE', 'm1'],
    ['type not a string', '{"type":5,"to":"b","data":1}', 'INVALID_MESSAGE'],
    ['unknown type', '{"type":"shout","data":1,"id":3}', 'UNKNOWN_TYPE', 3],
    ['missing to', '{"type":"offer","data":1,"id":"x"}', 'INVALID_MESSAGE', 'x'],
    ['missing data', '{"type":"answer","to":"b"}', 'INVALID_MESSAGE'],
    ['to not a string', '{"type":"candidate","to":42,"data":1}', 'INVALID_MESSAGE'],
    ['to outside the pattern', '{"type":"candidate","to":"b c","data":1}', 'INVALID_MESSAGE'],
    ['id too long', `{"type":"ping","id":"${'x'.repeat(65)}"}`, 'INVALID_MESSAGE'],
    ['id a float', '{"type":"ping","id":1.5}', 'INVALID_MESSAGE'],
    ['a binary frame', Buffer.from('{"type":"ping"}'), 'INVALID_MESSAGE']
  ]
  for (const [name, frame, code, id] of cases) {
    a.socket.send(frame)
    const error = await a.next('error')
    t.equal(error.code, code, name)
    t.equal(typeof error.message, 'string', `${name}: a message`)
    t.equal(error.id, id, `${name}: id echoed when valid`)
  }
  a.send({ type: 'offer', to: 'b', data: 'still works' })
  t.same(await b.next('offer'), { type: 'offer', from: 'a', data: 'still works' })
  await b.settle()
  t.same(b.received.filter((m) => m.type !== 'peer-joined'), [], 'none of the invalid messages reached b')
})

t.test('ping is answered by pong', async (t) => {
  const server = await startServer(t)
  await server.createRoom({ roomId: 'r' })
  const a = await server.join('r', 'a')
  a.send({ type: 'ping' })
  t.same(await a.next(), { type: 'pong' })
})

t.test('nothing crosses between rooms, even with the same peer ids', async (t) => {
  const server = await startServer(t)
  await server.createRoom({ roomId: 'one' })
  await server.createRoom({ roomId: 'two' })
  const a1 = await server.join('one', 'a')
  const b1 = await server.join('one', 'b')
  const a2 = await server.join('two', 'a')
  const b2 = await server.join('two', 'b')
  a1.send({ type: 'offer', to: 'b', data: 'room one' })
  a1.send({ type: 'message', data: 'broadcast one' })
  a2.send({ type: 'offer', to: 'b', data: 'room two' })
  t.same(await b1.next('offer'), { type: 'offer', from: 'a', data: 'room one' })
  t.same(await b1.next('message'), { type: 'message', from: 'a', data: 'broadcast one' })
  t.same(await b2.next('offer'), { type: 'offer', from: 'a', data: 'room two' })
  await b1.settle()
  await b2.settle()
  t.same(b1.received.filter((m) => m.type !== 'peer-joined'), [])
  t.same(b2.received.filter((m) => m.type !== 'peer-joined'), [], 'room two saw nothing of room one')
})

t.test('a frame over 64 KiB closes the socket with 1009', async (t) => {
  const server = await startServer(t)
  await server.createRoom({ roomId: 'r' })
  const a = await server.join('r', 'a')
  const b = await server.join('r', 'b')
  a.send({ type: 'offer', to: 'b', data: 'x'.repeat(65 * 1024) })
  t.equal((await a.closed).code, 1009)
  t.same(await b.next('peer-left'), { type: 'peer-left', peerId: 'a', reason: 'disconnected' })
})
