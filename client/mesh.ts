// A full mesh of RTCPeerConnections over a SignallingClient, negotiated with W3C "perfect negotiation".
import { TypedEmitter } from './typed-emitter.js'
import type { SignallingClient, SignallingClientEvents } from './signalling-client.js'
import type { IceServersMessage, PeerLeftReason, RelayedMessage, WelcomeMessage } from './protocol.js'

export type RTCPeerConnectionConstructor = new (configuration?: RTCConfiguration) => RTCPeerConnection

export interface MeshOptions {
  /** The RTCPeerConnection implementation: default `globalThis.RTCPeerConnection`; `@roamhq/wrtc`'s in Node. */
  RTCPeerConnection?: RTCPeerConnectionConstructor
  /**
   * Configuration of every connection. When it has no `iceServers`, the server's are used (from `welcome`),
   * and TURN credentials among them are refreshed before they expire.
   */
  configuration?: RTCConfiguration
  /**
   * Label of a data channel every pair of peers shares, created on both sides with `negotiated: true,
   * id: 0` (so neither side has to announce it and channels cannot glare); `send`/`broadcast` use it and
   * its messages come as `message` events. `false` for none. Default `'data'`.
   */
  dataChannel?: string | false
  /** Local media sent to every peer, now and later (see also `addStream`). */
  streams?: MediaStream[]
  /**
   * Media kinds to receive when this side has nothing to send: with no data channel and no streams, a newcomer
   * would have nothing to offer, so it offers to receive these (receive-only transceivers) and the others'
   * media flows to it. Default `['audio', 'video']`; `[]` for none.
   */
  receive?: Array<'audio' | 'video'>
}

/**
 * Why a peer connection went away: the server's reasons, `bye` when the remote closed its mesh, or
 * `replaced` also when the server announced the peer as joining again while a connection to it was open.
 */
export type MeshPeerLeftReason = PeerLeftReason | 'bye' | 'replaced'

export type MeshEvents = {
  /** The connection to a peer is up (and its shared data channel open, when there is one). Once per connection. */
  peer: { peerId: string, metadata: Record<string, unknown>, pc: RTCPeerConnection }
  /**
   * A peer we had a connection with left, said `bye`, or joined again (`replaced`: its new connection
   * follows); the old connection is already closed and removed.
   */
  'peer-left': { peerId: string, reason: MeshPeerLeftReason }
  track: { peerId: string, track: MediaStreamTrack, streams: readonly MediaStream[] }
  /** A data channel the remote side created (not the shared negotiated one). */
  datachannel: { peerId: string, channel: RTCDataChannel }
  /** A message on the shared data channel. */
  message: { peerId: string, data: string | ArrayBuffer }
  connectionstatechange: { peerId: string, state: RTCPeerConnectionState }
  /** Negotiation with a peer failed in a way perfect negotiation does not absorb. */
  error: { peerId: string, error: Error }
}

/** One remote peer: its connection and the perfect-negotiation state that goes with it. */
interface PeerLink {
  readonly peerId: string
  readonly pc: RTCPeerConnection
  readonly polite: boolean
  readonly channel: RTCDataChannel | undefined
  makingOffer: boolean
  ignoreOffer: boolean
  /** Incoming descriptions and candidates are applied one at a time, in arrival order. */
  chain: Promise<void>
  /** Candidates that arrived before any remote description. */
  pendingCandidates: RTCIceCandidateInit[]
  announced: boolean
  closed: boolean
  /** A description or candidates the client refused to send (socket down): recovered after a resume. */
  lostDescription: boolean
  lostCandidates: boolean
}

interface DescriptionData { type: RTCSdpType, sdp?: string }

function isDescription (data: unknown): data is DescriptionData {
  return typeof data === 'object' && data !== null && typeof (data as { type?: unknown }).type === 'string'
}

function describe (description: RTCSessionDescription | null): DescriptionData | undefined {
  return description === null ? undefined : { type: description.type, sdp: description.sdp }
}

/**
 * `setLocalDescription()` with no argument creates the right offer or answer and is immune to races
 * between createOffer/createAnswer and a concurrent setRemoteDescription. `@roamhq/wrtc` does not
 * accept it (TypeError: "Expected an object"), so fall back to the explicit calls there.
 * Returns false when the state changed under us and there is nothing to send.
 */
async function setLocal (pc: RTCPeerConnection, kind: 'offer' | 'answer', iceRestart = false): Promise<boolean> {
  if (!iceRestart) {
    try {
      await pc.setLocalDescription()
      return true
    } catch (err) {
      if (!(err instanceof TypeError)) throw err
    }
  }
  if (kind === 'offer') {
    const offer = await pc.createOffer({ iceRestart })
    // An incoming offer was applied while we were creating ours: drop it; `negotiationneeded`
    // fires again once the connection is back to stable, if still needed.
    if (pc.signalingState !== 'stable') return false
    await pc.setLocalDescription(offer)
  } else {
    await pc.setLocalDescription(await pc.createAnswer())
  }
  return true
}

function hasCredentials (servers: readonly RTCIceServer[] | undefined): boolean {
  return servers?.some((server) => server.username !== undefined || server.credential !== undefined) === true
}

/** Share of the TURN credentials' lifetime after which fresh ones are asked for. */
const ICE_REFRESH_AT = 0.8

function candidateInit (candidate: RTCIceCandidate): RTCIceCandidateInit {
  // Built by hand rather than toJSON(): not every implementation has it.
  const init: RTCIceCandidateInit = {
    candidate: candidate.candidate,
    sdpMid: candidate.sdpMid,
    sdpMLineIndex: candidate.sdpMLineIndex
  }
  if (candidate.usernameFragment !== null && candidate.usernameFragment !== undefined) {
    init.usernameFragment = candidate.usernameFragment
  }
  return init
}

/**
 * Owns one RTCPeerConnection per remote peer in the client's room.
 *
 * Who offers first: the newcomer. On `welcome` it creates a connection to every peer already in the room
 * (adding the shared channel and local streams fires `negotiationneeded`, hence an offer); peers already
 * there create theirs when the newcomer's first offer arrives. So the first negotiation of a pair never
 * glares. Later negotiations (tracks or channels added by the app, ICE restarts) may start on either
 * side at once; perfect negotiation resolves that.
 *
 * Polite side: of two peers, the one whose peerId sorts first (plain string comparison) is polite. On an
 * offer collision the impolite side ignores the incoming offer; the polite side rolls its own back and
 * answers.
 *
 * Create the Mesh before `client.connect()`, so it sees the first `welcome` and every offer. When the
 * client reconnects, the others have seen this peer leave and have closed their side, so every
 * connection is rebuilt from the new `welcome` (unless the server reports `resumed`). After a resume,
 * signalling this side could not send meanwhile is made up for (see `#recover`). When the client closes
 * for good, the mesh closes too.
 */
export class Mesh extends TypedEmitter<MeshEvents> {
  readonly #client: SignallingClient
  readonly #RTCPeerConnection: RTCPeerConnectionConstructor
  readonly #configuration: RTCConfiguration
  readonly #dataChannel: string | false
  readonly #streams: MediaStream[]
  readonly #receive: Array<'audio' | 'video'>
  readonly #links = new Map<string, PeerLink>()
  readonly #unsubscribe: Array<() => void> = []
  /** The app gave no `iceServers`: the server's are used, and refreshed. */
  readonly #serverIceServers: boolean
  #iceServers: RTCIceServer[] | undefined
  /** Lifetime of the server's TURN credentials in seconds, once an `ice-servers` answer told it. */
  #iceTtl: number | undefined
  #iceTimer: ReturnType<typeof setTimeout> | undefined
  /** A resumed `welcome` came; the next `pong` marks the end of the replay that follows it. */
  #awaitingReplay = false
  #closed = false

  constructor (client: SignallingClient, options: MeshOptions = {}) {
    super()
    if (client.welcome !== undefined) {
      throw new Error('Create the Mesh before client.connect(): it must see the welcome and every offer')
    }
    const Impl = options.RTCPeerConnection ?? (globalThis as { RTCPeerConnection?: RTCPeerConnectionConstructor }).RTCPeerConnection
    if (Impl === undefined) throw new TypeError('No global RTCPeerConnection: pass one (e.g. @roamhq/wrtc in Node)')
    this.#client = client
    this.#RTCPeerConnection = Impl
    this.#configuration = options.configuration ?? {}
    this.#serverIceServers = this.#configuration.iceServers === undefined
    this.#dataChannel = options.dataChannel ?? 'data'
    this.#streams = [...(options.streams ?? [])]
    this.#receive = [...(options.receive ?? ['audio', 'video'])]

    this.#listen('welcome', (welcome) => this.#onWelcome(welcome))
    this.#listen('peer-joined', ({ peer }) => {
      // A stale connection under a peerId that joins again: the newcomer will offer afresh. The app
      // showed that peer as connected, so it hears of the old connection's end.
      this.#closeLink(peer.peerId, 'replaced')
    })
    this.#listen('peer-left', ({ peerId, reason }) => this.#closeLink(peerId, reason))
    this.#listen('bye', ({ from }) => this.#closeLink(from, 'bye'))
    this.#listen('offer', (message) => this.#onDescription(message))
    this.#listen('answer', (message) => this.#onDescription(message))
    this.#listen('candidate', (message) => this.#onCandidate(message))
    this.#listen('ice-servers', (message) => this.#onIceServers(message))
    this.#listen('pong', () => this.#onReplayed())
    this.#listen('close', (event) => {
      if (!event.willReconnect) this.close()
    })
  }

  /** The connection to `peerId`, if any. */
  connection (peerId: string): RTCPeerConnection | undefined {
    return this.#links.get(peerId)?.pc
  }

  /** The peerIds this mesh holds a connection to. */
  get peerIds (): string[] {
    return [...this.#links.keys()]
  }

  /** Sends on the shared data channel to `peerId`. Returns false when that channel is not open. */
  send (peerId: string, data: string | ArrayBuffer): boolean {
    const channel = this.#links.get(peerId)?.channel
    if (channel === undefined || channel.readyState !== 'open') return false
    if (typeof data === 'string') channel.send(data)
    else channel.send(data)
    return true
  }

  /** Sends on every open shared data channel; returns how many peers it was sent to. */
  broadcast (data: string | ArrayBuffer): number {
    let sent = 0
    for (const peerId of this.#links.keys()) {
      if (this.send(peerId, data)) sent++
    }
    return sent
  }

  /**
   * Creates a (non-negotiated) data channel to every connected peer; each remote side gets it as a
   * `datachannel` event. Returns the channels by peerId.
   */
  createDataChannel (label: string, init?: RTCDataChannelInit): Map<string, RTCDataChannel> {
    const channels = new Map<string, RTCDataChannel>()
    for (const [peerId, link] of this.#links) channels.set(peerId, link.pc.createDataChannel(label, init))
    return channels
  }

  /** Sends `stream`'s tracks to every peer, now and to those who come later. */
  addStream (stream: MediaStream): void {
    this.#streams.push(stream)
    for (const link of this.#links.values()) {
      for (const track of stream.getTracks()) link.pc.addTrack(track, stream)
    }
  }

  /** Says `bye` to every peer, closes every connection and detaches from the client (which stays open). */
  close (): void {
    if (this.#closed) return
    this.#closed = true
    clearTimeout(this.#iceTimer)
    for (const unsubscribe of this.#unsubscribe) unsubscribe()
    for (const peerId of [...this.#links.keys()]) {
      this.#client.bye(peerId)
      this.#closeLink(peerId)
    }
  }

  #listen<K extends 'welcome' | 'peer-joined' | 'peer-left' | 'bye' | 'offer' | 'answer' | 'candidate' | 'close' | 'ice-servers' | 'pong'> (
    event: K,
    listener: (payload: SignallingClientEvents[K]) => void
  ): void {
    this.#client.on(event, listener)
    this.#unsubscribe.push(() => this.#client.off(event, listener))
  }

  #onWelcome (welcome: WelcomeMessage): void {
    const present = new Set(welcome.peers.map((peer) => peer.peerId))
    for (const peerId of [...this.#links.keys()]) {
      if (welcome.resumed !== true || !present.has(peerId)) this.#closeLink(peerId, 'disconnected')
    }
    if (this.#serverIceServers) {
      this.#useIceServers(welcome.iceServers)
      this.#scheduleIceRefresh()
    }
    for (const peer of welcome.peers) {
      if (this.#links.has(peer.peerId)) continue
      const link = this.#createLink(peer.peerId)
      // the newcomer offers first; with nothing to send it would never offer, and the others would never answer
      if (link.channel === undefined && link.pc.getTransceivers().length === 0) {
        for (const kind of this.#receive) link.pc.addTransceiver(kind, { direction: 'recvonly' })
      }
    }
    if (welcome.resumed === true && this.#links.size > 0) {
      // The server replays what this peer missed right after `welcome`; a pong comes after all of it.
      this.#awaitingReplay = this.#client.ping()
    }
  }

  #onReplayed (): void {
    if (!this.#awaitingReplay) return
    this.#awaitingReplay = false
    // Behind the replayed descriptions still being applied.
    for (const link of this.#links.values()) this.#enqueue(link, async () => this.#recover(link))
  }

  /**
   * After a resume, with the replay applied: signalling sent while the socket was down was refused, and
   * what was sent just before the drop may have been lost in flight; either can leave a negotiation
   * waiting forever (typically the ICE-restart offer made because the network went away).
   */
  #recover (link: PeerLink): void {
    const { pc } = link
    const { lostDescription, lostCandidates } = link
    link.lostDescription = false
    link.lostCandidates = false
    if (link.makingOffer) return // #negotiate sends that offer itself
    if (pc.signalingState === 'have-local-offer') {
      // Still unanswered after the replay: the other side may never have had it. Its SDP carries the
      // candidates gathered so far. Had the offer arrived, a duplicate is answered again and the extra
      // answer ignored here.
      this.#sendLocalDescription(link)
      return
    }
    // Other states are mid-way through applying a remote offer: the answer goes out when ready.
    if (pc.signalingState !== 'stable') return
    if (lostDescription && pc.localDescription?.type === 'answer') {
      // The other side waits for this answer (an answer that arrives after all is ignored there).
      this.#sendLocalDescription(link)
    }
    if (lostCandidates && pc.iceConnectionState !== 'connected' && pc.iceConnectionState !== 'completed') {
      // The other side may lack the candidates it needs; new ones come with an ICE restart.
      this.#restartIce(link)
    }
  }

  /** Takes the server's ICE servers (when the app gave none) for new connections and the open ones. */
  #useIceServers (iceServers: RTCIceServer[] | undefined): void {
    const changed = JSON.stringify(iceServers) !== JSON.stringify(this.#iceServers)
    this.#iceServers = iceServers
    if (iceServers === undefined || !changed) return
    for (const link of this.#links.values()) {
      try {
        link.pc.setConfiguration({ ...link.pc.getConfiguration(), iceServers })
      } catch (err) {
        this.#fail(link, err)
      }
    }
  }

  #onIceServers ({ iceServers, ttl }: IceServersMessage): void {
    if (!this.#serverIceServers) return
    this.#iceTtl = ttl
    this.#useIceServers(iceServers)
    this.#scheduleIceRefresh()
  }

  // TURN credentials expire after the server's ttl: fresh ones are asked for before that, so that ICE
  // restarts and new relays keep working in long calls.
  #scheduleIceRefresh (): void {
    clearTimeout(this.#iceTimer)
    this.#iceTimer = undefined
    if (this.#closed || !hasCredentials(this.#iceServers)) return
    // `welcome` does not say how long its credentials last; the answer to a refresh does.
    if (this.#iceTtl === undefined) {
      this.#client.refreshIceServers()
      return
    }
    if (!(this.#iceTtl > 0)) return
    // If the socket is down when this fires, the next `welcome` brings fresh credentials and a new timer.
    this.#iceTimer = setTimeout(() => {
      this.#iceTimer = undefined
      this.#client.refreshIceServers()
    }, this.#iceTtl * 1000 * ICE_REFRESH_AT)
  }

  #createLink (peerId: string): PeerLink {
    const configuration = this.#configuration.iceServers === undefined && this.#iceServers !== undefined
      ? { ...this.#configuration, iceServers: this.#iceServers }
      : this.#configuration
    const pc = new this.#RTCPeerConnection(configuration)
    const ownId = this.#client.peerId ?? ''
    const channel = this.#dataChannel === false
      ? undefined
      : pc.createDataChannel(this.#dataChannel, { negotiated: true, id: 0 })
    const link: PeerLink = {
      peerId,
      pc,
      polite: ownId < peerId,
      channel,
      makingOffer: false,
      ignoreOffer: false,
      chain: Promise.resolve(),
      pendingCandidates: [],
      announced: false,
      closed: false,
      lostDescription: false,
      lostCandidates: false
    }
    this.#links.set(peerId, link)

    pc.onnegotiationneeded = () => { void this.#negotiate(link) }
    pc.onicecandidate = ({ candidate }) => {
      // A null candidate marks the end of gathering; peers do fine without it being relayed.
      if (candidate === null || link.closed) return
      if (!this.#client.candidate(peerId, candidateInit(candidate))) link.lostCandidates = true
    }
    pc.oniceconnectionstatechange = () => {
      if (link.closed || pc.iceConnectionState !== 'failed') return
      this.#restartIce(link)
    }
    pc.onconnectionstatechange = () => {
      if (link.closed) return
      this.emit('connectionstatechange', { peerId, state: pc.connectionState })
      this.#announce(link)
    }
    pc.ontrack = ({ track, streams }) => {
      if (!link.closed) this.emit('track', { peerId, track, streams })
    }
    pc.ondatachannel = ({ channel: remoteChannel }) => {
      if (!link.closed) this.emit('datachannel', { peerId, channel: remoteChannel })
    }
    if (channel !== undefined) {
      channel.binaryType = 'arraybuffer'
      channel.onopen = () => this.#announce(link)
      channel.onmessage = ({ data }: MessageEvent<string | ArrayBuffer>) => {
        if (!link.closed) this.emit('message', { peerId, data })
      }
    }
    for (const stream of this.#streams) {
      for (const track of stream.getTracks()) pc.addTrack(track, stream)
    }
    return link
  }

  // `peer` once the transport is connected and the shared channel (if any) usable.
  #announce (link: PeerLink): void {
    if (link.announced || link.closed || link.pc.connectionState !== 'connected') return
    if (link.channel !== undefined && link.channel.readyState !== 'open') return
    link.announced = true
    const metadata = this.#client.peers.get(link.peerId)?.metadata ?? {}
    this.emit('peer', { peerId: link.peerId, metadata, pc: link.pc })
  }

  async #negotiate (link: PeerLink, iceRestart = false): Promise<void> {
    if (link.closed) return
    try {
      link.makingOffer = true
      if (!await setLocal(link.pc, 'offer', iceRestart)) return
      // With setLocalDescription() a browser may have made an answer instead, if an offer came in.
      this.#sendLocalDescription(link)
    } catch (err) {
      this.#fail(link, err)
    } finally {
      link.makingOffer = false
    }
  }

  #restartIce (link: PeerLink): void {
    if (typeof link.pc.restartIce === 'function') link.pc.restartIce() // fires negotiationneeded
    else void this.#negotiate(link, true)
  }

  #sendLocalDescription (link: PeerLink): void {
    if (link.closed) return
    const description = describe(link.pc.localDescription)
    let sent = true
    if (description?.type === 'offer') sent = this.#client.offer(link.peerId, description)
    else if (description?.type === 'answer') sent = this.#client.answer(link.peerId, description)
    // The socket is down: sent again once the session is resumed (see #recover).
    if (!sent) link.lostDescription = true
  }

  #onDescription ({ from, data }: RelayedMessage<'offer' | 'answer'>): void {
    if (!isDescription(data) || (data.type !== 'offer' && data.type !== 'answer')) return
    const link = this.#links.get(from) ?? (data.type === 'offer' ? this.#createLink(from) : undefined)
    if (link === undefined) return
    this.#enqueue(link, async () => {
      const pc = link.pc
      const offerCollision = data.type === 'offer' && (link.makingOffer || pc.signalingState !== 'stable')
      link.ignoreOffer = !link.polite && offerCollision
      if (link.ignoreOffer) return
      // An answer to an offer we have since rolled back: nothing to apply it to.
      if (data.type === 'answer' && pc.signalingState !== 'have-local-offer') return
      if (offerCollision && pc.signalingState === 'have-local-offer') {
        // Explicit rollback: @roamhq/wrtc rejects an offer in have-local-offer instead of rolling back
        // implicitly as browsers now do; the explicit form works in both.
        await pc.setLocalDescription({ type: 'rollback' })
      }
      await pc.setRemoteDescription(data)
      for (const candidate of link.pendingCandidates.splice(0)) {
        await pc.addIceCandidate(candidate).catch(() => {
          // Candidates of an offer that lost a collision no longer match; they are not needed.
        })
      }
      if (data.type === 'offer') {
        if (await setLocal(pc, 'answer')) this.#sendLocalDescription(link)
      }
    })
  }

  #onCandidate ({ from, data }: RelayedMessage<'candidate'>): void {
    const link = this.#links.get(from)
    if (link === undefined || typeof data !== 'object' || data === null) return
    const candidate = data as RTCIceCandidateInit
    this.#enqueue(link, async () => {
      if (link.pc.remoteDescription === null) {
        link.pendingCandidates.push(candidate)
        return
      }
      try {
        await link.pc.addIceCandidate(candidate)
      } catch (err) {
        // Candidates that belong to an offer we ignored are expected to fail.
        if (!link.ignoreOffer) throw err
      }
    })
  }

  #enqueue (link: PeerLink, task: () => Promise<void>): void {
    link.chain = link.chain
      .then(() => link.closed ? undefined : task())
      .catch((err: unknown) => this.#fail(link, err))
  }

  #fail (link: PeerLink, err: unknown): void {
    if (link.closed) return // closing a connection mid-negotiation makes pending calls reject
    this.emit('error', { peerId: link.peerId, error: err instanceof Error ? err : new Error(String(err)) })
  }

  // Closes and forgets the connection to `peerId`; emits `peer-left` when a reason is given.
  #closeLink (peerId: string, reason?: MeshPeerLeftReason): void {
    const link = this.#links.get(peerId)
    if (link === undefined) return
    link.closed = true
    this.#links.delete(peerId)
    link.channel?.close()
    link.pc.close()
    if (reason !== undefined) this.emit('peer-left', { peerId, reason })
  }
}
