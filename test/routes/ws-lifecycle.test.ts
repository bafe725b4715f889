import t from 'tap'
import { once } from 'node:events'
import { connect, Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import WebSocket from 'ws'
import { startServer, TEST_API_KEY, TestPeer, upgradeStatus } from '../helper.js'

const auth = { authorization: `Bearer ${TEST_API_KEY}` }

t.test('leave: the socket closes with 1000 and the others get peer-left (left)', async (t) => {
  const server = await startServer(t)
  await server.createRoom({ roomId: 'r' })
  const a = await server.join('r', 'a')
  const b = await server.join('r', 'b')
  a.send({ type: 'leave' })
  t.equal((await a.closed).code, 1000)
  t.same(await b.next('peer-left'), { type: 'peer-left', peerId: 'a', reason: 'left' })
  t.equal((await server.app.signalling.room('r')).peerCount, 1)
})

t.test('a socket that closes without leave is reported peer-left (disconnected)', async (t) => {
  const server = await startServer(t)
  await server.createRoom({ roomId: 'r' })
  const a = await server.join('r', 'a')
  const b = await server.join('r', 'b')
  a.socket.close(1001)
  t.same(await b.next('peer-left'), { type: 'peer-left', peerId: 'a', reason: 'disconnected' })
})

t.test('a dropped connection (no close frame) is reported peer-left (disconnected) when its grace period ends', async (t) => {
  const server = await startServer(t, { resume: { grace: 300 } })
  await server.createRoom({ roomId: 'r' })
  const a = await server.join('r', 'a')
  const b = await server.join('r', 'b')
  a.socket.terminate()
  await b.settle()
  t.notOk(b.received.some((m) => m.type === 'peer-left'), 'not during the grace period')
  t.same(await b.next('peer-left', 3000), { type: 'peer-left', peerId: 'a', reason: 'disconnected' })
  t.equal((await server.app.signalling.room('r')).peerCount, 1)
})

t.test('a second connection with the same peerId replaces the first (4409, peer-left replaced, peer-joined)', async (t) => {
  const server = await startServer(t)
  await server.createRoom({ roomId: 'r' })
  const first = await server.join('r', 'a', { v: 1 })
  const b = await server.join('r', 'b')
  const second = await server.join('r', 'a', { v: 2 })
  t.same(second.welcome?.peers, [{ peerId: 'b', metadata: {} }], 'the new connection sees the others, not itself')
  t.same(await first.closed, { code: 4409, reason: 'replaced' })
  t.same(await b.next(), { type: 'peer-left', peerId: 'a', reason: 'replaced' })
  t.same(await b.next(), { type: 'peer-joined', peer: { peerId: 'a', metadata: { v: 2 } } })
  b.send({ type: 'message', to: 'a', data: 'to the new one' })
  t.same(await second.next('message'), { type: 'message', from: 'b', data: 'to the new one' })
  await b.settle()
  t.notOk(b.received.some((m) => m.type === 'peer-left'), 'the old socket closing reports nothing more')
  t.equal((await server.app.signalling.room('r')).peerCount, 2)
})

t.test('kick: the peer is closed with 4403 and the others get peer-left (kicked)', async (t) => {
  const server = await startServer(t)
  await server.createRoom({ roomId: 'r' })
  const a = await server.join('r', 'a')
  const b = await server.join('r', 'b')
  const res = await server.app.inject({ method: 'DELETE', url: '/rooms/r/peers/a', headers: auth })
  t.equal(res.statusCode, 204)
  t.same(await a.closed, { code: 4403, reason: 'kicked' })
  t.same(await b.next('peer-left'), { type: 'peer-left', peerId: 'a', reason: 'kicked' })
  await b.settle()
  t.equal(b.received.filter((m) => m.type === 'peer-left').length, 0, 'reported once')
})

t.test('a kicked peer cannot come back with the token it held; a token issued after the kick admits it', async (t) => {
  const server = await startServer(t)
  await server.createRoom({ roomId: 'r' })
  const { token } = await server.issueToken('r', { peerId: 'a' })
  const a = await TestPeer.connect(t, `${server.wsUrl}?token=${token}`)
  const welcome = await a.next('welcome')
  t.equal((await server.app.inject({ method: 'DELETE', url: '/rooms/r/peers/a', headers: auth })).statusCode, 204)
  t.same(await a.closed, { code: 4403, reason: 'kicked' })
  const again = await upgradeStatus(`${server.wsUrl}?token=${token}`)
  t.equal(again.status, 401, 'the old join token is refused')
  t.match(JSON.parse(again.body), { code: 'UNAUTHORIZED', message: /removed from the room/ })
  const resume = await upgradeStatus(`${server.wsUrl}?token=${welcome.resumeToken}&lastSeq=0`)
  t.equal(resume.status, 401, 'so is its resume token')
  // tokens carry whole seconds: one issued in the second of the kick still counts as issued before it
  const kickedSecond = Math.floor(Date.now() / 1000)
  while (Math.floor(Date.now() / 1000) === kickedSecond) await new Promise((resolve) => setTimeout(resolve, 50))
  const fresh = await server.issueToken('r', { peerId: 'a' })
  const back = await TestPeer.connect(t, `${server.wsUrl}?token=${fresh.token}`)
  t.match(await back.next('welcome'), { peerId: 'a', resumed: false })
})

t.test('deleting a room sends room-closed to every peer, then closes them with 4404', async (t) => {
  const server = await startServer(t)
  await server.createRoom({ roomId: 'r' })
  const a = await server.join('r', 'a')
  const b = await server.join('r', 'b')
  await a.next('peer-joined')
  const res = await server.app.inject({ method: 'DELETE', url: '/rooms/r', headers: auth })
  t.equal(res.statusCode, 204)
  for (const peer of [a, b]) {
    t.same(await peer.next(), { type: 'room-closed', roomId: 'r' })
    t.same(await peer.closed, { code: 4404, reason: 'room closed' })
    t.same(peer.received, [], 'no peer-left churn')
  }
  t.equal((await server.app.inject({ method: 'GET', url: '/rooms/r', headers: auth })).statusCode, 404)
})

t.test('a peer that misses a heartbeat pong is dropped and reported peer-left (timeout)', async (t) => {
  const server = await startServer(t, { heartbeatInterval: 150 })
  await server.createRoom({ roomId: 'r' })
  const b = await server.join('r', 'b')
  const { token } = await server.issueToken('r', { peerId: 'silent' })
  // autoPong off: this client never answers the server's pings, like a half-open connection
  const silent = await TestPeer.connect(t, `${server.wsUrl}?token=${token}`, { autoPong: false })
  await silent.next('welcome')
  t.same(await b.next('peer-left', 5000), { type: 'peer-left', peerId: 'silent', reason: 'timeout' })
  t.equal((await silent.closed).code, 1006, 'terminated without a close frame')
  await sleep(400)
  t.equal(b.socket.readyState, WebSocket.OPEN, 'a peer that answers pings stays connected')
})

t.test('a peer that never answers pings but keeps sending frames is not dropped', async (t) => {
  const server = await startServer(t, { heartbeatInterval: 150 })
  await server.createRoom({ roomId: 'r' })
  const b = await server.join('r', 'b')
  const { token } = await server.issueToken('r', { peerId: 'chatty' })
  const chatty = await TestPeer.connect(t, `${server.wsUrl}?token=${token}`, { autoPong: false })
  await chatty.next('welcome')
  // a frame every 100 ms, over six heartbeat intervals: each interval hears from the peer
  for (let i = 0; i < 9; i++) {
    chatty.send({ type: 'message', to: 'b', data: i })
    await sleep(100)
  }
  t.equal(chatty.socket.readyState, WebSocket.OPEN)
  t.same((await b.next('message')).data, 0)
  t.notOk(b.received.some((m) => m.type === 'peer-left'), 'no peer-left')
  // silent from now on: dropped as any half-open peer
  t.same(await b.next('peer-left', 5000), { type: 'peer-left', peerId: 'chatty', reason: 'timeout' })
})

t.test('an empty room is deleted emptyTimeout seconds after its last peer left', async (t) => {
  const server = await startServer(t)
  await server.createRoom({ roomId: 'brief', emptyTimeout: 1 })
  const a = await server.join('brief', 'a')
  await sleep(1300)
  t.equal((await server.app.signalling.room('brief')).peerCount, 1, 'a room with a peer is kept past its timeout')
  a.send({ type: 'leave' })
  await a.closed
  await sleep(300)
  t.equal((await server.app.inject({ method: 'GET', url: '/rooms/brief', headers: auth })).statusCode, 200, 'kept during the timeout')
  await sleep(1200)
  t.equal((await server.app.inject({ method: 'GET', url: '/rooms/brief', headers: auth })).statusCode, 404, 'deleted after it')
})

t.test('a room nobody joins is deleted after its emptyTimeout too', async (t) => {
  const server = await startServer(t)
  await server.createRoom({ roomId: 'unused', emptyTimeout: 1 })
  await sleep(1500)
  t.equal((await server.app.inject({ method: 'GET', url: '/rooms/unused', headers: auth })).statusCode, 404)
})

t.test('frames sent right after the upgrade, before welcome, are processed in order', async (t) => {
  const server = await startServer(t)
  await server.createRoom({ roomId: 'r' })
  const b = await server.join('r', 'b')
  const { token } = await server.issueToken('r', { peerId: 'eager' })
  const socket = new WebSocket(`${server.wsUrl}?token=${token}`)
  t.teardown(() => socket.terminate())
  socket.on('open', () => {
    for (let i = 0; i < 5; i++) socket.send(JSON.stringify({ type: 'message', to: 'b', data: i }))
  })
  await b.next('peer-joined')
  for (let i = 0; i < 5; i++) t.same(await b.next('message'), { type: 'message', from: 'eager', data: i })
})

/** An upgrade request as a client writes it on a bare TCP socket. */
function upgradeRequest (path: string, version = 13): string {
  return `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: ${version}\r\n\r\n`
}

t.test('the 101 answer and welcome reach the client in one piece; a refused join still gets its error and close', async (t) => {
  const server = await startServer(t)
  await server.createRoom({ roomId: 'r' })
  const { port } = new URL(server.baseUrl)
  /** Upgrades over a bare TCP socket and returns the chunks read until the server closes. */
  const rawUpgrade = async (path: string): Promise<Buffer[]> => {
    const socket = connect({ host: '127.0.0.1', port: Number(port) })
    await once(socket, 'connect')
    socket.write(upgradeRequest(path))
    const chunks: Buffer[] = []
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk)
      // leave once welcome came, and answer the server's close frame (its opcode byte appears nowhere else here)
      if (chunk.includes('"type":"welcome"')) socket.write(Buffer.from([0x81, 0x90, 0, 0, 0, 0, ...Buffer.from('{"type":"leave"}')]))
      if (chunk.includes(0x88)) socket.end(Buffer.from([0x88, 0x80, 0, 0, 0, 0]))
    })
    t.teardown(() => socket.destroy())
    await once(socket, 'close')
    return chunks
  }
  // what the server's sockets hand to the kernel, write by write (a writev is one write)
  const writes: string[] = []
  const text = (chunk: string | Buffer, encoding?: BufferEncoding): string => typeof chunk === 'string' ? Buffer.from(chunk, encoding).toString('latin1') : chunk.toString('latin1')
  const proto = Socket.prototype as unknown as {
    _write: (chunk: Buffer | string, encoding: BufferEncoding, cb: () => void) => void
    _writev: (chunks: Array<{ chunk: Buffer | string, encoding: BufferEncoding }>, cb: () => void) => void
  }
  const { _write, _writev } = proto
  // a socket accepted by a server points at it: the client's own writes are left out
  const accepted = (socket: Socket): boolean => (socket as Socket & { server?: unknown }).server != null
  proto._write = function (this: Socket, chunk, encoding, cb) {
    if (accepted(this)) writes.push(text(chunk, encoding))
    _write.call(this, chunk, encoding, cb)
  }
  proto._writev = function (this: Socket, chunks, cb) {
    if (accepted(this)) writes.push(chunks.map((c) => text(c.chunk, c.encoding)).join(''))
    _writev.call(this, chunks, cb)
  }
  t.teardown(() => Object.assign(proto, { _write, _writev }))
  const { token } = await server.issueToken('r', { peerId: 'a' })
  const joined = await rawUpgrade(`/ws?token=${token}`)
  t.match(writes[0], /^HTTP\/1\.1 101 [^]*\r\n\r\n\x81[^]{1,3}\{"type":"welcome"/, 'one write: the 101 answer, then the welcome frame')
  t.match(Buffer.concat(joined).toString('latin1'), /^HTTP\/1\.1 101 [^]*\{"type":"welcome"[^]*\x88\x06\x03\xe8left$/, 'welcome, then the close frame of the leave')

  // a resume token for a session this node never had: the upgrade succeeds, then SESSION_EXPIRED and 4410 follow
  const resumeToken = String(joined.map((c) => c.toString('latin1')).join('').match(/"resumeToken":"([^"]+)"/)?.[1])
  const refused = Buffer.concat(await rawUpgrade(`/ws?token=${resumeToken}&lastSeq=5`)).toString('latin1')
  t.match(refused, /^HTTP\/1\.1 101 [^]*"code":"SESSION_EXPIRED"/)
  t.match(refused, /\x88.\x11\x3aSESSION_EXPIRED$/, 'the close frame with 4410')
})

t.test('an upgrade ws itself refuses after the hooks (bad Sec-WebSocket-Version) still gets its 400 through the corked socket', async (t) => {
  const server = await startServer(t)
  await server.createRoom({ roomId: 'r' })
  const { token } = await server.issueToken('r', { peerId: 'a' })
  const socket = connect({ host: '127.0.0.1', port: Number(new URL(server.baseUrl).port) })
  t.teardown(() => socket.destroy())
  await once(socket, 'connect')
  socket.write(upgradeRequest(`/ws?token=${token}`, 99))
  let answer = ''
  socket.on('data', (chunk: Buffer) => { answer += chunk.toString('latin1') })
  await once(socket, 'close')
  t.match(answer, /^HTTP\/1\.1 400 Bad Request\r\n[^]*Missing or invalid Sec-WebSocket-Version header$/)
})
