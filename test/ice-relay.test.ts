// The TURN credentials really work: two @roamhq/wrtc peers restricted to relay candidates connect through a real coturn.
import t, { type Test } from 'tap'
import wrtc from '@roamhq/wrtc'
import WebSocket from 'ws'
import { iceServersFor, parseIceConfig, turnCredentials, verifyTurnCredential, type RTCIceServerLike } from '../lib/ice-servers.js'
import { startServer } from './helper.js'
import { requireProgram, startCoturn, type Coturn } from './support/coturn.js'

const SECRET = 'relay-test-secret'
const CONNECT_MS = 20_000
const GATHER_MS = 10_000

/** Rejects with `what` when `promise` has not settled within `ms`, so no test waits forever. */
async function within<T> (ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

function newPeer (t: Test, iceServers: RTCIceServerLike[]): RTCPeerConnection {
  const pc = new wrtc.RTCPeerConnection({ iceServers, iceTransportPolicy: 'relay' })
  t.teardown(() => pc.close())
  return pc
}

/**
 * One end of the signalling channel. Candidates go through JSON, as they would over a WebSocket, and
 * are held back until the remote description is set (addIceCandidate refuses them before that).
 */
class Endpoint {
  readonly candidates: string[] = []
  private pending: RTCIceCandidateInit[] = []

  constructor (readonly pc: RTCPeerConnection) {}

  async setRemote (description: RTCSessionDescriptionInit): Promise<void> {
    await this.pc.setRemoteDescription(description)
    for (const candidate of this.pending.splice(0)) await this.pc.addIceCandidate(candidate)
  }

  async addRemoteCandidate (candidate: RTCIceCandidateInit): Promise<void> {
    if (this.pc.remoteDescription === null) this.pending.push(candidate)
    else await this.pc.addIceCandidate(candidate)
  }
}

function wire (from: Endpoint, to: Endpoint, onError: (err: unknown) => void): void {
  from.pc.addEventListener('icecandidate', (event) => {
    if (event.candidate === null || event.candidate.candidate === '') return
    from.candidates.push(event.candidate.candidate)
    const init = JSON.parse(JSON.stringify(event.candidate)) as RTCIceCandidateInit
    to.addRemoteCandidate(init).catch(onError)
  })
}

/** Offer/answer between two peers in this process, passing SDP through JSON as a signalling server would. */
async function negotiate (caller: Endpoint, callee: Endpoint): Promise<void> {
  await caller.pc.setLocalDescription(await caller.pc.createOffer())
  await callee.setRemote(JSON.parse(JSON.stringify(caller.pc.localDescription)) as RTCSessionDescriptionInit)
  await callee.pc.setLocalDescription(await callee.pc.createAnswer())
  await caller.setRemote(JSON.parse(JSON.stringify(callee.pc.localDescription)) as RTCSessionDescriptionInit)
}

function nextMessage (channel: RTCDataChannel): Promise<string> {
  return new Promise((resolve) => channel.addEventListener('message', (event) => resolve(String(event.data)), { once: true }))
}

function opened (channel: RTCDataChannel): Promise<void> {
  if (channel.readyState === 'open') return Promise.resolve()
  return new Promise((resolve) => channel.addEventListener('open', () => resolve(), { once: true }))
}

interface SelectedPair {
  local: { candidateType?: string, address?: string, port?: number }
  remote: { candidateType?: string, address?: string, port?: number }
}

/** The candidate pair ICE selected, from getStats (the transport's selectedCandidatePairId, else the nominated pair). */
async function selectedPair (pc: RTCPeerConnection): Promise<SelectedPair | undefined> {
  const stats = new Map<string, Record<string, unknown>>()
  ;(await pc.getStats()).forEach((report: Record<string, unknown>) => stats.set(String(report.id), report))
  const reports = [...stats.values()]
  const transport = reports.find((r) => r.type === 'transport' && typeof r.selectedCandidatePairId === 'string')
  const pair = transport !== undefined
    ? stats.get(String(transport.selectedCandidatePairId))
    : reports.find((r) => r.type === 'candidate-pair' && r.nominated === true && r.state === 'succeeded')
  if (pair === undefined) return undefined
  const candidate = (id: unknown) => {
    const c = stats.get(String(id)) ?? {}
    return {
      candidateType: c.candidateType as string | undefined,
      address: (c.address ?? c.ip) as string | undefined,
      port: c.port as number | undefined
    }
  }
  return { local: candidate(pair.localCandidateId), remote: candidate(pair.remoteCandidateId) }
}

interface Gathered {
  relay: string[]
  errors: Array<{ errorCode: number, errorText: string, url: string }>
  state: RTCIceGatheringState
}

/** Lets one relay-only peer gather candidates, for at most `ms`, and reports what it got. */
async function gather (t: Test, iceServers: RTCIceServerLike[], ms: number): Promise<Gathered> {
  const pc = newPeer(t, iceServers)
  const result: Gathered = { relay: [], errors: [], state: pc.iceGatheringState }
  pc.addEventListener('icecandidate', (event) => {
    if (event.candidate !== null && / typ relay /.test(event.candidate.candidate)) result.relay.push(event.candidate.candidate)
  })
  pc.addEventListener('icecandidateerror', (event) => {
    const { errorCode, errorText, url } = event as RTCPeerConnectionIceErrorEvent
    result.errors.push({ errorCode, errorText, url })
  })
  const complete = new Promise<void>((resolve) => {
    pc.addEventListener('icegatheringstatechange', () => { if (pc.iceGatheringState === 'complete') resolve() })
  })
  pc.createDataChannel('probe')
  await pc.setLocalDescription(await pc.createOffer())
  // Gathering that never completes is also a failure to allocate; the caller asserts on what was gathered.
  await Promise.race([complete, new Promise((resolve) => setTimeout(resolve, ms))])
  result.state = pc.iceGatheringState
  pc.close()
  return result
}

type Frame = Record<string, unknown> & { type: string }

/** A raw `ws` client of the signalling server that queues what it receives. */
class SignallingClient {
  private readonly received: Frame[] = []
  private readonly waiters: Array<() => void> = []
  onFrame: ((frame: Frame) => void) | undefined

  private constructor (readonly socket: WebSocket) {
    socket.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as Frame
      if (this.onFrame !== undefined) this.onFrame(frame)
      else this.received.push(frame)
      for (const wake of this.waiters.splice(0)) wake()
    })
  }

  static async connect (t: Test, url: string): Promise<SignallingClient> {
    const socket = new WebSocket(url)
    t.teardown(() => socket.terminate())
    // listen before 'open': welcome can arrive in the same chunk as the upgrade response
    const client = new SignallingClient(socket)
    await within(CONNECT_MS, 'the WebSocket to open', new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve())
      socket.once('error', reject)
    }))
    return client
  }

  /** The first queued frame of `type`, waiting for it if needed. */
  async next (type: string): Promise<Frame> {
    return await within(CONNECT_MS, `a ${type} message`, (async () => {
      for (;;) {
        const index = this.received.findIndex((frame) => frame.type === type)
        if (index !== -1) return this.received.splice(index, 1)[0]!
        await new Promise<void>((resolve) => this.waiters.push(resolve))
      }
    })())
  }

  send (frame: object): void {
    this.socket.send(JSON.stringify(frame))
  }
}

/** Drives one RTCPeerConnection from the server's relayed offer/answer/candidate messages. */
function signalThroughServer (client: SignallingClient, endpoint: Endpoint, remotePeerId: string, onError: (err: unknown) => void): void {
  endpoint.pc.addEventListener('icecandidate', (event) => {
    if (event.candidate === null || event.candidate.candidate === '') return
    endpoint.candidates.push(event.candidate.candidate)
    client.send({ type: 'candidate', to: remotePeerId, data: event.candidate })
  })
  client.onFrame = (frame) => {
    const handle = async (): Promise<void> => {
      if (frame.type === 'error') throw new Error(`server error: ${JSON.stringify(frame)}`)
      if (frame.from !== remotePeerId) return
      if (frame.type === 'offer') {
        await endpoint.setRemote(frame.data as RTCSessionDescriptionInit)
        await endpoint.pc.setLocalDescription(await endpoint.pc.createAnswer())
        client.send({ type: 'answer', to: remotePeerId, data: endpoint.pc.localDescription })
      } else if (frame.type === 'answer') {
        await endpoint.setRemote(frame.data as RTCSessionDescriptionInit)
      } else if (frame.type === 'candidate') {
        await endpoint.addRemoteCandidate(frame.data as RTCIceCandidateInit)
      }
    }
    handle().catch(onError)
  }
}

function turnErrors (gathered: Gathered): Gathered['errors'] {
  return gathered.errors.filter((e) => e.url.startsWith('turn:'))
}

const turnserver = requireProgram(t, 'turnserver', 'apt-get install coturn')
if (turnserver !== undefined) {
  const coturn: Coturn = await startCoturn(t, { secret: SECRET })
  t.comment(`coturn: ${coturn.argv.join(' ')}`)
  const config = parseIceConfig({ turnUrls: coturn.udpUrl, turnSecret: SECRET, turnTtl: 600 })

  t.test('two relay-only peers connect through coturn with minted credentials and exchange data both ways', async (t) => {
    const alice = new Endpoint(newPeer(t, iceServersFor(config, 'alice')))
    const bob = new Endpoint(newPeer(t, iceServersFor(config, 'bob')))
    const failures: unknown[] = []
    wire(alice, bob, (err) => failures.push(err))
    wire(bob, alice, (err) => failures.push(err))

    const aliceChannel = alice.pc.createDataChannel('chat')
    const bobChannel = new Promise<RTCDataChannel>((resolve) =>
      bob.pc.addEventListener('datachannel', (event) => resolve(event.channel), { once: true }))

    await within(CONNECT_MS, 'offer/answer', negotiate(alice, bob))
    await within(CONNECT_MS, 'the data channel to open through the relay', opened(aliceChannel))
    const bobSide = await within(CONNECT_MS, 'bob to see the data channel', bobChannel)

    const atBob = nextMessage(bobSide)
    aliceChannel.send('hello from alice')
    t.equal(await within(CONNECT_MS, 'alice → bob', atBob), 'hello from alice', 'bob received alice\'s message')
    const atAlice = nextMessage(aliceChannel)
    bobSide.send('hello from bob')
    t.equal(await within(CONNECT_MS, 'bob → alice', atAlice), 'hello from bob', 'alice received bob\'s message')

    t.strictSame(failures, [], 'every candidate was accepted by the other peer')
    t.ok(alice.candidates.length > 0 && bob.candidates.length > 0, 'both peers gathered candidates')
    t.strictSame([...alice.candidates, ...bob.candidates].filter((c) => !/ typ relay /.test(c)), [],
      'with iceTransportPolicy relay, every candidate is a relay candidate, so the TURN allocation succeeded')

    for (const [name, pc] of [['alice', alice.pc], ['bob', bob.pc]] as const) {
      const pair = await selectedPair(pc)
      t.ok(pair, `${name}: getStats reports a selected candidate pair`)
      t.equal(pair?.local.candidateType, 'relay', `${name}: the selected local candidate is a relay candidate`)
      t.equal(pair?.remote.candidateType, 'relay', `${name}: the selected remote candidate is a relay candidate`)
      if (pair?.local.port !== undefined) {
        t.equal(pair.local.address, '127.0.0.1', `${name}: relayed by coturn's relay address`)
        t.ok(pair.local.port >= coturn.relayPorts.min && pair.local.port <= coturn.relayPorts.max,
          `${name}: relayed port ${pair.local.port} is in coturn's --min-port..--max-port range`)
      }
    }
  })

  t.test('a credential minted with the right secret allocates a relay candidate, over UDP and over TCP', async (t) => {
    for (const url of [coturn.udpUrl, coturn.tcpUrl]) {
      const overUrl = parseIceConfig({ turnUrls: url, turnSecret: SECRET, turnTtl: 600 })
      const gathered = await gather(t, iceServersFor(overUrl, 'carol'), GATHER_MS)
      t.ok(gathered.relay.length > 0, `${url}: at least one relay candidate`)
      t.strictSame(turnErrors(gathered), [], `${url}: no TURN error`)
    }
  })

  t.test('a credential minted with a wrong secret fails to allocate', async (t) => {
    const wrong = parseIceConfig({ turnUrls: coturn.udpUrl, turnSecret: 'not-the-coturn-secret', turnTtl: 600 })
    const gathered = await gather(t, iceServersFor(wrong, 'mallory'), GATHER_MS)
    t.strictSame(gathered.relay, [], 'no relay candidate')
    t.ok(turnErrors(gathered).some((e) => e.errorCode === 401), 'coturn answered 401 Unauthorized',
      { errors: gathered.errors, log: coturn.log().split('\n').filter((l) => /401|auth/i.test(l)).slice(-10) })
  })

  t.test('an expired credential fails to allocate', async (t) => {
    const { username, credential, expiresAt } = turnCredentials(SECRET, 'late', 60, Date.now() - 120_000)
    t.ok(expiresAt < Date.now() / 1000, 'the credential expired before it was used')
    const gathered = await gather(t, [{ urls: coturn.udpUrl, username, credential }], GATHER_MS)
    t.strictSame(gathered.relay, [], 'no relay candidate')
    t.ok(turnErrors(gathered).some((e) => e.errorCode === 401), 'coturn answered 401 Unauthorized', { errors: gathered.errors })
  })

  t.test('rotation: with both secrets configured on coturn, credentials minted with the previous secret still allocate', async (t) => {
    const rotating = await startCoturn(t, { secret: 'new-secret', extraSecrets: ['old-secret'] })
    const handedOutBefore = parseIceConfig({ turnUrls: rotating.udpUrl, turnSecret: 'old-secret', turnTtl: 600 })
    const handedOutAfter = parseIceConfig({ turnUrls: rotating.udpUrl, turnSecret: 'new-secret', turnSecretPrevious: 'old-secret', turnTtl: 600 })
    for (const [name, config] of [['previous secret', handedOutBefore], ['current secret', handedOutAfter]] as const) {
      const gathered = await gather(t, iceServersFor(config, 'dave'), GATHER_MS)
      t.ok(gathered.relay.length > 0, `${name}: at least one relay candidate`)
      t.strictSame(turnErrors(gathered), [], `${name}: no TURN error`)
    }
  })

  t.test('peers take iceServers from the signalling server\'s welcome and connect through coturn, signalling through the server', async (t) => {
    const server = await startServer(t, { ice: { turnUrls: coturn.udpUrl, turnSecret: SECRET } })
    const { roomId } = await server.createRoom()
    const join = async (peerId: string) => {
      const { token } = await server.issueToken(roomId, { peerId })
      const client = await SignallingClient.connect(t, `${server.wsUrl}?token=${encodeURIComponent(token)}`)
      const welcome = await client.next('welcome')
      return { client, welcome }
    }

    const alice = await join('alice')
    const bob = await join('bob')
    await alice.client.next('peer-joined')

    for (const [peerId, welcome] of [['alice', alice.welcome], ['bob', bob.welcome]] as const) {
      const iceServers = welcome.iceServers as RTCIceServerLike[]
      t.equal(iceServers.length, 1, `${peerId}: welcome carries one ICE server (TURN only is configured)`)
      t.strictSame(iceServers[0]?.urls, [coturn.udpUrl], `${peerId}: the configured TURN url`)
      t.match(iceServers[0], { username: new RegExp(`^\\d+:${peerId}$`), credential: String }, `${peerId}: a REST API username for this peer`)
      t.match(verifyTurnCredential(config, iceServers[0]?.username ?? '', iceServers[0]?.credential ?? ''),
        { ok: true, secret: 'current', peerId }, `${peerId}: minted with the current secret`)
      t.notMatch(JSON.stringify(welcome), SECRET, `${peerId}: the secret itself is not in welcome`)
    }

    const failures: unknown[] = []
    const aliceEnd = new Endpoint(newPeer(t, alice.welcome.iceServers as RTCIceServerLike[]))
    const bobEnd = new Endpoint(newPeer(t, bob.welcome.iceServers as RTCIceServerLike[]))
    signalThroughServer(alice.client, aliceEnd, 'bob', (err) => failures.push(err))
    signalThroughServer(bob.client, bobEnd, 'alice', (err) => failures.push(err))

    const aliceChannel = aliceEnd.pc.createDataChannel('chat')
    const bobChannel = new Promise<RTCDataChannel>((resolve) =>
      bobEnd.pc.addEventListener('datachannel', (event) => resolve(event.channel), { once: true }))
    await aliceEnd.pc.setLocalDescription(await aliceEnd.pc.createOffer())
    alice.client.send({ type: 'offer', to: 'bob', data: aliceEnd.pc.localDescription })

    await within(CONNECT_MS, 'the data channel to open through the relay', opened(aliceChannel))
    const bobSide = await within(CONNECT_MS, 'bob to see the data channel', bobChannel)
    const atBob = nextMessage(bobSide)
    aliceChannel.send('hello via the server')
    t.equal(await within(CONNECT_MS, 'alice → bob', atBob), 'hello via the server', 'bob received alice\'s message')
    const atAlice = nextMessage(aliceChannel)
    bobSide.send('hello back')
    t.equal(await within(CONNECT_MS, 'bob → alice', atAlice), 'hello back', 'alice received bob\'s message')

    t.strictSame(failures, [], 'no signalling or candidate error')
    t.strictSame([...aliceEnd.candidates, ...bobEnd.candidates].filter((c) => !/ typ relay /.test(c)), [],
      'only relay candidates were exchanged')
    for (const [name, pc] of [['alice', aliceEnd.pc], ['bob', bobEnd.pc]] as const) {
      const pair = await selectedPair(pc)
      t.equal(pair?.local.candidateType, 'relay', `${name}: the selected local candidate is a relay candidate`)
      t.equal(pair?.remote.candidateType, 'relay', `${name}: the selected remote candidate is a relay candidate`)
    }
  })
}
