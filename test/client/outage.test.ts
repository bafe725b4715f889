// Network outages between one peer and the real server: the peer reaches the server through a TCP proxy
// that can cut every connection and refuse new ones (as a dead link or a restarting server does) and heal
// again. The peer-to-peer path over loopback is untouched, as on a phone that switches networks.
import { createServer, connect, type Server, type Socket } from 'node:net'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import type { Test } from 'tap'
import WebSocket from 'ws'
import { BrowserLikeWebSocket } from '../support/browser-like-websocket.js'
import { startServer, type TestServer } from '../helper.js'
import { loadRTCPeerConnection, waitForEvent } from '../support/events.js'
import {
  Mesh,
  SignallingClient,
  type CloseEvent,
  type MeshEvents,
  type RTCPeerConnectionConstructor,
  type SignallingClientEvents,
  type WebSocketConstructor,
  type WelcomeMessage
} from '../../client/index.js'

const RTCPeerConnection = await loadRTCPeerConnection(t)

// Ceilings for a slow shared machine; nothing asserts on timing.
const TIMEOUT = 60_000

/** A TCP proxy in front of the server. While down it accepts connections and drops them at once. */
class LinkProxy {
  readonly #server: Server
  readonly #live = new Set<Socket>()
  #up = true
  #watchers: Array<() => void> = []
  /** Connections dropped because the link was down. */
  refused = 0

  private constructor (server: Server) {
    this.#server = server
  }

  static async start (t: Test, target: TestServer): Promise<LinkProxy> {
    const { port } = new URL(target.baseUrl)
    const server = createServer()
    const proxy = new LinkProxy(server)
    server.on('connection', (socket) => proxy.#accept(socket, Number(port)))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    t.teardown(() => new Promise<void>((resolve) => {
      for (const socket of proxy.#live) socket.destroy()
      server.close(() => resolve())
    }))
    return proxy
  }

  /** The server's `/ws` through this proxy. */
  get wsUrl (): string {
    return `ws://127.0.0.1:${(this.#server.address() as AddressInfo).port}/ws`
  }

  /** The link goes down: open connections are cut without a close frame, new ones are dropped. */
  cut (): void {
    this.#up = false
    for (const socket of this.#live) socket.destroy()
  }

  heal (): void {
    this.#up = true
  }

  /** Resolves once `count` connections in all were dropped while down. */
  async refusals (count: number): Promise<void> {
    while (this.refused < count) await new Promise<void>((resolve) => this.#watchers.push(resolve))
  }

  #accept (socket: Socket, port: number): void {
    if (!this.#up) {
      socket.destroy()
      this.refused++
      for (const wake of this.#watchers.splice(0)) wake()
      return
    }
    const upstream = connect(port, '127.0.0.1')
    for (const [a, b] of [[socket, upstream], [upstream, socket]] as const) {
      this.#live.add(a)
      a.pipe(b)
      a.on('error', () => b.destroy())
      a.on('close', () => { this.#live.delete(a); b.destroy() })
    }
  }
}

const clientEvent = <K extends keyof SignallingClientEvents & string>(
  client: SignallingClient, event: K, predicate?: (payload: SignallingClientEvents[K]) => boolean, what?: string
): Promise<SignallingClientEvents[K]> => waitForEvent(client, event, predicate, what, TIMEOUT)

const meshEvent = <K extends keyof MeshEvents & string>(
  mesh: Mesh, event: K, predicate?: (payload: MeshEvents[K]) => boolean, what?: string
): Promise<MeshEvents[K]> => waitForEvent(mesh, event, predicate, what, TIMEOUT)

/** Polls `condition` (state that has no event of its own) until it holds; rejects after TIMEOUT. */
async function until (condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + TIMEOUT
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

interface Participant {
  client: SignallingClient
  mesh: Mesh
  /** The first `peer` event of the mesh. */
  connected: Promise<MeshEvents['peer']>
}

function wrtcPeerConnection (): RTCPeerConnectionConstructor {
  if (RTCPeerConnection === undefined) throw new Error('unreachable: no test runs without @roamhq/wrtc')
  return RTCPeerConnection
}

/** A peer with client and mesh; `url` is the server's or the proxy's `/ws`. */
async function participant (
  t: Test, server: TestServer, roomId: string, peerId: string, url: string,
  options: { WebSocket?: WebSocketConstructor, maxFailedOpens?: number } = {}
): Promise<Participant> {
  const { token } = await server.issueToken(roomId, { peerId })
  const client = new SignallingClient({
    url,
    token,
    WebSocket: options.WebSocket ?? WebSocket,
    reconnect: { initialDelay: 20, maxDelay: 100, maxFailedOpens: options.maxFailedOpens ?? 5 }
  })
  const mesh = new Mesh(client, { RTCPeerConnection: wrtcPeerConnection(), configuration: { iceServers: [] } })
  mesh.on('error', ({ peerId: remote, error }) => t.fail(`${peerId} -> ${remote}: ${error.message}`))
  // Every RTCPeerConnection must be closed or the process does not exit.
  t.teardown(async () => {
    mesh.close()
    await client.close()
  })
  const connected = meshEvent(mesh, 'peer', undefined, `${peerId}'s peer`)
  connected.catch(() => {})
  await client.connect()
  return { client, mesh, connected }
}

/** Exchanges one data-channel message each way. */
async function talk (t: Test, alice: Participant, bob: Participant, text: string): Promise<void> {
  const atBob = meshEvent(bob.mesh, 'message', undefined, 'bob to receive')
  const atAlice = meshEvent(alice.mesh, 'message', undefined, 'alice to receive')
  t.equal(alice.mesh.send('bob', `${text}, from alice`), true)
  t.equal(bob.mesh.send('alice', `${text}, from bob`), true)
  t.same(await atBob, { peerId: 'alice', data: `${text}, from alice` })
  t.same(await atAlice, { peerId: 'bob', data: `${text}, from bob` })
}

const ufrag = (description: RTCSessionDescription | null): string | undefined =>
  /a=ice-ufrag:(\S+)/.exec(description?.sdp ?? '')?.[1]

if (RTCPeerConnection !== undefined) {
  t.test('an ICE-restart offer made while the signalling link is down is sent after the resume', async (t) => {
    const server = await startServer(t)
    const { roomId } = await server.createRoom()
    const proxy = await LinkProxy.start(t, server)
    const alice = await participant(t, server, roomId, 'alice', proxy.wsUrl)
    const bob = await participant(t, server, roomId, 'bob', server.wsUrl)
    await Promise.all([alice.connected, bob.connected])
    const pcAlice = alice.mesh.connection('bob')
    const pcBob = bob.mesh.connection('alice')
    if (pcAlice === undefined || pcBob === undefined) throw new Error('no connection')
    const before = { atAlice: ufrag(pcAlice.remoteDescription), atBob: ufrag(pcBob.remoteDescription) }

    // Note every offer the client refuses to send.
    const offer = alice.client.offer.bind(alice.client)
    let refusedOffers = 0
    let noteRefusal = (): void => {}
    const refused = new Promise<void>((resolve) => { noteRefusal = resolve })
    alice.client.offer = (to, data) => {
      const sent = offer(to, data)
      if (!sent) {
        refusedOffers++
        noteRefusal()
      }
      return sent
    }

    const dropped = clientEvent(alice.client, 'close', undefined, 'alice\'s drop')
    proxy.cut()
    t.match(await dropped, { code: 1006, willReconnect: true })
    // What the mesh does itself when ICE fails along with the network: an ICE restart, hence an offer.
    pcAlice.restartIce()
    await refused
    t.equal(pcAlice.signalingState, 'have-local-offer', 'the restart offer is made but could not be sent')

    const resumed = clientEvent(alice.client, 'welcome', undefined, 'alice\'s resumed welcome')
    proxy.heal()
    t.equal((await resumed).resumed, true)

    // Negotiation completes: bob applied alice's new ICE credentials and alice bob's answer.
    await until(() => pcAlice.signalingState === 'stable' && pcBob.signalingState === 'stable' &&
      ufrag(pcBob.remoteDescription) !== before.atBob && ufrag(pcAlice.remoteDescription) !== before.atAlice,
    `the ICE restart to complete (alice ${pcAlice.signalingState}, bob ${pcBob.signalingState})`)
    t.equal(refusedOffers, 1)
    await until(() => pcAlice.connectionState === 'connected' && pcBob.connectionState === 'connected', 'connected again')
    t.equal(alice.mesh.connection('bob'), pcAlice, 'the same connection carries on')
    await talk(t, alice, bob, 'after the restart')
  })

  t.test('browser-like socket: an outage longer than maxFailedOpens attempts does not end the session or the call', async (t) => {
    const server = await startServer(t)
    const { roomId } = await server.createRoom()
    const proxy = await LinkProxy.start(t, server)
    const alice = await participant(t, server, roomId, 'alice', proxy.wsUrl, { WebSocket: BrowserLikeWebSocket, maxFailedOpens: 2 })
    const bob = await participant(t, server, roomId, 'bob', server.wsUrl)
    await Promise.all([alice.connected, bob.connected])
    const pcAlice = alice.mesh.connection('bob')
    const closes: CloseEvent[] = []
    alice.client.on('close', (event) => closes.push(event))
    const left: Array<MeshEvents['peer-left']> = []
    alice.mesh.on('peer-left', (event) => left.push(event))

    proxy.cut()
    // Twice as many closes before open as maxFailedOpens, or the client giving up, whichever comes first.
    await Promise.race([proxy.refusals(4), clientEvent(alice.client, 'close', (event) => !event.willReconnect, 'a final close')])
    t.same(closes.filter((event) => !event.willReconnect), [], 'no final close: the client keeps trying')
    t.equal(alice.client.state, 'reconnecting')

    const resumed = clientEvent(alice.client, 'welcome', undefined, 'alice\'s resumed welcome')
    proxy.heal()
    t.equal((await resumed).resumed, true, 'the session is resumed')
    t.same(left, [], 'the mesh lost no peer')
    t.equal(alice.mesh.connection('bob'), pcAlice, 'the peer-to-peer call is the same')
    t.equal(pcAlice?.connectionState, 'connected')
    await talk(t, alice, bob, 'after the outage')
  })
}

t.test('a token function supplies a fresh join token when the session cannot be resumed (4410)', async (t) => {
  const server = await startServer(t, { resume: { grace: 300 } })
  const { roomId } = await server.createRoom()
  const proxy = await LinkProxy.start(t, server)
  const bob = new SignallingClient({ url: server.wsUrl, token: (await server.issueToken(roomId, { peerId: 'bob' })).token, WebSocket })
  t.teardown(() => bob.close())
  await bob.connect()

  // The shortest lifetime a token may have, so that the first one expires during the outage.
  const issued: string[] = []
  const token = async (): Promise<string> => {
    const { token } = await server.issueToken(roomId, { peerId: 'alice', ttl: 10 })
    issued.push(token)
    return token
  }
  const alice = new SignallingClient({ url: proxy.wsUrl, token, WebSocket, reconnect: { initialDelay: 20, maxDelay: 100 } })
  t.teardown(() => alice.close())
  const welcomes: WelcomeMessage[] = []
  alice.on('welcome', (welcome) => welcomes.push(welcome))
  const closes: number[] = []
  alice.on('close', (event) => closes.push(event.code))
  await alice.connect()
  t.equal(issued.length, 1)

  const gone = clientEvent(bob, 'peer-left', undefined, 'bob to see alice gone')
  proxy.cut()
  t.same(await gone, { type: 'peer-left', peerId: 'alice', reason: 'disconnected' }, 'the grace period is over')
  await until(() => {
    try {
      server.app.signalling.verifyToken(issued[0] ?? '')
      return false
    } catch {
      return true
    }
  }, 'the first join token to expire')

  const joined = clientEvent(bob, 'peer-joined', undefined, 'alice to join again')
  const rejoined = clientEvent(alice, 'welcome', undefined, 'alice\'s new welcome')
  proxy.heal()
  t.equal((await rejoined).resumed, false, 'a fresh session')
  t.same(await joined, { type: 'peer-joined', peer: { peerId: 'alice', metadata: {} } })
  t.ok(closes.includes(4410), 'the resume was refused with 4410')
  t.equal(issued.length, 2, 'the function was asked for a second token, for the fresh join only')
  t.same(welcomes.map((welcome) => welcome.resumed), [false, false])
  t.equal(alice.state, 'open')
})

t.test('a token function that fails counts as a failed attempt and is asked again', async (t) => {
  const server = await startServer(t)
  const { roomId } = await server.createRoom()
  let calls = 0
  const token = async (): Promise<string> => {
    if (++calls === 1) throw new Error('token service unavailable')
    return (await server.issueToken(roomId, { peerId: 'alice' })).token
  }
  const alice = new SignallingClient({ url: server.wsUrl, token, WebSocket, reconnect: { initialDelay: 20, maxDelay: 100 } })
  t.teardown(() => alice.close())
  const closes: CloseEvent[] = []
  alice.on('close', (event) => closes.push(event))
  const welcome = await alice.connect()
  t.equal(welcome.peerId, 'alice')
  t.equal(calls, 2)
  t.same(closes, [{ code: 1006, reason: 'no token: Error: token service unavailable', willReconnect: true }])
})
