// The SDK's SignallingClient against the real server: events for every server message, the send
// helpers, request/id correlation, and the stop rules as the server really applies them.
import t from 'tap'
import type { Test } from 'tap'
import WebSocket from 'ws'
import { startServer, type TestServer } from '../helper.js'
import {
  SignallingClient,
  ConnectError,
  RequestError,
  type CloseEvent,
  type SignallingClientEvents,
  type WebSocketConstructor
} from '../../client/index.js'

const TIMEOUT = 20_000

function next<K extends keyof SignallingClientEvents & string> (client: SignallingClient, event: K): Promise<SignallingClientEvents[K]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} within ${TIMEOUT} ms`)), TIMEOUT)
    client.once(event, (payload) => {
      clearTimeout(timer)
      resolve(payload)
    })
  })
}

async function client (t: Test, server: TestServer, roomId: string, peerId: string, metadata?: Record<string, unknown>): Promise<SignallingClient> {
  const { token } = await server.issueToken(roomId, metadata === undefined ? { peerId } : { peerId, metadata })
  // Fast reconnects, so that a wrongful reconnect would show within the test.
  const c = new SignallingClient({ url: server.wsUrl, token, WebSocket, reconnect: { initialDelay: 20, maxDelay: 100, maxAttempts: 5 } })
  t.teardown(() => c.close())
  return c
}

async function peerCount (server: TestServer, roomId: string): Promise<number> {
  const res = await server.app.inject({ method: 'GET', url: `/rooms/${roomId}`, headers: { authorization: `Bearer ${server.apiKey}` } })
  return (res.json() as { peers: unknown[] }).peers.length
}

const settle = (ms = 300): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

t.test('welcome, peer-joined and peer-left events keep the roster', async (t) => {
  const server = await startServer(t)
  const { roomId } = await server.createRoom()
  const alice = await client(t, server, roomId, 'alice', { name: 'Alice' })
  const opened = next(alice, 'open')
  const welcome = await alice.connect()
  await opened
  t.match(welcome, { type: 'welcome', peerId: 'alice', roomId, peers: [], iceServers: [], resumed: false, resumeToken: String })
  t.equal(alice.peerId, 'alice')
  t.equal(alice.roomId, roomId)
  t.equal(alice.state, 'open')

  const bob = await client(t, server, roomId, 'bob', { name: 'Bob' })
  const joined = next(alice, 'peer-joined')
  const bobWelcome = await bob.connect()
  t.same(bobWelcome.peers, [{ peerId: 'alice', metadata: { name: 'Alice' } }])
  t.same(await joined, { type: 'peer-joined', peer: { peerId: 'bob', metadata: { name: 'Bob' } } })
  t.same([...alice.peers.keys()], ['bob'])
  t.same([...bob.peers.values()], [{ peerId: 'alice', metadata: { name: 'Alice' } }])

  const left = next(alice, 'peer-left')
  const bobClosed = next(bob, 'close')
  await bob.leave()
  t.same(await bobClosed, { code: 1000, reason: 'left', willReconnect: false })
  t.same(await left, { type: 'peer-left', peerId: 'bob', reason: 'left' })
  t.same([...alice.peers.keys()], [])
})

t.test('send helpers: each relayed type arrives with from and data unchanged; ping gets pong', async (t) => {
  const server = await startServer(t)
  const { roomId } = await server.createRoom()
  const alice = await client(t, server, roomId, 'alice')
  const bob = await client(t, server, roomId, 'bob')
  await alice.connect()
  await bob.connect()

  const data = { sdp: 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n', nested: [1, 'ü', null, { ok: true }] }
  const cases = [
    ['offer', () => alice.offer('bob', data)],
    ['answer', () => alice.answer('bob', data)],
    ['candidate', () => alice.candidate('bob', data)],
    ['bye', () => alice.bye('bob', data)],
    ['message', () => alice.message(data, 'bob')]
  ] as const
  for (const [type, send] of cases) {
    const received = next(bob, type)
    t.equal(send(), true)
    t.same(await received, { type, from: 'alice', data }, `${type} relayed`)
  }
  const broadcast = next(bob, 'message')
  t.equal(alice.message('to everyone'), true)
  t.same(await broadcast, { type: 'message', from: 'alice', data: 'to everyone' })
  const bye = next(bob, 'bye')
  alice.bye('bob')
  t.same(await bye, { type: 'bye', from: 'alice', data: null }, 'bye without data sends null')

  const pong = next(alice, 'pong')
  t.equal(alice.ping(), true)
  t.same(await pong, { type: 'pong' })
})

t.test('request(): a server error with the id rejects; an accepted message resolves', async (t) => {
  const server = await startServer(t)
  const { roomId } = await server.createRoom()
  const alice = await client(t, server, roomId, 'alice')
  const bob = await client(t, server, roomId, 'bob')
  await alice.connect()
  await bob.connect()

  const errorEvent = next(alice, 'error')
  const error = await alice.request({ type: 'offer', to: 'nobody', data: {} }).then(() => undefined, (err: unknown) => err)
  t.type(error, RequestError)
  t.match(error, { name: 'RequestError', code: 'PEER_NOT_FOUND', id: 1 })
  const event = await errorEvent
  t.equal(event.code, 'PEER_NOT_FOUND')
  t.equal(event.id, 1)

  const received = next(bob, 'offer')
  await t.resolves(alice.request({ type: 'offer', to: 'bob', data: 'fine' }, { timeout: 300 }))
  t.same(await received, { type: 'offer', from: 'alice', data: 'fine' }, 'the id is not forwarded')
})

t.test('kicked (4403): close is final and the client does not come back', async (t) => {
  const server = await startServer(t)
  const { roomId } = await server.createRoom()
  const alice = await client(t, server, roomId, 'alice')
  const bob = await client(t, server, roomId, 'bob')
  await alice.connect()
  await bob.connect()
  let reconnects = 0
  bob.on('reconnecting', () => reconnects++)

  const closed = next(bob, 'close')
  const left = next(alice, 'peer-left')
  const res = await server.app.inject({ method: 'DELETE', url: `/rooms/${roomId}/peers/bob`, headers: { authorization: `Bearer ${server.apiKey}` } })
  t.equal(res.statusCode, 204)
  t.match(await closed, { code: 4403, willReconnect: false })
  t.same(await left, { type: 'peer-left', peerId: 'bob', reason: 'kicked' })
  await settle()
  t.equal(reconnects, 0)
  t.equal(bob.state, 'closed')
  t.equal(await peerCount(server, roomId), 1)
})

t.test('room deleted: room-closed, then close 4404, final', async (t) => {
  const server = await startServer(t)
  const { roomId } = await server.createRoom()
  const alice = await client(t, server, roomId, 'alice')
  await alice.connect()
  const events: string[] = []
  alice.on('room-closed', (message) => events.push(`room-closed ${message.roomId}`))
  alice.on('close', (event) => events.push(`close ${event.code} ${String(event.willReconnect)}`))
  alice.on('reconnecting', () => events.push('reconnecting'))
  const closed = next(alice, 'close')
  const res = await server.app.inject({ method: 'DELETE', url: `/rooms/${roomId}`, headers: { authorization: `Bearer ${server.apiKey}` } })
  t.equal(res.statusCode, 204)
  await closed
  await settle()
  t.same(events, [`room-closed ${roomId}`, 'close 4404 false'])
})

t.test('replaced (4409): the old client stops, the new one stays', async (t) => {
  const server = await startServer(t)
  const { roomId } = await server.createRoom()
  const first = await client(t, server, roomId, 'alice')
  const second = await client(t, server, roomId, 'alice')
  await first.connect()
  const closed = next(first, 'close')
  await second.connect()
  const event: CloseEvent = await closed
  t.match(event, { code: 4409, willReconnect: false })
  await settle()
  t.equal(first.state, 'closed')
  t.equal(second.state, 'open')
  t.equal(await peerCount(server, roomId), 1)
})

t.test('a bad token: the 401 refusal rejects connect() and is not retried', async (t) => {
  const server = await startServer(t)
  const { roomId } = await server.createRoom()
  const c = new SignallingClient({ url: server.wsUrl, token: 'not-a-jwt', WebSocket, reconnect: { initialDelay: 20 } })
  let reconnects = 0
  c.on('reconnecting', () => reconnects++)
  const error = await c.connect().then(() => undefined, (err: unknown) => err)
  t.type(error, ConnectError)
  t.match(error, { code: 1006, httpStatus: 401 })
  await settle()
  t.equal(reconnects, 0)
  t.equal(await peerCount(server, roomId), 0)
})

/** `ws` with every socket the client creates kept, so that a test can cut one. */
function trackedWebSocket (sockets: WebSocket[], fail: (attempt: number) => Error | undefined = () => undefined): WebSocketConstructor {
  return class Tracked extends WebSocket {
    constructor (url: string) {
      const error = fail(sockets.length + 1)
      if (error !== undefined) {
        sockets.push(undefined as unknown as WebSocket)
        throw error
      }
      super(url)
      sockets.push(this)
    }
  }
}

t.test('close() called from a close listener stops the reconnection, and a final close follows', async (t) => {
  const server = await startServer(t)
  const { roomId } = await server.createRoom()
  const { token } = await server.issueToken(roomId, { peerId: 'alice' })
  const sockets: WebSocket[] = []
  const alice = new SignallingClient({
    url: server.wsUrl, token, WebSocket: trackedWebSocket(sockets), reconnect: { initialDelay: 20, maxDelay: 100 }
  })
  t.teardown(() => alice.close())
  await alice.connect()
  const events: string[] = []
  let closing: Promise<void> | undefined
  let noteClosing = (): void => {}
  const closeCalled = new Promise<void>((resolve) => { noteClosing = resolve })
  alice.on('close', (event) => {
    events.push(`close ${event.code} ${event.willReconnect ? 'reconnect' : 'final'}`)
    // An app that would rather stop than wait for a reconnection.
    if (event.willReconnect && closing === undefined) {
      closing = alice.close()
      noteClosing()
    }
  })
  alice.on('reconnecting', () => events.push('reconnecting'))
  sockets[0]?.terminate()
  await closeCalled
  await closing
  // Reconnect attempts would come every 20 to 100 ms.
  await settle()
  t.equal(sockets.length, 1, 'no second socket')
  t.equal(alice.state, 'closed')
  t.same(events, ['close 1006 reconnect', 'close 1000 final'], 'no reconnecting; a final close tells listeners (a Mesh) the client is done')
})

t.test('a WebSocket constructor that throws during a reconnection counts as a failed attempt', async (t) => {
  const server = await startServer(t)
  const { roomId } = await server.createRoom()
  const { token } = await server.issueToken(roomId, { peerId: 'alice' })
  const sockets: WebSocket[] = []
  // The first reconnection throws, as a browser's constructor may (SecurityError); the next one works.
  const Flaky = trackedWebSocket(sockets, (attempt) => attempt === 2 ? new Error('refused by the test') : undefined)
  const alice = new SignallingClient({ url: server.wsUrl, token, WebSocket: Flaky, reconnect: { initialDelay: 20, maxDelay: 100 } })
  t.teardown(() => alice.close())
  await alice.connect()
  const events: string[] = []
  alice.on('close', (event) => events.push(`close ${event.code} ${event.reason}`))
  alice.on('reconnecting', ({ attempt }) => events.push(`reconnecting ${attempt}`))
  const resumed = next(alice, 'welcome')
  sockets[0]?.terminate()
  t.equal((await resumed).resumed, true, 'the session is resumed after all')
  t.same(events, [
    'close 1006 ', 'reconnecting 1',
    'close 1006 cannot open a WebSocket: Error: refused by the test', 'reconnecting 2'
  ])
  t.equal(sockets.length, 3)
  t.equal(alice.state, 'open')
})
