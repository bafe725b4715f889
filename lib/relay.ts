// The relay: peers' sessions on this node, presence, and routing of every client message to its recipients.
// With a backplane, a room can span several nodes: frames for peers elsewhere go through it, by room.
//
// A session outlives its socket: every frame after `welcome` carries a per-peer `seq`, the last frames are
// kept, and after an abnormal close (1006) or a server restart (1012) the session waits `grace` ms for the
// client to come back with the last `seq` it saw. It then gets every frame it missed, in order, and the
// other peers see no churn. With a backplane the client may come back on any node: the new node asks the
// old one for the session over the room's channel (a hand-off).
import { randomUUID } from 'node:crypto'
import type { RawData, WebSocket } from 'ws'
import type { Backplane, BackplaneEvent, Handoff, Reconnection } from './backplane.js'
import { errorMessage, isSignallingError, signallingError, type ErrorCode } from './errors.js'
import type { JoinClaims } from './join-token.js'
import { DEFAULT_MAX_BUFFERED_BYTES, DEFAULT_MESSAGE_RATE, DEFAULT_RESUME, type MessageRate, type ResumeOptions } from './limits.js'
import type { LimitName } from './metrics.js'
import { CloseCodes, keptMetadata, MAX_FRAME_BYTES, parseClientMessage, readDirectMessage, type ClientMessage, type IceServer, type LeaveReason, type ServerMessage } from './protocol.js'
import type { ImmediateRegistry, RoomRecord, RoomRegistry } from './room-registry.js'
import type { PeerSummary, Room } from './schemas.js'
import { directSocket, sendText, type DirectSocket } from './text-frames.js'

export interface RelayLogger {
  info: (obj: object, msg: string) => void
  warn: (obj: object, msg: string) => void
  error: (obj: object, msg: string) => void
}

/** Counters the relay reports (lib/metrics.ts implements them). */
export interface RelayMetrics {
  relayed: (type: string) => void
  error: (code: string) => void
  joined: () => void
  resumed: () => void
  closed: (code: number) => void
  refused: (limit: LimitName) => void
}

export interface RelayOptions {
  registry: RoomRegistry
  /** Joins this node to others; without it the relay serves one node. */
  backplane?: Backplane
  /**
   * Interval of the server's WebSocket pings, in ms; a peer that sent nothing over an interval, not even the pong to
   * the previous ping, is dropped. 0 disables.
   */
  heartbeatInterval: number
  /** STUN/TURN servers for a peer, with its own TURN credentials, and how long those stay valid. */
  iceServers?: (peerId: string) => { iceServers: IceServer[], ttl: number }
  /** Signs the token a client presents to resume its session. */
  resumeToken?: (peerId: string, roomId: string, metadata: Record<string, unknown>) => string
  log?: RelayLogger
  metrics?: RelayMetrics
  /** Per-peer token bucket; `false` disables it. */
  messageRate?: Partial<MessageRate> | false
  /** A peer whose socket buffers more than this many bytes unread is closed with 1013 (default 1 MiB). */
  maxBufferedBytes?: number
  resume?: Partial<ResumeOptions>
  /** Seconds of clock difference allowed between the node that issued a token and the one that created its room (default 5). */
  clockSkew?: number
  /** Told of every join and departure on this node (a resume within the grace period is neither). */
  events?: RelayEvents
}

export interface RelayEvents {
  joined: (roomId: string, peer: PeerSummary) => void
  left: (roomId: string, peerId: string, reason: LeaveReason) => void
}

/** How a client connects: fresh, or resuming after the last `seq` it saw (`resumeOnly` with a resume token). */
export interface ConnectAttempt {
  lastSeq?: number
  resumeOnly?: boolean
}

/** One peer of a room on this node. Its socket changes when it resumes, and is absent during its grace period. */
class LocalPeer {
  socket: WebSocket | undefined
  /** What the socket had read at the last heartbeat (see `#beat`); -1 before the first on this socket. */
  lastRead = -1
  tokens: number
  /** performance.now() in whole ms: a small integer, where Date.now() took a 16 B heap number per peer. */
  refilledAt = Math.floor(performance.now())
  /** Messages dropped in the current second, and seconds in a row over the limit. */
  dropped = 0
  droppedSecond = 0
  abusiveSeconds = 0
  /** Set once the peer has left its room (or was handed to another node): nothing it does counts any more. */
  detached = false
  /** Closed by a server restart: a close goes into the grace period whatever its code. */
  restarting = false
  /** The last `seq` given, and the last frames (numbered), oldest first. */
  seq = 0
  replay: string[] = []
  replayBytes = 0
  grace: NodeJS.Timeout | undefined

  constructor (
    readonly peerId: string,
    readonly roomId: string,
    readonly metadata: Record<string, unknown>,
    readonly connection: string,
    readonly joinedAt: string,
    burst: number
  ) {
    this.tokens = burst
  }

  /** The first `seq` still kept. */
  get oldestSeq (): number {
    return this.seq - this.replay.length + 1
  }
}

/** A socket and the peer it is bound to (none until `welcome`). */
interface Link {
  socket: WebSocket
  peer: LocalPeer | undefined
  /** Who the socket's token names, for logs before the peer exists. */
  peerId: string
  roomId: string
  /** Frames that arrived before `welcome`; created on the first one. */
  pending: Array<{ data: RawData, isBinary: boolean }> | undefined
  /** The socket broke the protocol: its close is not a network drop. */
  failed: boolean
  /** Where relayed frames may be written in one piece (see `sendText`). */
  direct: DirectSocket | undefined
}

/** Where a socket's link is kept: the socket listeners are shared by all sockets and find their link here. */
const kLink = Symbol('signalling.link')
type LinkedSocket = WebSocket & { [kLink]: Link }

const linkOf = (socket: WebSocket): Link => (socket as LinkedSocket)[kLink]

const summaryOf = (peer: LocalPeer): PeerSummary => ({ peerId: peer.peerId, metadata: peer.metadata, joinedAt: peer.joinedAt })

/** The room's other peers as `welcome` lists them: one array, where a filter and a map made two. */
function othersThan (peerId: string, peers: Array<{ peerId: string, metadata: Record<string, unknown> }>): Array<{ peerId: string, metadata: Record<string, unknown> }> {
  const others = []
  for (const p of peers) if (p.peerId !== peerId) others.push({ peerId: p.peerId, metadata: p.metadata })
  return others
}

/** Bytes read so far by the TCP or TLS socket under `socket` (`_socket`, as ws holds it); undefined without one. */
function bytesReadOf (socket: WebSocket): number | undefined {
  const read = (socket as unknown as { _socket?: { bytesRead?: unknown } | null })._socket?.bytesRead
  return typeof read === 'number' ? read : undefined
}

/** ws calls its listeners with the socket as `this`. */
interface SocketListeners {
  message: (this: WebSocket, data: RawData, isBinary: boolean) => void
  error: (this: WebSocket, err: Error) => void
  close: (this: WebSocket, code: number) => void
}

/** The peers of one room on this node. `record` is kept so the room can be restored after a backplane outage. */
interface LocalRoom {
  peers: Map<string, LocalPeer>
  record: RoomRecord | undefined
  /**
   * The room's peers on other nodes as this node's peers were told of them (id -> metadata): after an outage,
   * the difference with the registry is what they missed. Made on its first entry: a room whose peers are all on
   * this node (every room without a backplane) never has one, which spares each such room a map's table.
   */
  remote: Map<string, Record<string, unknown>> | undefined
}

/** The room's map of peers on other nodes, made on its first entry. */
const remoteOf = (room: LocalRoom): Map<string, Record<string, unknown>> => (room.remote ??= new Map())

/** A hand-off this node asked for: live frames for the peer are kept from the moment the request went out. */
interface HandoffWait {
  roomId: string
  peerId: string
  echoed: boolean
  queued: string[]
  resolve: (handoff: Handoff | undefined) => void
}

const MAX_PENDING_FRAMES = 256
/**
 * The heartbeat goes round the peers in slices, one every `interval / slices` ms, at most this many slices per
 * interval and none shorter than `MIN_BEAT_SLICE_MS`: pinging every peer at once wrote to all of their sockets in
 * one turn of the event loop, which with 1,000 peers held everything else up for 40-100 ms, longer with more.
 */
const MAX_BEAT_SLICES = 100
const MIN_BEAT_SLICE_MS = 100
const OPEN = 1
const silent: RelayLogger = { info () {}, warn () {}, error () {} }
const noMetrics: RelayMetrics = { relayed () {}, error () {}, joined () {}, resumed () {}, closed () {}, refused () {} }

export class Relay {
  readonly registry: RoomRegistry
  readonly backplane: Backplane | undefined
  /** The registry's immediate calls, on a single node whose registry has them: joins and leaves in one turn. */
  readonly #immediate: ImmediateRegistry | undefined
  readonly #rooms = new Map<string, LocalRoom>()
  readonly #iceServers: (peerId: string) => { iceServers: IceServer[], ttl: number }
  readonly #resumeToken: RelayOptions['resumeToken']
  readonly #log: RelayLogger
  readonly #metrics: RelayMetrics
  readonly #events: RelayEvents | undefined
  readonly #heartbeat: NodeJS.Timeout | undefined
  readonly #beatSlices: number
  /** The heartbeat's round under way: the rooms still to visit, and the peers to visit per slice. */
  #beatRound: IterableIterator<LocalRoom> | undefined
  #beatQuota = 0
  #beatSlicesLeft = 0
  readonly #nodeId: string
  readonly #rate: MessageRate | false
  readonly #maxBufferedBytes: number
  readonly #resume: ResumeOptions
  readonly #clockSkew: number
  readonly #handoffs = new Map<string, HandoffWait>()
  /** Joins under way, by room: the room stays watched until they are done. */
  readonly #opening = new Map<string, number>()
  #connections = 0
  #draining = false
  /** Departures still being recorded, awaited before the registry closes. */
  readonly #leaving = new Set<Promise<void>>()
  /** One set of socket listeners for every socket (a closure per socket and event would cost memory per peer). */
  readonly #listeners: SocketListeners

  constructor (options: RelayOptions) {
    this.registry = options.registry
    this.backplane = options.backplane
    this.#immediate = options.backplane === undefined ? options.registry.immediate : undefined
    this.#nodeId = options.backplane?.nodeId ?? randomUUID().slice(0, 8)
    this.#iceServers = options.iceServers ?? (() => ({ iceServers: [], ttl: 0 }))
    this.#resumeToken = options.resumeToken
    this.#log = options.log ?? silent
    this.#metrics = options.metrics ?? noMetrics
    this.#events = options.events
    this.#rate = options.messageRate === false ? false : { ...DEFAULT_MESSAGE_RATE, ...options.messageRate }
    this.#maxBufferedBytes = options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES
    this.#resume = { ...DEFAULT_RESUME, ...options.resume }
    this.#clockSkew = options.clockSkew ?? 5
    this.#listeners = this.#socketListeners()
    if (options.heartbeatInterval > 0) {
      this.#beatSlices = Math.max(1, Math.min(MAX_BEAT_SLICES, Math.floor(options.heartbeatInterval / MIN_BEAT_SLICE_MS)))
      this.#heartbeat = setInterval(() => this.#beatSlice(), options.heartbeatInterval / this.#beatSlices)
      this.#heartbeat.unref()
    } else {
      this.#beatSlices = 0
    }
    this.registry.onExpired((roomId) => {
      this.#rooms.delete(roomId)
      this.#letGo(roomId)
    })
    this.backplane?.onEvent((roomId, event) => this.#onRemote(roomId, event))
    this.backplane?.onPeersLost((lost) => {
      for (const { roomId, peerId } of lost) {
        this.#rooms.get(roomId)?.remote?.delete(peerId)
        this.#announce(roomId, { type: 'peer-left', peerId, reason: 'disconnected' }, peerId)
      }
    })
    this.backplane?.onReconnected(async (reconnection) => await this.#resync(reconnection))
  }

  /**
   * Checks, before the upgrade, that the room exists and has a place for this peer: throws (or rejects) with the
   * reason it has not. Returns undefined when the registry answered at once, a promise otherwise.
   */
  admit (claims: JoinClaims): Promise<void> | undefined {
    if (this.#draining) throw signallingError('SERVICE_UNAVAILABLE', 'the server is restarting; connect again')
    const immediate = this.#immediate
    if (immediate === undefined) return this.#admitLater(claims)
    const room = this.#judge(claims, immediate.get(claims.room), immediate.kickedAt(claims.room, claims.sub))
    if (room.peerCount >= room.maxPeers && !immediate.hasPeer(claims.room, claims.sub)) throw signallingError('ROOM_FULL', claims.room)
    return undefined
  }

  async #admitLater (claims: JoinClaims): Promise<void> {
    const [found, kickedAt] = await Promise.all([this.registry.get(claims.room), this.registry.kickedAt(claims.room, claims.sub)])
    const room = this.#judge(claims, found, kickedAt)
    if (room.peerCount >= room.maxPeers && !await this.registry.hasPeer(claims.room, claims.sub)) throw signallingError('ROOM_FULL', claims.room)
  }

  /** The room, which exists, if the token was issued after its creation and after the peer's last kick. */
  #judge (claims: JoinClaims, room: Room | undefined, kickedAt: number | undefined): Room {
    if (room === undefined) throw signallingError('ROOM_NOT_FOUND', claims.room)
    // a token of an earlier room of the same id, or one a kicked peer held, no longer admits
    if (claims.iat + this.#clockSkew < Math.floor(Date.parse(room.createdAt) / 1000)) {
      throw signallingError('UNAUTHORIZED', 'the join token was issued before the room was created')
    }
    if (kickedAt !== undefined && claims.iat <= kickedAt) {
      throw signallingError('UNAUTHORIZED', 'the peer was removed from the room; a token issued after that admits it again')
    }
    return room
  }

  /** Takes over an upgraded socket. Listeners are attached at once so that no early frame is lost. */
  connect (socket: WebSocket, claims: JoinClaims, attempt: ConnectAttempt = {}): void {
    const link: Link = { socket, peer: undefined, peerId: claims.sub, roomId: claims.room, pending: undefined, failed: false, direct: directSocket(socket) }
    ;(socket as LinkedSocket)[kLink] = link
    const listeners = this.#listeners
    socket.on('message', listeners.message)
    socket.on('error', listeners.error)
    socket.on('close', listeners.close)
    const immediate = this.#immediate
    if (immediate !== undefined && attempt.lastSeq === undefined) {
      try {
        this.#joinNow(link, claims, immediate)
      } catch (err) {
        this.#refuse(link, err)
      }
      return
    }
    this.#open(link, claims, attempt).catch((err: unknown) => { this.#refuse(link, err) })
  }

  /** Tells the client why its join failed, and closes its socket. */
  #refuse (link: Link, err: unknown): void {
    const code = isSignallingError(err) ? err.code : 'INTERNAL_ERROR'
    if (code === 'INTERNAL_ERROR') this.#log.error({ err, roomId: link.roomId }, 'join failed')
    if (code === 'ROOM_FULL') this.#metrics.refused('room_full')
    const message = errorMessage(code, code === 'INTERNAL_ERROR' ? 'join failed' : code === 'SESSION_EXPIRED' ? link.peerId : link.roomId)
    if (link.socket.readyState === OPEN) link.socket.send(JSON.stringify({ type: 'error', code, message }))
    link.socket.close(closeCodeFor(code), code)
  }

  #socketListeners (): SocketListeners {
    const relay = this
    return {
      message (data, isBinary) {
        const link = linkOf(this)
        const peer = link.peer
        if (peer === undefined) {
          link.pending ??= []
          if (link.pending.length >= MAX_PENDING_FRAMES) return this.close(CloseCodes.MESSAGE_TOO_BIG, 'too many frames before welcome')
          link.pending.push({ data, isBinary })
          return
        }
        if (peer.socket !== this) return
        try {
          relay.#onFrame(peer, data, isBinary)
        } catch (err) {
          // a listener must never throw: ws would stop reading this socket, and the process would see an uncaught exception
          relay.#log.error({ err, peerId: peer.peerId, roomId: peer.roomId }, 'message not handled')
          relay.#sendError(peer, 'INTERNAL_ERROR', 'message not handled')
        }
      },
      error (err) {
        // ws reports protocol violations (bad frames, oversized messages) here before it closes: no grace for those
        const link = linkOf(this)
        if (link.peer?.socket === this) link.peer.restarting = false
        link.failed = true
        relay.#log.warn({ err, peerId: link.peerId, roomId: link.roomId }, 'socket error')
      },
      close (code) {
        relay.#metrics.closed(code)
        const link = linkOf(this)
        const peer = link.peer
        if (peer !== undefined && peer.socket === this) relay.#onClose(peer, link.failed ? 1002 : code)
      }
    }
  }

  async #open (link: Link, claims: JoinClaims, attempt: ConnectAttempt): Promise<void> {
    const roomId = claims.room
    this.#opening.set(roomId, (this.#opening.get(roomId) ?? 0) + 1)
    try {
      await this.#openRoom(link, claims, attempt)
    } finally {
      // whatever the outcome, a room left without peers here is let go: a failed join must not keep it watched
      const opening = this.#opening.get(roomId)! - 1
      if (opening === 0) this.#opening.delete(roomId)
      else this.#opening.set(roomId, opening)
      const room = this.#rooms.get(roomId)
      if (room !== undefined) this.#dropIfEmpty(roomId, room)
      else this.#letGo(roomId)
    }
  }

  async #openRoom (link: Link, claims: JoinClaims, attempt: ConnectAttempt): Promise<void> {
    const { room: roomId, sub: peerId } = claims
    // watch the room before anything else, so no event of the room's other nodes is missed
    const room = this.#localRoom(roomId)
    await this.backplane?.watch(roomId)
    if (attempt.lastSeq !== undefined) {
      const existing = room.peers.get(peerId)
      if (existing !== undefined && this.#canReplay(existing, attempt.lastSeq)) return await this.#resumeHere(link, existing, attempt.lastSeq)
      if (existing === undefined && this.backplane !== undefined) {
        const handoff = await this.#requestHandoff(roomId, peerId, attempt.lastSeq)
        if (handoff !== undefined) return await this.#resumeHandedOff(link, claims, handoff)
      }
      if (attempt.resumeOnly === true) throw signallingError('SESSION_EXPIRED', peerId)
    }
    await this.#join(link, claims)
  }

  #newPeer (claims: JoinClaims): LocalPeer {
    return new LocalPeer(claims.sub, claims.room, keptMetadata(claims.metadata), `${this.#nodeId}.${++this.#connections}`,
      new Date().toISOString(), this.#rate === false ? 0 : this.#rate.burst)
  }

  async #join (link: Link, claims: JoinClaims): Promise<void> {
    const peer = this.#newPeer(claims)
    const room = this.#localRoom(peer.roomId)
    const { replacedConnection } = await this.registry.join(peer.roomId, summaryOf(peer), peer.connection)
    const others = await this.#registeredPeers(room, peer.roomId)
    if (link.socket.readyState !== OPEN) {
      // gone during the join: undo it (a newer connection of the same peer keeps its place)
      await this.registry.leave(peer.roomId, peer.peerId, peer.connection)
      this.#dropIfEmpty(peer.roomId, room)
      return
    }
    this.#seat(link, peer, room, replacedConnection, others)
  }

  /** `#join` within the turn of the upgrade, with a registry that answers at once and no backplane. */
  #joinNow (link: Link, claims: JoinClaims, immediate: ImmediateRegistry): void {
    const peer = this.#newPeer(claims)
    const room = this.#localRoom(peer.roomId)
    try {
      const { replacedConnection } = immediate.join(peer.roomId, summaryOf(peer), peer.connection)
      // a socket handed over already closed would never report its close
      if (link.socket.readyState !== OPEN) {
        immediate.leave(peer.roomId, peer.peerId, peer.connection)
        return
      }
      this.#seat(link, peer, room, replacedConnection, immediate.peers(peer.roomId))
    } finally {
      // a join that failed leaves no room behind
      this.#dropIfEmpty(peer.roomId, room)
    }
  }

  /** The peer takes its place in the room, gets `welcome`, and the others hear of it. */
  #seat (link: Link, peer: LocalPeer, room: LocalRoom, replacedConnection: string | undefined, others: PeerSummary[]): void {
    const previous = room.peers.get(peer.peerId)
    if (previous !== undefined) {
      this.#forget(previous)
      previous.socket?.close(CloseCodes.REPLACED, 'replaced')
    } else if (replacedConnection !== undefined) {
      void this.backplane?.publish(peer.roomId, { kind: 'replaced', peerId: peer.peerId, connection: replacedConnection }).catch(() => {})
    }
    if (replacedConnection !== undefined) {
      room.peers.delete(peer.peerId)
      this.#announce(peer.roomId, { type: 'peer-left', peerId: peer.peerId, reason: 'replaced' }, peer.peerId)
      this.#tell('left', peer.roomId, peer.peerId, 'replaced')
    }
    room.peers.set(peer.peerId, peer)
    room.remote?.delete(peer.peerId)
    this.#learnRemote(room, others)
    this.#bind(link, peer, others, false)
    this.#metrics.joined()
    this.#announce(peer.roomId, { type: 'peer-joined', peer: { peerId: peer.peerId, metadata: peer.metadata } }, peer.peerId)
    this.#tell('joined', peer.roomId, summaryOf(peer))
    this.#flushPending(link, peer)
  }

  /**
   * The room's peers in the registry. With a backplane, the room's record is kept too, for `#resync` to restore after
   * an outage; without one nothing needs it, and reading it cost every join a Room object and a promise, and kept a
   * copy of the record per room.
   */
  async #registeredPeers (room: LocalRoom, roomId: string): Promise<PeerSummary[]> {
    if (this.backplane === undefined) return await this.registry.peers(roomId)
    const [others, record] = await Promise.all([this.registry.peers(roomId), this.registry.get(roomId)])
    if (record !== undefined) room.record = record
    return others
  }

  /** Gives the peer its socket and sends `welcome`. */
  #bind (link: Link, peer: LocalPeer, others: Array<{ peerId: string, metadata: Record<string, unknown> }>, resumed: boolean): void {
    peer.socket = link.socket
    peer.lastRead = -1
    link.peer = peer
    // written in one piece where it can be, as relayed frames are: ws.send built a Buffer, options and a writev
    sendText(link.socket, link.direct, JSON.stringify({
      type: 'welcome',
      peerId: peer.peerId,
      roomId: peer.roomId,
      peers: othersThan(peer.peerId, others),
      iceServers: this.#iceServers(peer.peerId).iceServers,
      resumed,
      // a literal rather than a spread: spreading at a site that sees many shapes gives each result its own shape
      resumeToken: this.#resumeToken === undefined || this.#resume.grace === 0
        ? undefined
        : this.#resumeToken(peer.peerId, peer.roomId, peer.metadata)
    } satisfies ServerMessage))
  }

  #flushPending (link: Link, peer: LocalPeer): void {
    const pending = link.pending
    if (pending === undefined) return
    link.pending = undefined
    for (const frame of pending) this.#onFrame(peer, frame.data, frame.isBinary)
  }

  #canReplay (peer: LocalPeer, lastSeq: number): boolean {
    return !peer.detached && lastSeq <= peer.seq && lastSeq >= peer.oldestSeq - 1 && peer.replayBytes <= this.#resume.maxBytes
  }

  /** The session is on this node: swap its socket and send what the client missed. */
  async #resumeHere (link: Link, peer: LocalPeer, lastSeq: number): Promise<void> {
    const others = await this.registry.peers(peer.roomId)
    if (link.socket.readyState !== OPEN) return
    if (!this.#canReplay(peer, lastSeq)) throw signallingError('SESSION_EXPIRED', peer.peerId)
    const old = peer.socket
    clearTimeout(peer.grace)
    peer.grace = undefined
    this.#bind(link, peer, others, true)
    // the old socket may not have noticed its end yet; its close no longer concerns the peer
    if (old !== undefined && old.readyState === OPEN) old.close(CloseCodes.REPLACED, 'replaced')
    this.#replayAfter(peer, lastSeq)
    this.#metrics.resumed()
    this.#flushPending(link, peer)
  }

  #replayAfter (peer: LocalPeer, lastSeq: number): void {
    for (let i = lastSeq - peer.oldestSeq + 1; i < peer.replay.length; i++) peer.socket?.send(peer.replay[i]!)
    this.#trimReplay(peer)
  }

  /** Asks the other nodes for a session; undefined when none hands it over in time. */
  async #requestHandoff (roomId: string, peerId: string, lastSeq: number): Promise<(Handoff & { requestId: string }) | undefined> {
    const backplane = this.backplane!
    const requestId = `${this.#nodeId}.${++this.#connections}`
    let timer: NodeJS.Timeout | undefined
    const handoff = new Promise<Handoff | undefined>((resolve) => {
      this.#handoffs.set(requestId, { roomId, peerId, echoed: false, queued: [], resolve })
      timer = setTimeout(() => resolve(undefined), this.#resume.handoffTimeout)
    })
    try {
      await backplane.publish(roomId, { kind: 'resume-request', peerId, requestId, lastSeq })
      const result = await handoff
      if (result === undefined || !result.ok) {
        this.#handoffs.delete(requestId)
        return undefined
      }
      return { ...result, requestId }
    } catch {
      this.#handoffs.delete(requestId)
      return undefined
    } finally {
      clearTimeout(timer)
    }
  }

  /** The session comes from another node: take its place in the registry, then replay and go live. */
  async #resumeHandedOff (link: Link, claims: JoinClaims, handoff: Handoff & { requestId: string }): Promise<void> {
    const wait = this.#handoffs.get(handoff.requestId)
    try {
      const peer = new LocalPeer(claims.sub, claims.room, handoff.metadata, `${this.#nodeId}.${++this.#connections}`,
        handoff.joinedAt, this.#rate === false ? 0 : this.#rate.burst)
      peer.seq = handoff.seq
      await this.registry.join(peer.roomId, { peerId: peer.peerId, metadata: peer.metadata, joinedAt: peer.joinedAt }, peer.connection)
      const room = this.#localRoom(peer.roomId)
      const others = await this.#registeredPeers(room, peer.roomId)
      if (link.socket.readyState !== OPEN) {
        // the client is gone again: keep the session here, in its grace period, as the old node would have
        room.peers.set(peer.peerId, peer)
        room.remote?.delete(peer.peerId)
        this.#learnRemote(room, others)
        peer.replay = handoff.frames
        // counted like the frames `#deliverOpen` keeps, so that the grace period's byte bound includes them
        peer.replayBytes = handoff.frames.reduce((bytes, frame) => bytes + frame.length, 0)
        for (const frame of wait?.queued ?? []) this.#deliver(peer, frame)
        return this.#enterGrace(peer)
      }
      room.peers.set(peer.peerId, peer)
      room.remote?.delete(peer.peerId)
      this.#learnRemote(room, others)
      this.#bind(link, peer, others, true)
      for (const frame of handoff.frames) link.socket.send(frame)
      // frames published after the request went out reached this node only: numbered from where the old node stopped
      for (const frame of wait?.queued ?? []) this.#deliver(peer, frame)
      this.#metrics.resumed()
      this.#flushPending(link, peer)
    } finally {
      this.#handoffs.delete(handoff.requestId)
    }
  }

  /** Another node asks for one of this node's sessions. */
  #handOver (roomId: string, peerId: string, requestId: string, lastSeq: number): void {
    const peer = this.#rooms.get(roomId)?.peers.get(peerId)
    if (peer === undefined || peer.detached) return
    const ok = this.#canReplay(peer, lastSeq)
    const frames = ok ? peer.replay.slice(lastSeq - peer.oldestSeq + 1) : []
    const reply = { ok, seq: peer.seq, frames, metadata: peer.metadata, joinedAt: peer.joinedAt }
    if (ok) {
      // from here on, the requesting node delivers to this peer; nothing is announced: the peer never left
      const room = this.#rooms.get(roomId)
      if (room !== undefined) remoteOf(room).set(peer.peerId, peer.metadata)
      this.#forget(peer)
      peer.socket?.close(CloseCodes.REPLACED, 'resumed elsewhere')
    }
    this.backplane?.publish(roomId, { kind: 'resume-reply', requestId, reply }).catch((err: unknown) => {
      this.#log.warn({ err, roomId }, 'hand-off reply not sent')
    })
  }

  #localRoom (roomId: string): LocalRoom {
    let room = this.#rooms.get(roomId)
    if (room === undefined) {
      // every field from the start: a field added later would give rooms a second shape
      room = { peers: new Map(), record: undefined, remote: undefined }
      this.#rooms.set(roomId, room)
    }
    return room
  }

  /** Records the room's peers on other nodes, from a registry listing the local peers were just given. */
  #learnRemote (room: LocalRoom, peers: Array<{ peerId: string, metadata: Record<string, unknown> }>): void {
    for (const { peerId, metadata } of peers) if (!room.peers.has(peerId)) remoteOf(room).set(peerId, metadata)
  }

  #dropIfEmpty (roomId: string, room: LocalRoom): void {
    if (room.peers.size > 0 || this.#rooms.get(roomId) !== room || this.#opening.has(roomId)) return
    this.#rooms.delete(roomId)
    this.#letGo(roomId)
  }

  /** Stops receiving the room's events, unless a join of it is under way. */
  #letGo (roomId: string): void {
    if (this.#opening.has(roomId) || this.#rooms.has(roomId)) return
    this.backplane?.unwatch(roomId).catch((err: unknown) => {
      this.#log.warn({ err, roomId }, 'room not unwatched; undone when the backplane is back')
    })
  }

  #onFrame (peer: LocalPeer, data: RawData, isBinary: boolean): void {
    if (peer.detached) return
    if (this.#rate !== false && !this.#take(peer, this.#rate)) return
    if (isBinary) return this.#sendError(peer, 'INVALID_MESSAGE', 'binary frames are not accepted')
    // the limit is in bytes, and checked before decoding: a frame of multi-byte characters has fewer characters than bytes
    if (byteLength(data) > MAX_FRAME_BYTES) {
      this.#metrics.refused('frame_size')
      return this.#closeAndLeave(peer, CloseCodes.MESSAGE_TOO_BIG, 'message too big', 'disconnected')
    }
    const text = data.toString()
    const direct = readDirectMessage(text)
    if (direct !== undefined) return this.#toPeer(peer, direct.to, direct.type, direct.dataJson, undefined)
    const parsed = parseClientMessage(text)
    if (!parsed.ok) return this.#sendError(peer, parsed.code, parsed.reason, parsed.id)
    this.#handle(peer, parsed.message)
  }

  #handle (peer: LocalPeer, message: ClientMessage): void {
    switch (message.type) {
      case 'ping':
        return this.#send(peer, { type: 'pong' })
      case 'ice-servers':
        return this.#send(peer, { type: 'ice-servers', ...this.#iceServers(peer.peerId) })
      case 'leave':
        return this.#closeAndLeave(peer, CloseCodes.NORMAL, 'left', 'left')
      case 'message':
        if (message.to === undefined) {
          this.#metrics.relayed('message')
          return this.#announce(peer.roomId, `${openRelayFrame('message', peer.peerId, dataJson(message.data))}}`, peer.peerId, peer, message.id)
        }
        return this.#toPeer(peer, message.to, message.type, dataJson(message.data), message.id)
      default:
        return this.#toPeer(peer, message.to, message.type, dataJson(message.data), message.id)
    }
  }

  /** `data` is JSON text (undefined: no `data`). */
  #toPeer (from: LocalPeer, to: string, type: string, data: string | undefined, id: string | number | undefined): void {
    if (to === from.peerId) return this.#sendError(from, 'PEER_NOT_FOUND', to, id)
    const open = openRelayFrame(type, from.peerId, data)
    const target = this.#rooms.get(from.roomId)?.peers.get(to)
    if (target !== undefined) {
      this.#metrics.relayed(type)
      return this.#deliverOpen(target, open)
    }
    if (this.backplane === undefined) return this.#sendError(from, 'PEER_NOT_FOUND', to, id)
    // one ordered round trip on the backplane both checks membership and publishes, so per-sender order holds
    this.backplane.sendToPeer(from.roomId, to, `${open}}`).then(
      (found) => {
        if (found) this.#metrics.relayed(type)
        else this.#sendError(from, 'PEER_NOT_FOUND', to, id)
      },
      () => this.#sendError(from, 'BACKPLANE_UNAVAILABLE', 'the peer is on another node', id)
    )
  }

  /** Numbers a frame for this peer, keeps it for a resume, and sends it if the peer is connected. */
  #deliver (peer: LocalPeer, frame: string): void {
    this.#deliverOpen(peer, frame.slice(0, -1))
  }

  /** `#deliver` for a frame still open (without its closing brace): `seq` is appended without copying the rest first. */
  #deliverOpen (peer: LocalPeer, open: string): void {
    if (peer.detached) return
    const numbered = `${open},"seq":${++peer.seq}}`
    // the first frame in an array literal of one: pushed to an empty array it reserved 17 slots (152 B), which a
    // peer that receives little (an idle one holds the `peer-joined` of its room's next peer) kept for good
    if (peer.replay.length === 0) peer.replay = [numbered]
    else peer.replay.push(numbered)
    peer.replayBytes += numbered.length
    const socket = peer.socket
    if (socket === undefined) {
      // in its grace period: past the bounds the resume is refused and the peer leaves
      if (peer.replay.length > this.#resume.maxMessages || peer.replayBytes > this.#resume.maxBytes) this.#endGrace(peer)
      return
    }
    // trimmed in batches (up to twice the window) so that a busy peer does not shift the array on every frame
    if (peer.replay.length > 2 * this.#resume.windowMessages || peer.replayBytes > this.#resume.windowBytes) this.#trimReplay(peer)
    if (socket.readyState !== OPEN) return
    sendText(socket, linkOf(socket).direct, numbered)
    // a peer that does not read must not make the server hold its messages without bound
    if (socket.bufferedAmount > this.#maxBufferedBytes) this.#onSlowConsumer(peer, socket)
  }

  #trimReplay (peer: LocalPeer): void {
    let drop = 0
    while (peer.replay.length - drop > this.#resume.windowMessages || peer.replayBytes > this.#resume.windowBytes) {
      peer.replayBytes -= peer.replay[drop]!.length
      drop++
    }
    if (drop > 0) peer.replay.splice(0, drop)
  }

  #send (peer: LocalPeer, message: ServerMessage): void {
    this.#deliver(peer, JSON.stringify(message))
  }

  /** Sends to every peer of the room but `except`, on this node and through the backplane on the others. */
  #announce (roomId: string, message: ServerMessage | string, except: string, sender?: LocalPeer, id?: string | number): void {
    const frame = typeof message === 'string' ? message : JSON.stringify(message)
    this.#toLocal(roomId, frame, except)
    this.backplane?.publish(roomId, { kind: 'broadcast', except, frame }).catch(() => {
      if (sender !== undefined) this.#sendError(sender, 'BACKPLANE_UNAVAILABLE', 'peers on other nodes were not reached', id)
    })
  }

  #toLocal (roomId: string, frame: string, except: string): void {
    const room = this.#rooms.get(roomId)
    if (room !== undefined) for (const peer of room.peers.values()) if (peer.peerId !== except) this.#deliver(peer, frame)
  }

  #onRemote (roomId: string, event: BackplaneEvent): void {
    if (event.kind === 'resume-request') {
      const wait = this.#handoffs.get(event.requestId)
      if (wait !== undefined) {
        wait.echoed = true
        return
      }
      return this.#handOver(roomId, event.peerId, event.requestId, event.lastSeq)
    }
    if (event.kind === 'resume-reply') return this.#handoffs.get(event.requestId)?.resolve(event.reply)
    if (event.kind === 'deliver' || event.kind === 'broadcast') this.#queueForHandoff(roomId, event)
    const room = this.#rooms.get(roomId)
    if (room === undefined) return
    if (event.kind === 'broadcast' && event.frame.startsWith('{"type":"peer-')) this.#notePresence(room, event.frame)
    switch (event.kind) {
      case 'deliver': {
        const peer = room.peers.get(event.to)
        if (peer !== undefined) this.#deliver(peer, event.frame)
        return
      }
      case 'broadcast':
        return this.#toLocal(roomId, event.frame, event.except)
      case 'kick': {
        const peer = room.peers.get(event.peerId)
        if (peer !== undefined) this.#closeAndLeave(peer, CloseCodes.KICKED, 'kicked', 'kicked')
        return
      }
      case 'replaced': {
        const peer = room.peers.get(event.peerId)
        if (peer === undefined || peer.connection !== event.connection) return
        // the node of the new connection announces the replacement
        this.#forget(peer)
        return peer.socket?.close(CloseCodes.REPLACED, 'replaced')
      }
      case 'close-room':
        return this.#closeLocalRoom(roomId)
    }
  }

  /** Keeps `remote` in step with the presence the local peers are told of. */
  #notePresence (room: LocalRoom, frame: string): void {
    const message = JSON.parse(frame) as ServerMessage
    if (message.type === 'peer-joined' && !room.peers.has(message.peer.peerId)) remoteOf(room).set(message.peer.peerId, message.peer.metadata)
    else if (message.type === 'peer-left') room.remote?.delete(message.peerId)
  }

  /** While a hand-off is under way, frames for the peer published after the request are kept for it. */
  #queueForHandoff (roomId: string, event: Extract<BackplaneEvent, { kind: 'deliver' | 'broadcast' }>): void {
    if (this.#handoffs.size === 0) return
    for (const wait of this.#handoffs.values()) {
      if (!wait.echoed || wait.roomId !== roomId) continue
      if (event.kind === 'deliver' ? event.to === wait.peerId : event.except !== wait.peerId) wait.queued.push(event.frame)
    }
  }

  #sendError (peer: LocalPeer, code: ErrorCode, detail: string, id?: string | number): void {
    this.#metrics.error(code)
    const message = errorMessage(code, detail)
    this.#send(peer, id === undefined ? { type: 'error', code, message } : { type: 'error', code, message, id })
  }

  #onClose (peer: LocalPeer, code: number): void {
    if (peer.detached) return
    // an abnormal close (no close frame: a dropped network) or a server restart keeps the peer's place for a while
    if ((code === 1006 || peer.restarting) && this.#resume.grace > 0) return this.#enterGrace(peer)
    this.#detach(peer, 'disconnected')
  }

  #enterGrace (peer: LocalPeer): void {
    peer.socket = undefined
    peer.restarting = false
    clearTimeout(peer.grace)
    peer.grace = setTimeout(() => this.#endGrace(peer), this.#resume.grace)
    peer.grace.unref()
  }

  #endGrace (peer: LocalPeer): void {
    clearTimeout(peer.grace)
    peer.grace = undefined
    this.#detach(peer, 'disconnected')
  }

  /** A listener's failure is logged, never the relay's. */
  #tell<E extends keyof RelayEvents> (event: E, ...args: Parameters<RelayEvents[E]>): void {
    const listener = this.#events?.[event] as ((...a: Parameters<RelayEvents[E]>) => void) | undefined
    if (listener === undefined) return
    try {
      listener(...args)
    } catch (err) {
      this.#log.error({ err, event }, 'event listener failed')
    }
  }

  #track (leaving: Promise<void>): void {
    this.#leaving.add(leaving)
    leaving.catch((err: unknown) => {
      this.#log.error({ err }, 'departure not handled')
    }).finally(() => this.#leaving.delete(leaving))
  }

  /** Removes a peer from this node without a word to anyone (it was replaced, or moved to another node). */
  #forget (peer: LocalPeer): void {
    peer.detached = true
    clearTimeout(peer.grace)
    peer.replay = []
    const room = this.#rooms.get(peer.roomId)
    if (room?.peers.get(peer.peerId) !== peer) return
    room.peers.delete(peer.peerId)
    this.#dropIfEmpty(peer.roomId, room)
  }

  /**
   * Removes a peer from its room once, and tells the others why. The registry's record goes at once where the
   * registry answers at once; otherwise it is tracked, so that closing the relay waits for it.
   */
  #detach (peer: LocalPeer, reason: LeaveReason): void {
    if (peer.detached) return
    const current = this.#rooms.get(peer.roomId)?.peers.get(peer.peerId) === peer
    this.#forget(peer)
    if (!current) return
    // called from socket events too: nothing may escape to ws
    try {
      this.#announce(peer.roomId, { type: 'peer-left', peerId: peer.peerId, reason }, peer.peerId)
      this.#tell('left', peer.roomId, peer.peerId, reason)
      if (this.#immediate !== undefined) this.#immediate.leave(peer.roomId, peer.peerId, peer.connection)
      else this.#track(this.#recordLeave(peer))
    } catch (err) {
      this.#log.error({ err, roomId: peer.roomId }, 'departure not handled')
    }
  }

  async #recordLeave (peer: LocalPeer): Promise<void> {
    try {
      await this.registry.leave(peer.roomId, peer.peerId, peer.connection)
    } catch (err) {
      // the backplane reconciles this node's peers when it comes back
      this.#log.warn({ err, roomId: peer.roomId }, 'leave not recorded')
    }
  }

  #closeAndLeave (peer: LocalPeer, code: number, why: string, reason: LeaveReason): void {
    const socket = peer.socket
    this.#detach(peer, reason)
    socket?.close(code, why)
  }

  /** Token bucket: true when the peer may send this message; drops and answers RATE_LIMITED otherwise. */
  #take (peer: LocalPeer, rate: MessageRate): boolean {
    // monotonic: a step of the wall clock neither fills nor empties the bucket
    const now = Math.floor(performance.now())
    peer.tokens = Math.min(rate.burst, peer.tokens + (now - peer.refilledAt) * rate.perSecond / 1000)
    peer.refilledAt = now
    if (peer.tokens >= 1) {
      peer.tokens -= 1
      return true
    }
    const second = Math.floor(now / 1000)
    if (second !== peer.droppedSecond) {
      // a second with more dropped than allowed messages counts as abuse; a calmer second forgives
      peer.abusiveSeconds = peer.dropped > rate.perSecond && second === peer.droppedSecond + 1 ? peer.abusiveSeconds + 1 : 0
      peer.droppedSecond = second
      peer.dropped = 0
    }
    peer.dropped++
    if (peer.abusiveSeconds >= rate.abuseSeconds) {
      this.#metrics.refused('message_abuse')
      this.#closeAndLeave(peer, CloseCodes.RATE_LIMITED, 'rate limit exceeded', 'disconnected')
      return false
    }
    this.#metrics.refused('message_rate')
    this.#sendError(peer, 'RATE_LIMITED', `more than ${rate.perSecond} messages per second`)
    return false
  }

  /** Closes a peer that does not read with 1013; the socket is cut if even the close frame cannot go out. */
  #onSlowConsumer (peer: LocalPeer, socket: WebSocket): void {
    this.#log.warn({ peerId: peer.peerId, roomId: peer.roomId, buffered: socket.bufferedAmount }, 'slow consumer closed')
    this.#metrics.refused('slow_consumer')
    this.#closeAndLeave(peer, CloseCodes.TRY_AGAIN_LATER, 'too slow to read', 'disconnected')
    setTimeout(() => { socket.terminate() }, 1000).unref()
  }

  /**
   * Pings every connected peer once per interval, a slice of the rooms at a time. A peer whose socket read nothing
   * since its last ping, not even the pong to it, is dropped. Counting what the socket read rather than listening for
   * `pong` spares every socket a fourth listener, which took its listener table from 160 to 256 bytes; and any frame
   * from the peer shows it is there. A round visits the rooms in the order they came, the same from round to round,
   * so a peer is pinged about one interval after its last ping; the last slice of a round takes whatever is left.
   */
  #beatSlice (): void {
    if (this.#beatRound === undefined) {
      this.#beatRound = this.#rooms.values()
      // at least a room per slice: a round that starts empty still reaches the rooms that fill during it
      this.#beatQuota = Math.max(1, Math.ceil(this.localPeerCount / this.#beatSlices))
      this.#beatSlicesLeft = this.#beatSlices
    }
    const last = --this.#beatSlicesLeft <= 0
    let budget = this.#beatQuota
    while (last || budget > 0) {
      const next = this.#beatRound.next()
      if (next.done === true) {
        this.#beatRound = undefined
        return
      }
      budget -= next.value.peers.size
      this.#beat(next.value)
    }
  }

  #beat (room: LocalRoom): void {
    for (const peer of room.peers.values()) {
      const socket = peer.socket
      if (socket === undefined) continue
      // a socket with no connection under it (injectWS's, within this process) cannot be half-open
      const read = bytesReadOf(socket)
      if (read === undefined) continue
      if (read === peer.lastRead) {
        // a half-open connection: silent for a whole interval already, so no grace period on top
        this.#detach(peer, 'timeout')
        socket.terminate()
        continue
      }
      peer.lastRead = read
      socket.ping()
    }
  }

  /**
   * After a backplane outage: re-register the peers this node still hosts, drop the records of those it lost, and
   * tell the local peers what they missed of the other nodes' peers. Rejects on failure: the backplane retries.
   */
  async #resync ({ storeLost }: Reconnection): Promise<void> {
    const backplane = this.backplane
    if (backplane === undefined) return
    const connections = new Set<string>()
    for (const [roomId, room] of [...this.#rooms]) {
      for (const peer of [...room.peers.values()]) {
        connections.add(peer.connection)
        if (room.record === undefined) continue
        const outcome = await backplane.restore({ room: room.record, peer: { peerId: peer.peerId, metadata: peer.metadata, joinedAt: peer.joinedAt }, connection: peer.connection })
        if (outcome === 'rejoined') {
          // the other nodes reported it gone while this node was cut off
          this.#announce(roomId, { type: 'peer-joined', peer: { peerId: peer.peerId, metadata: peer.metadata } }, peer.peerId)
        } else if (outcome === 'replaced') {
          this.#forget(peer)
          peer.socket?.close(CloseCodes.REPLACED, 'replaced')
        }
      }
      if (this.#rooms.get(roomId) !== room || room.peers.size === 0) {
        this.#dropIfEmpty(roomId, room)
        continue
      }
      await this.#catchUpPresence(roomId, room, storeLost)
    }
    // peers that left during the outage: this node's own peers were told then, the other nodes' were not
    const gone = await backplane.forgetOthers(connections)
    for (const { roomId, peerId } of gone) {
      await backplane.publish(roomId, { kind: 'broadcast', except: peerId, frame: JSON.stringify({ type: 'peer-left', peerId, reason: 'disconnected' }) })
    }
    this.#log.info({ rooms: this.#rooms.size, peers: connections.size, forgotten: gone.length }, 'resynchronised with the backplane')
  }

  /** Announces to the local peers of a room the other nodes' peers that came or went while this node was cut off. */
  async #catchUpPresence (roomId: string, room: LocalRoom, storeLost: boolean): Promise<void> {
    const registered = await this.registry.peers(roomId)
    if (this.#rooms.get(roomId) !== room) return
    const now = new Map<string, Record<string, unknown>>()
    for (const { peerId, metadata } of registered) if (!room.peers.has(peerId)) now.set(peerId, metadata)
    // after Redis lost its data, the other nodes' peers come back as those nodes re-register them: absence proves nothing
    if (!storeLost) {
      for (const peerId of room.remote?.keys() ?? []) {
        if (!now.has(peerId)) this.#toLocal(roomId, JSON.stringify({ type: 'peer-left', peerId, reason: 'disconnected' } satisfies ServerMessage), '')
      }
    }
    for (const [peerId, metadata] of now) {
      if (room.remote?.has(peerId) !== true) this.#toLocal(roomId, JSON.stringify({ type: 'peer-joined', peer: { peerId, metadata } } satisfies ServerMessage), '')
    }
    if (storeLost && room.remote !== undefined) for (const [peerId, metadata] of room.remote) if (!now.has(peerId)) now.set(peerId, metadata)
    room.remote = now
  }

  /**
   * A message from the app's backend: `{"type":"message","from":SERVER_SENDER,"data"}` to peer `to` of the room, or
   * to every peer of it, on whichever node they are. Throws PEER_NOT_FOUND when `to` is in the room on no node.
   */
  async send (roomId: string, data: unknown, to?: string): Promise<void> {
    if (await this.registry.get(roomId) === undefined) throw signallingError('ROOM_NOT_FOUND', roomId)
    const frame = `${openRelayFrame('message', SERVER_SENDER, dataJson(data))}}`
    if (to === undefined) return this.#announceOrThrow(roomId, frame)
    const peer = this.#rooms.get(roomId)?.peers.get(to)
    if (peer !== undefined) return this.#deliver(peer, frame)
    if (this.backplane === undefined) throw signallingError('PEER_NOT_FOUND', to)
    const found = await this.backplane.sendToPeer(roomId, to, frame).catch(() => {
      throw signallingError('BACKPLANE_UNAVAILABLE', 'the node of the peer cannot be reached')
    })
    if (!found) throw signallingError('PEER_NOT_FOUND', to)
  }

  async #announceOrThrow (roomId: string, frame: string): Promise<void> {
    this.#toLocal(roomId, frame, '')
    await this.backplane?.publish(roomId, { kind: 'broadcast', except: '', frame }).catch(() => {
      throw signallingError('BACKPLANE_UNAVAILABLE', 'peers on other nodes were not reached')
    })
  }

  /** Closes a peer's socket with 4403; the others see `peer-left` with reason `kicked`. */
  async kick (roomId: string, peerId: string): Promise<void> {
    if (await this.registry.get(roomId) === undefined) throw signallingError('ROOM_NOT_FOUND', roomId)
    const peer = this.#rooms.get(roomId)?.peers.get(peerId)
    if (peer === undefined && (this.backplane === undefined || !await this.registry.hasPeer(roomId, peerId))) {
      throw signallingError('PEER_NOT_FOUND', peerId)
    }
    // recorded first, so that the kicked client cannot come straight back with the token it holds
    await this.registry.recordKick(roomId, peerId, Math.floor(Date.now() / 1000))
    if (peer !== undefined) return this.#closeAndLeave(peer, CloseCodes.KICKED, 'kicked', 'kicked')
    await this.backplane!.publish(roomId, { kind: 'kick', peerId }).catch(() => {
      throw signallingError('BACKPLANE_UNAVAILABLE', 'the node of the peer cannot be reached')
    })
  }

  /** Deletes a room: every peer gets `room-closed`, then its socket is closed with 4404. */
  async closeRoom (roomId: string): Promise<void> {
    if (!await this.registry.delete(roomId)) throw signallingError('ROOM_NOT_FOUND', roomId)
    this.#closeLocalRoom(roomId)
    await this.backplane?.publish(roomId, { kind: 'close-room' }).catch((err: unknown) => {
      this.#log.warn({ err, roomId }, 'room deletion not sent to the other nodes')
    })
  }

  #closeLocalRoom (roomId: string): void {
    const room = this.#rooms.get(roomId)
    if (room === undefined) return
    for (const peer of [...room.peers.values()]) {
      this.#send(peer, { type: 'room-closed', roomId })
      const socket = peer.socket
      this.#forget(peer)
      socket?.close(CloseCodes.ROOM_CLOSED, 'room closed')
      // the room is gone already; this only clears the node's own bookkeeping
      void this.registry.leave(roomId, peer.peerId, peer.connection).catch(() => {})
    }
    this.#rooms.delete(roomId)
    this.#letGo(roomId)
  }

  /** Number of peers of this node, connected or in their grace period. */
  get localPeerCount (): number {
    let count = 0
    for (const room of this.#rooms.values()) count += room.peers.size
    return count
  }

  /** Number of rooms with peers on this node. */
  get localRoomCount (): number {
    return this.#rooms.size
  }

  /**
   * Graceful shutdown, step one: refuse new peers and close every socket with 1012 (service restart) so that
   * clients reconnect, to another node behind the load balancer. Frames already queued go out before the
   * close frame. With a backplane, the sessions wait (up to `timeout` ms) for their clients to resume on
   * another node, which takes them over; without one there is nowhere to resume, so only the closes are awaited.
   */
  async drain (timeout = 5000): Promise<void> {
    this.#draining = true
    const deadline = Date.now() + timeout
    for (const room of this.#rooms.values()) {
      for (const peer of room.peers.values()) {
        peer.restarting = true
        peer.socket?.close(CloseCodes.SERVICE_RESTART, 'server restarting')
      }
    }
    const waitingFor = (): boolean => {
      for (const room of this.#rooms.values()) {
        for (const peer of room.peers.values()) if (peer.socket !== undefined || this.backplane !== undefined) return true
      }
      return false
    }
    while (waitingFor() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
    for (const room of this.#rooms.values()) for (const peer of room.peers.values()) peer.socket?.terminate()
  }

  get draining (): boolean {
    return this.#draining
  }

  /** Stops the heartbeat, records the departure of every peer still here, and closes the registry. */
  async close (): Promise<void> {
    clearInterval(this.#heartbeat)
    for (const room of [...this.#rooms.values()]) {
      for (const peer of [...room.peers.values()]) this.#closeAndLeave(peer, CloseCodes.SERVICE_RESTART, 'server restarting', 'disconnected')
    }
    this.#rooms.clear()
    for (const wait of this.#handoffs.values()) wait.resolve(undefined)
    await Promise.all(this.#leaving)
    await this.registry.close()
  }
}

/**
 * A relayed frame without its closing brace; `data` is JSON text. `type` is one of the protocol's and `from` a peer
 * id (A-Z a-z 0-9 _ -): neither needs escaping.
 */
/** The sender of messages from the app's backend: not a peer id (ids are A-Z a-z 0-9 _ -), so no peer can be it. */
export const SERVER_SENDER = '@server'

function openRelayFrame (type: string, from: string, data: string | undefined): string {
  return `{"type":"${type}","from":"${from}"${data === undefined ? '' : `,"data":${data}`}`
}

/** `data` of a parsed message as JSON text; it comes from JSON.parse and may be nested deeper than JSON.stringify can recurse. */
function dataJson (data: unknown): string | undefined {
  return data === undefined ? undefined : stringifyJson(data)
}

/** JSON.stringify for values made by JSON.parse, falling back to an explicit stack when recursion runs out. */
export function stringifyJson (value: unknown): string {
  try {
    return JSON.stringify(value)
  } catch (err) {
    if (!(err instanceof RangeError)) throw err
  }
  const out: string[] = []
  const tasks: Array<{ value: unknown } | { text: string }> = [{ value }]
  while (tasks.length > 0) {
    const task = tasks.pop()!
    if ('text' in task) {
      out.push(task.text)
      continue
    }
    const v = task.value
    if (v === null || typeof v !== 'object') {
      out.push(JSON.stringify(v) ?? 'null')
    } else if (Array.isArray(v)) {
      out.push('[')
      tasks.push({ text: ']' })
      for (let i = v.length - 1; i >= 0; i--) {
        tasks.push({ value: v[i] })
        if (i > 0) tasks.push({ text: ',' })
      }
    } else {
      const keys = Object.keys(v)
      out.push('{')
      tasks.push({ text: '}' })
      for (let i = keys.length - 1; i >= 0; i--) {
        tasks.push({ value: (v as Record<string, unknown>)[keys[i]!] })
        tasks.push({ text: `${JSON.stringify(keys[i])}:` })
        if (i > 0) tasks.push({ text: ',' })
      }
    }
  }
  return out.join('')
}

/** Size of a frame as received, without decoding it. */
function byteLength (data: RawData): number {
  if (Array.isArray(data)) {
    let total = 0
    for (const chunk of data) total += chunk.length
    return total
  }
  return data instanceof ArrayBuffer ? data.byteLength : data.length
}

function closeCodeFor (code: ErrorCode): number {
  switch (code) {
    case 'ROOM_FULL': return CloseCodes.ROOM_FULL
    case 'ROOM_NOT_FOUND': return CloseCodes.ROOM_CLOSED
    case 'SESSION_EXPIRED': return CloseCodes.SESSION_EXPIRED
    case 'BACKPLANE_UNAVAILABLE': return CloseCodes.TRY_AGAIN_LATER
    default: return 1011
  }
}
