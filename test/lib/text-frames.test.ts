import { execFileSync } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer as createHttpServer, type Server } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { WebSocket, WebSocketServer, type RawData } from 'ws'
import { directSocket, sendText } from '../../lib/text-frames.js'
import { requireProgram } from '../support/programs.js'

// every header size, the lengths at its edges, text that is not ASCII, and a frame too long for a 16-bit length
const FRAMES = [
  '', 'a', 'x'.repeat(125), 'y'.repeat(126), 'z'.repeat(127), 'b'.repeat(255), 'c'.repeat(256),
  `{"type":"offer","data":{"sdp":"${'v=0 '.repeat(900)}"}}`, 'w'.repeat(65_535), 'é', `{"type":"answer","data":"${'ü✓'.repeat(300)}"}`,
  '\ud83d\ude00', 'q'.repeat(65_536), 'r'.repeat(70_000), '\u007f\u0000'
]

interface Pair { server: WebSocket, client: WebSocket, received: Array<{ text: string, isBinary: boolean }> }

/** A ws server on `http` (plain or TLS) and one client connected to it, the client collecting what it receives. */
async function connectPair (t: Test, http: Server, secure: boolean, deflate: boolean): Promise<Pair> {
  const wss = new WebSocketServer({ server: http, perMessageDeflate: deflate })
  http.listen(0, '127.0.0.1')
  await once(http, 'listening')
  const { port } = http.address() as { port: number }
  t.teardown(async () => {
    for (const socket of wss.clients) socket.terminate()
    wss.close()
    await new Promise((resolve) => http.close(resolve))
  })
  const accepted = once(wss, 'connection') as Promise<[WebSocket]>
  const client = new WebSocket(`${secure ? 'wss' : 'ws'}://127.0.0.1:${port}`, { rejectUnauthorized: false, perMessageDeflate: deflate, maxPayload: 1 << 20 })
  const received: Pair['received'] = []
  client.on('message', (data: RawData, isBinary) => received.push({ text: data.toString(), isBinary }))
  const [[server]] = await Promise.all([accepted, once(client, 'open')])
  return { server: server!, client, received }
}

async function receivedAll (t: Test, pair: Pair, count: number): Promise<void> {
  while (pair.received.length < count) await new Promise((resolve) => setTimeout(resolve, 5))
  t.equal(pair.received.length, count)
}

async function checkFrames (t: Test, pair: Pair, direct: boolean): Promise<void> {
  const socket = directSocket(pair.server)
  t.equal(socket !== undefined, direct, direct ? 'frames may be written directly' : 'frames go through ws')
  // interleaved with frames ws sends, pings and a binary frame among them: one order on the wire
  const expected: Pair['received'] = []
  for (const [i, text] of FRAMES.entries()) {
    sendText(pair.server, socket, text)
    expected.push({ text, isBinary: false })
    if (i % 3 === 0) {
      pair.server.ping()
      pair.server.send(`via ws ${i}`)
      expected.push({ text: `via ws ${i}`, isBinary: false })
    }
    if (i === 4) {
      pair.server.send(Buffer.from([1, 2, 3]))
      expected.push({ text: '\u0001\u0002\u0003', isBinary: true })
    }
  }
  await receivedAll(t, pair, expected.length)
  t.same(pair.received.map((r) => r.text.length), expected.map((e) => e.text.length), 'every frame at its length')
  t.same(pair.received, expected, 'every frame, whole and in order')
  // the socket's buffered bytes still count frames written directly (the relay's slow-consumer check reads them)
  pair.client.pause()
  const big = 'p'.repeat(60_000)
  for (let i = 0; i < 100; i++) sendText(pair.server, socket, big)
  t.ok(pair.server.bufferedAmount > 0, `bufferedAmount counts what waits (${pair.server.bufferedAmount})`)
  pair.client.resume()
  await receivedAll(t, pair, expected.length + 100)
  t.ok(pair.received.slice(expected.length).every((r) => r.text === big), 'the frames that waited arrive whole')
}

t.test('text frames over plain TCP are written whole, in order with the frames ws writes', async (t) => {
  await checkFrames(t, await connectPair(t, createHttpServer(), false, false), true)
})

t.test('with permessage-deflate negotiated, every frame goes through ws (and is still delivered in order)', async (t) => {
  const pair = await connectPair(t, createHttpServer(), false, { threshold: 0 } as unknown as boolean)
  t.match(pair.server.extensions, /permessage-deflate/)
  await checkFrames(t, pair, false)
})

t.test('text frames over TLS are written whole, in order with the frames ws writes', async (t) => {
  const openssl = requireProgram(t, 'openssl')
  if (openssl === undefined) return
  const dir = mkdtempSync(join(tmpdir(), 'text-frames-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const cert = join(dir, 'cert.pem')
  const key = join(dir, 'key.pem')
  execFileSync(openssl, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost'], { stdio: 'ignore' })
  const https = createHttpsServer({ cert: readFileSync(cert), key: readFileSync(key) }) as unknown as Server
  await checkFrames(t, await connectPair(t, https, true, false), true)
})

t.test('a socket that ws has not set up yet has nothing to write to directly', async (t) => {
  t.equal(directSocket(Object.assign(Object.create(WebSocket.prototype) as WebSocket, { _extensions: {}, _socket: null })), undefined)
})
