// Embedding the plugin in a host app: prefix, the decorator, the host's own auth, coexisting plugins.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { connect } from 'node:net'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import Fastify from 'fastify'
import jwt from '@fastify/jwt'
import websocket from '@fastify/websocket'
import signalling, { type ErrorCode } from '../index.js'
import { TEST_SECRET, TestPeer } from './helper.js'

async function host (t: Test, options: Record<string, unknown> = {}) {
  const app = Fastify()
  t.teardown(async () => { await app.close() })
  return { app, options: { jwtSecret: TEST_SECRET, apiKey: 'k', ...options } }
}

t.test('the decorator manages rooms and tokens in code', async (t) => {
  const { app, options } = await host(t)
  await app.register(signalling, options)
  await app.ready()
  const room = await app.signalling.createRoom({ roomId: 'code', maxPeers: 3, metadata: { by: 'host' } })
  t.match(room, { roomId: 'code', maxPeers: 3, emptyTimeout: 300, metadata: { by: 'host' }, peerCount: 0 })
  const generated = await app.signalling.createRoom()
  t.match(generated.roomId, /^[A-Za-z0-9_-]+$/)
  t.same((await app.signalling.rooms()).map((r) => r.roomId).sort(), [generated.roomId, 'code'].sort())
  const token = await app.signalling.issueToken('code', { peerId: 'p1', ttl: 30, metadata: { name: 'P' } })
  t.match(app.signalling.verifyToken(token.token), { sub: 'p1', room: 'code', metadata: { name: 'P' } })
  t.same(await app.signalling.room('code'), { ...room, peers: [] })
  await app.signalling.deleteRoom('code')
  t.same((await app.signalling.rooms()).map((r) => r.roomId), [generated.roomId])
})

t.test('the decorator throws typed errors with the REST codes', async (t) => {
  const { app, options } = await host(t)
  await app.register(signalling, options)
  await app.ready()
  await app.signalling.createRoom({ roomId: 'x' })
  const cases: Array<[string, () => Promise<unknown>, ErrorCode, number]> = [
    ['duplicate room', async () => await app.signalling.createRoom({ roomId: 'x' }), 'ROOM_EXISTS', 409],
    ['bad maxPeers', async () => await app.signalling.createRoom({ maxPeers: 0 }), 'INVALID_REQUEST', 400],
    ['unknown field', async () => await app.signalling.createRoom({ nope: 1 } as never), 'INVALID_REQUEST', 400],
    ['big metadata', async () => await app.signalling.createRoom({ metadata: { x: 'y'.repeat(5000) } }), 'INVALID_REQUEST', 400],
    ['token for missing room', async () => await app.signalling.issueToken('none'), 'ROOM_NOT_FOUND', 404],
    ['bad ttl', async () => await app.signalling.issueToken('x', { ttl: 1 }), 'INVALID_REQUEST', 400],
    ['missing room', async () => await app.signalling.room('none'), 'ROOM_NOT_FOUND', 404],
    ['delete missing room', async () => await app.signalling.deleteRoom('none'), 'ROOM_NOT_FOUND', 404],
    ['kick missing peer', async () => await app.signalling.kick('x', 'p'), 'PEER_NOT_FOUND', 404]
  ]
  for (const [name, call, code, statusCode] of cases) {
    await t.rejects(call(), { code, statusCode }, name)
  }
  t.throws(() => app.signalling.verifyToken('garbage'), { code: 'UNAUTHORIZED', statusCode: 401 })
})

t.test('routes live under the prefix, next to the host app\'s own @fastify/jwt and @fastify/websocket', async (t) => {
  const { app, options } = await host(t, { prefix: '/signalling' })
  await app.register(jwt, { secret: 'the-host-apps-own-secret-0000000000' })
  await app.register(websocket)
  app.get('/host', async () => ({ token: app.jwt.sign({ user: 1 }) }))
  await app.register(signalling, options)
  await app.listen({ host: '127.0.0.1', port: 0 })
  const port = (app.server.address() as { port: number }).port
  const hostToken = (await app.inject({ url: '/host' })).json().token
  t.same(app.jwt.verify(hostToken), { user: 1, iat: (app.jwt.decode(hostToken) as { iat: number }).iat }, 'the host app\'s jwt is untouched')
  t.equal((await app.inject({ method: 'POST', url: '/rooms', headers: { authorization: 'Bearer k' } })).statusCode, 404, 'nothing outside the prefix')
  const created = await app.inject({ method: 'POST', url: '/signalling/rooms', headers: { authorization: 'Bearer k' }, payload: { roomId: 'p' } })
  t.equal(created.statusCode, 201)
  const { token } = await app.signalling.issueToken('p', { peerId: 'a' })
  const peer = await TestPeer.connect(t, `ws://127.0.0.1:${port}/signalling/ws?token=${token}`)
  t.match(await peer.next('welcome'), { peerId: 'a', roomId: 'p' })
  // the host's @fastify/websocket keeps ws's 100 MiB limit; the relay still refuses a frame over 64 KiB in bytes
  // (about 30,000 characters, 90,000 bytes)
  const frame = JSON.stringify({ type: 'message', data: '€'.repeat(30_000) })
  t.ok(frame.length < 64 * 1024 && Buffer.byteLength(frame) > 64 * 1024)
  peer.socket.send(frame)
  t.equal((await peer.closed).code, 1009, 'closed with 1009')
})

/** Sends a WebSocket upgrade request for `path` on a raw socket; what came back once the server closed it. */
async function rawUpgrade (port: number, path: string): Promise<string> {
  const socket = connect(port, '127.0.0.1')
  socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
    'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n')
  let answer = ''
  socket.on('data', (chunk: Buffer) => { answer += chunk.toString() })
  return await new Promise((resolve, reject) => {
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`the server kept the socket open after: ${answer}`)) }, 5000)
    socket.on('close', () => { clearTimeout(timer); resolve(answer) })
  })
}

t.test('the plugin\'s @fastify/websocket stays in its scope: host routes answer upgrades over HTTP and close', async (t) => {
  const { app, options } = await host(t, { prefix: '/signalling' })
  app.get('/host', async (request) => ({ ws: (request as { ws?: unknown }).ws ?? 'none' }))
  await app.register(signalling, options)
  await app.listen({ host: '127.0.0.1', port: 0 })
  const port = (app.server.address() as { port: number }).port
  t.same((await app.inject({ url: '/host' })).json(), { ws: 'none' }, 'no `ws` on the host\'s requests: its hooks are not theirs')
  t.ok(app.hasDecorator('websocketServer') && typeof app.injectWS === 'function', 'the host carries its server and injectWS')
  t.match(await rawUpgrade(port, '/host'), /^HTTP\/1\.1 200 [^]*\r\n\r\n\{"ws":"none"\}$/, 'a host route answers an upgrade as a GET')
  t.match(await rawUpgrade(port, '/nowhere'), /^HTTP\/1\.1 404 /, 'an unknown path: 404')
  t.match(await rawUpgrade(port, '/signalling/ws'), /^HTTP\/1\.1 401 [^]*"code":"UNAUTHORIZED"/, 'the plugin\'s /ws without a token: 401')
  await app.signalling.createRoom({ roomId: 'r' })
  const { token } = await app.signalling.issueToken('r', { peerId: 'a' })
  const peer = await TestPeer.connect(t, `ws://127.0.0.1:${port}/signalling/ws?token=${token}`)
  t.match(await peer.next('welcome'), { peerId: 'a', roomId: 'r' })
})

t.test('a host registering @fastify/websocket after the plugin fails to start, naming the decorator', async (t) => {
  // the plugin's websocketServer is the host's: a second one is refused by Fastify, which throws in the plugin's
  // loading (an uncaught exception: Fastify's way with a callback plugin), so this runs in a process of its own
  const script = `
    import Fastify from 'fastify'
    import websocket from '@fastify/websocket'
    import signalling from './dist/index.js'
    const app = Fastify()
    await app.register(signalling, { jwtSecret: '${TEST_SECRET}', apiKey: 'k' })
    await app.register(websocket)
    await app.ready()
    console.log('started')`
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: fileURLToPath(new URL('..', import.meta.url)), stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const [code] = await once(child, 'exit') as [number]
  t.not(code, 0, 'the process failed')
  t.match(output, /FST_ERR_DEC_ALREADY_PRESENT/)
  t.match(output, /The decorator 'websocketServer' has already been added/)
  t.notMatch(output, /started/)
})

t.test('a host @fastify/websocket with a large maxPayload or compression is reported in the log', async (t) => {
  const lines: string[] = []
  const app = Fastify({ logger: { level: 'warn', stream: { write: (line: string) => { lines.push(line) } } } })
  t.teardown(async () => { await app.close() })
  await app.register(websocket, { options: { perMessageDeflate: true } })
  await app.register(signalling, { jwtSecret: TEST_SECRET, apiKey: 'k' })
  await app.ready()
  t.match(lines.join(''), /register the signalling plugin first/)
})

t.test('a host @fastify/websocket that skips UTF-8 validation: invalid bytes are relayed as U+FFFD, in valid UTF-8', async (t) => {
  const { app, options } = await host(t)
  await app.register(websocket, { options: { skipUTF8Validation: true } })
  await app.register(signalling, options)
  await app.listen({ host: '127.0.0.1', port: 0 })
  const port = (app.server.address() as { port: number }).port
  await app.signalling.createRoom({ roomId: 'r' })
  const connect = async (peerId: string) => {
    const { token } = await app.signalling.issueToken('r', { peerId })
    const peer = await TestPeer.connect(t, `ws://127.0.0.1:${port}/ws?token=${token}`)
    await peer.next('welcome')
    return peer
  }
  const a = await connect('a')
  const b = await connect('b')
  await a.next('peer-joined')
  // one invalid byte decodes to one U+FFFD: as many characters as bytes, as in an ASCII frame
  for (const bytes of [[0x80], [0xff, 0x41], [0xc3]]) {
    a.socket.send(Buffer.concat([Buffer.from('{"type":"message","to":"b","data":"'), Buffer.from(bytes), Buffer.from('"}')]), { binary: false })
    t.same(await b.next('message'), { type: 'message', from: 'a', data: Buffer.from(bytes).toString() }, `bytes ${bytes.join(' ')}`)
  }
  t.equal(b.socket.readyState, b.socket.OPEN, 'the receiver took every frame as valid UTF-8')
})

t.test('`authorize` replaces the API-key check with the host app\'s own', async (t) => {
  const { app } = await host(t)
  await app.register(signalling, {
    jwtSecret: TEST_SECRET,
    authorize: (request) => request.headers['x-role'] === 'admin'
  })
  await app.ready()
  t.equal((await app.inject({ method: 'GET', url: '/rooms', headers: { 'x-role': 'admin' } })).statusCode, 200)
  const refused = await app.inject({ method: 'GET', url: '/rooms', headers: { 'x-role': 'guest' } })
  t.equal(refused.statusCode, 401)
  t.equal(refused.json().code, 'UNAUTHORIZED')
})

t.test('registering without a secret or an API key, or with a short secret, fails with a clear message', async (t) => {
  const noSecret = Fastify()
  t.teardown(async () => { await noSecret.close() })
  await t.rejects(async () => { await noSecret.register(signalling, { apiKey: 'k' } as never).ready() }, /`jwtSecret` is required/)
  const noKey = Fastify()
  t.teardown(async () => { await noKey.close() })
  await t.rejects(async () => { await noKey.register(signalling, { jwtSecret: TEST_SECRET }).ready() }, /`apiKey` is required unless `authorize` is given/)
  const shortSecret = Fastify()
  t.teardown(async () => { await shortSecret.close() })
  await t.rejects(async () => { await shortSecret.register(signalling, { jwtSecret: 'x'.repeat(31), apiKey: 'k' }).ready() }, /`jwtSecret` must be at least 32 bytes/)
})

t.test('registering with an unreachable Redis fails with a clear message', async (t) => {
  const app = Fastify()
  t.teardown(async () => { await app.close() })
  await t.rejects(async () => {
    await app.register(signalling, { jwtSecret: TEST_SECRET, apiKey: 'k', redis: { url: 'redis://127.0.0.1:1', connectTimeout: 1500 } })
    await app.ready()
  }, /cannot connect to Redis/)
})
