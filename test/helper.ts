// Test helpers: build the real app, listen on a free port, and talk to it with real `ws` clients.
import { once } from 'node:events'
import type { Test } from 'tap'
import WebSocket from 'ws'
import type { FastifyInstance } from 'fastify'
import { buildApp, type AppOptions } from '../app.js'
import type { ServerMessage } from '../lib/protocol.js'
import type { Room, TokenReply } from '../lib/schemas.js'

export const TEST_SECRET = 'test-secret-0123456789abcdef0123456789abcdef'
export const TEST_API_KEY = 'test-api-key'

export interface TestServer {
  app: FastifyInstance
  baseUrl: string
  wsUrl: string
  apiKey: string
  createRoom: (body?: object) => Promise<Room>
  issueToken: (roomId: string, body?: object) => Promise<TokenReply>
  /** A room and a connected peer per peerId, each past its `welcome`. */
  join: (roomId: string, peerId: string, metadata?: Record<string, unknown>) => Promise<TestPeer>
}

/** Builds the app without listening, for `inject` and `injectWS`. */
export async function buildTestApp (t: Test, options: Partial<AppOptions> = {}): Promise<FastifyInstance> {
  const app = await buildApp({ jwtSecret: TEST_SECRET, apiKey: TEST_API_KEY, logger: false, ...options })
  t.teardown(async () => { await app.close() })
  await app.ready()
  return app
}

/** Builds the app and listens on 127.0.0.1 on a free port; closed in teardown. */
export async function startServer (t: Test, options: Partial<AppOptions> = {}): Promise<TestServer> {
  const app = await buildTestApp(t, options)
  await app.listen({ host: '127.0.0.1', port: 0 })
  const address = app.server.address()
  if (address === null || typeof address === 'string') throw new Error('no TCP address')
  const scheme = options.https === undefined ? 'http' : 'https'
  const baseUrl = `${scheme}://127.0.0.1:${address.port}`
  const wsUrl = `${scheme === 'https' ? 'wss' : 'ws'}://127.0.0.1:${address.port}/ws`
  const api = async <T>(method: string, path: string, body?: object): Promise<T> => {
    const res = await app.inject({ method: method as 'POST', url: path, headers: { authorization: `Bearer ${TEST_API_KEY}` }, payload: body })
    if (res.statusCode >= 300) throw new Error(`${method} ${path}: ${res.statusCode} ${res.body}`)
    return res.json()
  }
  const server: TestServer = {
    app,
    baseUrl,
    wsUrl,
    apiKey: TEST_API_KEY,
    createRoom: async (body = {}) => await api<Room>('POST', '/rooms', body),
    issueToken: async (roomId, body = {}) => await api<TokenReply>('POST', `/rooms/${roomId}/tokens`, body),
    async join (roomId, peerId, metadata) {
      const { token } = await server.issueToken(roomId, metadata === undefined ? { peerId } : { peerId, metadata })
      const peer = await TestPeer.connect(t, `${wsUrl}?token=${token}`)
      const welcome = await peer.next('welcome')
      peer.welcome = welcome
      return peer
    }
  }
  return server
}

type Message = ServerMessage & Record<string, unknown>

/** A real `ws` client that queues what it receives, so tests can await messages in order. */
export class TestPeer {
  readonly received: Message[] = []
  welcome: Message | undefined
  /** The last `seq` received, and every place where one did not follow the previous. */
  lastSeq = 0
  readonly seqGaps: Array<[number, number]> = []
  readonly closed: Promise<{ code: number, reason: string }>
  #waiters: Array<() => void> = []

  private constructor (readonly socket: WebSocket) {
    socket.on('message', (data) => {
      // `seq` is checked by the resume tests; elsewhere messages are compared without it
      const { seq, ...message } = JSON.parse(data.toString()) as Message & { seq?: number }
      if (seq !== undefined) {
        if (seq !== this.lastSeq + 1) this.seqGaps.push([this.lastSeq, seq])
        this.lastSeq = seq
      }
      this.received.push(message as Message)
      for (const wake of this.#waiters.splice(0)) wake()
    })
    this.closed = new Promise((resolve) => {
      socket.on('close', (code, reason) => {
        resolve({ code, reason: reason.toString() })
        for (const wake of this.#waiters.splice(0)) wake()
      })
    })
  }

  /** `lastSeq`: where a resumed session's numbering stands, so that gaps are checked from there. */
  static async connect (t: Test, url: string, options: WebSocket.ClientOptions = {}, lastSeq = 0): Promise<TestPeer> {
    const socket = new WebSocket(url, options)
    const peer = new TestPeer(socket)
    peer.lastSeq = lastSeq
    t.teardown(() => { socket.terminate() })
    await once(socket, 'open')
    return peer
  }

  send (message: unknown): void {
    this.socket.send(typeof message === 'string' ? message : JSON.stringify(message))
  }

  /** The next unread message (of `type`, skipping others), within `timeout` ms. */
  async next (type?: string, timeout = 5000): Promise<Message> {
    const deadline = Date.now() + timeout
    for (;;) {
      const index = this.received.findIndex((m) => type === undefined || m.type === type)
      if (index !== -1) return this.received.splice(index, 1)[0]!
      if (this.socket.readyState === WebSocket.CLOSED) throw new Error(`socket closed while waiting for ${type ?? 'a message'}`)
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`no ${type ?? 'message'} within ${timeout} ms; have ${JSON.stringify(this.received)}`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        this.#waiters.push(() => { clearTimeout(timer); resolve() })
      })
    }
  }

  /** Resolves after a ping/pong round trip, so that everything sent earlier by the server has arrived. */
  async settle (): Promise<void> {
    this.send({ type: 'ping' })
    await this.next('pong')
  }
}

/** The HTTP status of a refused upgrade, or 101 when it opened. */
export async function upgradeStatus (url: string, options: WebSocket.ClientOptions = {}): Promise<{ status: number, body: string, headers: Record<string, string | string[] | undefined> }> {
  const socket = new WebSocket(url, options)
  return await new Promise((resolve, reject) => {
    socket.on('open', () => { socket.terminate(); resolve({ status: 101, body: '', headers: {} }) })
    socket.on('unexpected-response', (_req, res) => {
      let body = ''
      res.on('data', (chunk: Buffer) => { body += chunk.toString() })
      res.on('end', () => { socket.terminate(); resolve({ status: res.statusCode ?? 0, body, headers: res.headers }) })
    })
    socket.on('error', (err) => { if (socket.readyState !== WebSocket.CLOSED) reject(err) })
  })
}
