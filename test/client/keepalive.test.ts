// The client's keepalive against the real server: a connection that goes silent without closing (a half-open
// socket after a network change) is dropped by the client, which reconnects and resumes the session.
import { createServer, connect, type Socket } from 'node:net'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import type { Test } from 'tap'
import WebSocket from 'ws'
import { startServer } from '../helper.js'
import { NO_ANSWER, SignallingClient, type CloseEvent, type WebSocketConstructor, type WelcomeMessage } from '../../client/index.js'

/** A TCP proxy whose open connections can be frozen: nothing passes either way, and nothing is closed. */
async function freezingProxy (t: Test, port: number): Promise<{ url: string, freeze: () => void, connections: () => number }> {
  const pairs: Array<[Socket, Socket]> = []
  const server = createServer((socket) => {
    const upstream = connect(port, '127.0.0.1')
    socket.pipe(upstream)
    upstream.pipe(socket)
    for (const [a, b] of [[socket, upstream], [upstream, socket]] as const) {
      a.on('error', () => b.destroy())
      a.on('close', () => b.destroy())
    }
    pairs.push([socket, upstream])
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => {
    for (const pair of pairs) for (const socket of pair) socket.destroy()
    server.close(() => resolve())
  }))
  return {
    url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/ws`,
    freeze () {
      for (const [client, upstream] of pairs) {
        client.unpipe(upstream)
        upstream.unpipe(client)
        client.pause()
        upstream.pause()
      }
    },
    connections: () => pairs.length
  }
}

t.test('a connection gone silent is dropped (4000) and the session resumes with every message it missed', async (t) => {
  const server = await startServer(t, { heartbeatInterval: 0 })
  await server.createRoom({ roomId: 'r' })
  const proxy = await freezingProxy(t, Number(new URL(server.baseUrl).port))
  const { token } = await server.issueToken('r', { peerId: 'alice' })
  const alice = new SignallingClient({
    url: proxy.url,
    token,
    WebSocket: WebSocket as unknown as WebSocketConstructor,
    keepalive: { interval: 300, timeout: 300 },
    reconnect: { initialDelay: 50, maxDelay: 200 }
  })
  t.teardown(async () => { await alice.close() })
  const welcomes: WelcomeMessage[] = []
  const closes: CloseEvent[] = []
  const received: unknown[] = []
  alice.on('welcome', (welcome) => welcomes.push(welcome))
  alice.on('close', (event) => closes.push(event))
  alice.on('message', ({ data }) => received.push(data))
  await alice.connect()
  const bob = await server.join('r', 'bob')
  bob.send({ type: 'message', to: 'alice', data: 'before' })
  while (received.length < 1) await new Promise((resolve) => setTimeout(resolve, 20))

  proxy.freeze()
  // delivered by the server into the frozen connection: kept for a resume
  for (const data of ['during 1', 'during 2', 'during 3']) bob.send({ type: 'message', to: 'alice', data })
  const frozenAt = Date.now()
  const deadline = Date.now() + 30_000
  while (welcomes.length < 2 || received.length < 4) {
    if (Date.now() > deadline) throw new Error(`no resume: ${JSON.stringify({ closes, welcomes: welcomes.length, received })}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  t.comment(`resumed ${Date.now() - frozenAt} ms after the connection froze (keepalive 300 + 300 ms)`)
  t.same(closes, [{ code: NO_ANSWER, reason: 'no answer from the server', willReconnect: true }], 'the client dropped the silent socket itself')
  t.equal(welcomes[1]?.resumed, true, 'the session resumed')
  t.equal(proxy.connections(), 2, 'over a new connection')
  t.same(received, ['before', 'during 1', 'during 2', 'during 3'], 'every message once, in order')
  await bob.settle()
  t.same(bob.received, [], 'bob saw no peer-left or peer-joined')
  t.equal(alice.state, 'open')
})

t.test('a quiet connection pings every interval; keepalive: false sends no ping', async (t) => {
  const server = await startServer(t, { heartbeatInterval: 0 })
  await server.createRoom({ roomId: 'r' })
  const clients: Array<{ client: SignallingClient, pongs: number }> = []
  for (const [peerId, keepalive] of [['quiet', { interval: 200, timeout: 5000 }], ['off', false]] as const) {
    const { token } = await server.issueToken('r', { peerId })
    const client = new SignallingClient({ url: server.wsUrl, token, WebSocket: WebSocket as unknown as WebSocketConstructor, keepalive })
    t.teardown(async () => { await client.close() })
    const entry = { client, pongs: 0 }
    client.on('pong', () => { entry.pongs++ })
    await client.connect()
    clients.push(entry)
  }
  const [quiet, off] = clients as [{ client: SignallingClient, pongs: number }, { client: SignallingClient, pongs: number }]
  const startedAt = Date.now()
  // each pong starts the next quiet interval: three in a row, well before the 5 s timeout could run out once
  while (quiet.pongs < 3) {
    if (Date.now() - startedAt > 30_000) throw new Error(`only ${quiet.pongs} pongs`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  t.comment(`3 pongs in ${Date.now() - startedAt} ms with a 200 ms interval`)
  t.equal(off.pongs, 0, 'keepalive: false sends no ping')
  t.equal(quiet.client.state, 'open', 'the quiet client stays connected')
  t.equal(off.client.state, 'open')
})
