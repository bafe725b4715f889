import t from 'tap'
import type { AddressInfo } from 'node:net'
import { Writable } from 'node:stream'
import Fastify from 'fastify'
import signalling from '../index.js'
import { startServer, TEST_SECRET, TestPeer, upgradeStatus } from './helper.js'

t.test('no join token and no SDP ever appears in a log line, even at trace level', async (t) => {
  const lines: string[] = []
  const stream = new Writable({ write (chunk: Buffer, _enc, done) { lines.push(chunk.toString()); done() } })
  const server = await startServer(t, { logger: { level: 'trace', stream } })
  await server.createRoom({ roomId: 'r' })
  const a = await server.issueToken('r', { peerId: 'a' })
  const b = await server.issueToken('r', { peerId: 'b' })
  const alice = await TestPeer.connect(t, `${server.wsUrl}?token=${a.token}`)
  const bob = await TestPeer.connect(t, server.wsUrl, { headers: { authorization: `Bearer ${b.token}` } })
  await alice.next('welcome')
  await bob.next('welcome')
  const sdp = 'v=0\r\no=- 1234567890 2 IN IP4 127.0.0.1\r\ns=very-secret-session\r\n'
  alice.send({ type: 'offer', to: 'b', data: { type: 'offer', sdp } })
  await bob.next('offer')
  const rejected = await upgradeStatus(`${server.wsUrl}?token=${a.token}x`)
  t.equal(rejected.status, 401)
  alice.socket.close()
  await alice.closed
  await bob.next('peer-left')
  const log = lines.join('')
  t.ok(lines.length > 5, `captured ${lines.length} log lines`)
  t.match(log, /"url":"\/ws\?\[redacted\]"/, 'the /ws request is logged with its query redacted')
  for (const [name, secret] of [['token a', a.token], ['token b', b.token], ['token signature', a.token.split('.')[2]!], ['SDP', 'very-secret-session']] as const) {
    t.notOk(log.includes(secret), `${name} is not in the logs`)
  }
})

t.test('a host app with its own logger: the plugin\'s routes log their requests with the query redacted', async (t) => {
  const lines: string[] = []
  const stream = new Writable({ write (chunk: Buffer, _enc, done) { lines.push(chunk.toString()); done() } })
  const app = Fastify({ logger: { level: 'info', stream } })
  t.teardown(async () => { await app.close() })
  await app.register(signalling, { jwtSecret: TEST_SECRET, apiKey: 'k', prefix: '/signalling' })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as AddressInfo
  await app.signalling.createRoom({ roomId: 'r' })
  const { token } = await app.signalling.issueToken('r', { peerId: 'a' })
  const peer = await TestPeer.connect(t, `ws://127.0.0.1:${port}/signalling/ws?token=${token}`)
  await peer.next('welcome')
  const ice = await fetch(`http://127.0.0.1:${port}/signalling/ice-servers?token=${token}`)
  t.equal(ice.status, 200)
  t.equal((await upgradeStatus(`ws://127.0.0.1:${port}/signalling/ws?token=${token}x`)).status, 401)
  peer.socket.close()
  await peer.closed
  const log = lines.join('')
  t.match(log, /"url":"\/signalling\/ws\?\[redacted\]"/, 'the upgrade is logged, redacted')
  t.match(log, /"url":"\/signalling\/ice-servers\?\[redacted\]"/, 'GET /ice-servers is logged, redacted')
  t.notOk(log.includes(token.split('.')[2]!), 'the token is not in the host app\'s logs')
})
