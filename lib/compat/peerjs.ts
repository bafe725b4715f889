// The PeerJS protocol (peerjs 1.5 client, peer 1.0 server) translated to the relay's: one session per PeerJS socket,
// served by the relay through a RelaySocket, with the reference server's queue for peers not connected yet.
import { createHmac, timingSafeEqual } from 'node:crypto'
import { ID_PATTERN } from '../protocol.js'
import { RelaySocket } from '../relay-socket.js'

/** The message types of peer 1.0's `src/enums.ts` (and peerjs's `ServerMessageType`). */
export const PeerjsType = {
  OPEN: 'OPEN',
  LEAVE: 'LEAVE',
  CANDIDATE: 'CANDIDATE',
  OFFER: 'OFFER',
  ANSWER: 'ANSWER',
  EXPIRE: 'EXPIRE',
  HEARTBEAT: 'HEARTBEAT',
  ID_TAKEN: 'ID-TAKEN',
  ERROR: 'ERROR'
} as const

/** The reference server's error texts, sent as `ERROR` with `payload.msg`. */
export const PeerjsErrors = {
  INVALID_KEY: 'Invalid key provided',
  INVALID_TOKEN: 'Invalid token provided',
  INVALID_WS_PARAMETERS: 'No id, token, or key supplied to websocket server',
  CONNECTION_LIMIT_EXCEED: 'Server has reached its concurrent user limit'
} as const

export interface PeerjsLimits {
  /** ms a queued message waits for its recipient before the sender gets EXPIRE (peer: `expire_timeout`, 5000). */
  expireTimeout: number
  /** ms without a frame from the client before its socket is closed (peer: `alive_timeout`, 90000). */
  aliveTimeout: number
  /** Queued messages per sender, and on this node in all. */
  queuePerSender: number
  queueTotal: number
}

export const DEFAULT_PEERJS_LIMITS: PeerjsLimits = { expireTimeout: 5000, aliveTimeout: 90_000, queuePerSender: 100, queueTotal: 10_000 }

/** How often expiries and liveness are checked (peer checks its queue every second). */
export const SWEEP_INTERVAL = 1000
/** Relayed messages kept per session to match a later PEER_NOT_FOUND by its `id`. */
const RECENT_MAX = 256

/** An endpoint's path: segments of A-Z a-z 0-9 . _ ~ -, not `/` (whose `/{key}/id` would take every route's place). */
export const PEERJS_PATH = /^(\/[A-Za-z0-9._~-]+)+$/

const PEER_ID = new RegExp(ID_PATTERN)
export const isPeerId = (id: string): boolean => PEER_ID.test(id)

/** `ERROR` as the reference server writes it; `code` is ours (the client reads `payload.msg` only). */
export function errorFrame (msg: string, code?: string): string {
  return JSON.stringify({ type: PeerjsType.ERROR, payload: code === undefined ? { msg } : { msg, code } })
}

export const ID_TAKEN_FRAME = JSON.stringify({ type: PeerjsType.ID_TAKEN, payload: { msg: 'ID is taken' } })
const OPEN_FRAME = JSON.stringify({ type: PeerjsType.OPEN })

/** A digest of a client's reclaim token under a server secret (with a label of its own): the token itself is never kept. */
export function reclaimDigest (secret: string, token: string): string {
  return createHmac('sha256', secret).update('peerjs-reclaim\0').update(token).digest('base64url')
}

export function sameDigest (a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

const TO_RELAY: Record<string, 'offer' | 'answer' | 'candidate' | 'bye'> = {
  OFFER: 'offer', ANSWER: 'answer', CANDIDATE: 'candidate', LEAVE: 'bye'
}
const FROM_RELAY: Record<string, string> = { offer: 'OFFER', answer: 'ANSWER', candidate: 'CANDIDATE', bye: 'LEAVE' }

/** Why the relay ended a session, told to the client in `ERROR` before its socket closes. */
const CLOSE_REASONS: Record<number, { msg: string, code: string }> = {
  1009: { msg: 'Frame too large (at most 64 KiB)', code: 'INVALID_MESSAGE' },
  4403: { msg: 'Removed from the room', code: 'KICKED' },
  4404: { msg: 'The room was deleted', code: 'ROOM_NOT_FOUND' },
  4409: { msg: 'The id was taken over by a new connection with the same token', code: 'REPLACED' },
  4413: { msg: 'The room is full', code: 'ROOM_FULL' },
  4429: { msg: 'Message rate limit exceeded for too long', code: 'RATE_LIMITED' }
}

interface Pending { dst: string, type: string, payload: unknown, at: number }

export interface SessionHandlers {
  /** A PeerJS frame for the client. */
  send: (text: string) => void
  /** End the client's socket with this code (1005: a close without a code, 1006: drop it). */
  close: (code: number, reason: string) => void
  /** Bytes not yet written to the client. */
  bufferedAmount?: () => number
}

/** The sessions of one endpoint on this node: their queues' total, expiries and liveness, on one timer. */
export class PeerjsEndpoint {
  readonly limits: PeerjsLimits
  readonly sessions = new Set<PeerjsSession>()
  queued = 0
  readonly #timer: NodeJS.Timeout

  constructor (limits: Partial<PeerjsLimits> = {}) {
    this.limits = { ...DEFAULT_PEERJS_LIMITS, ...limits }
    this.#timer = setInterval(() => { this.sweep(Date.now()) }, SWEEP_INTERVAL)
    this.#timer.unref()
  }

  /** A session for a client whose id is `peerId`; give `relaySocket` to `Relay.connect`. */
  open (peerId: string, handlers: SessionHandlers): PeerjsSession {
    const session = new PeerjsSession(this, peerId, handlers)
    this.sessions.add(session)
    return session
  }

  sweep (now: number): void {
    for (const session of this.sessions) session.sweep(now)
  }

  close (): void {
    clearInterval(this.#timer)
  }
}

export class PeerjsSession {
  readonly relaySocket: RelaySocket
  readonly peerId: string
  /** Set by the endpoint's clock; any frame from the client counts as a sign of life. */
  lastSeen = Date.now()
  readonly #endpoint: PeerjsEndpoint
  readonly #handlers: SessionHandlers
  readonly #recent = new Map<number, Pending>()
  #queue: Pending[] = []
  #nextId = 0
  #opened = false
  #told = false
  #ended = false

  constructor (endpoint: PeerjsEndpoint, peerId: string, handlers: SessionHandlers) {
    this.#endpoint = endpoint
    this.peerId = peerId
    this.#handlers = handlers
    this.relaySocket = new RelaySocket({
      frame: (text) => { this.#fromRelay(text) },
      closed: (code) => { this.#closedByRelay(code) },
      bufferedAmount: handlers.bufferedAmount
    })
  }

  get queued (): number {
    return this.#queue.length
  }

  /** A frame from the PeerJS client. Never throws: a bad frame is answered `ERROR`. */
  fromClient (data: string | Buffer, isBinary: boolean): void {
    if (this.#ended) return
    this.lastSeen = Date.now()
    if (isBinary) return this.#refuse('INVALID_MESSAGE', 'binary frames are not part of the protocol')
    let message: unknown
    try {
      message = JSON.parse(String(data))
    } catch {
      return this.#refuse('INVALID_MESSAGE', 'not valid JSON')
    }
    if (typeof message !== 'object' || message === null || Array.isArray(message)) return this.#refuse('INVALID_MESSAGE', 'not a JSON object')
    const { type, dst, payload } = message as { type?: unknown, dst?: unknown, payload?: unknown }
    if (typeof type !== 'string') return this.#refuse('INVALID_MESSAGE', '`type` must be a string')
    if (type === PeerjsType.HEARTBEAT) return
    // the reference relays EXPIRE between clients, which never send it; nothing here can carry it
    if (type === PeerjsType.EXPIRE) return
    if (TO_RELAY[type] === undefined) return this.#refuse('UNKNOWN_TYPE', type.slice(0, 64))
    if (dst === undefined && type === PeerjsType.LEAVE) {
      // the reference forgets a client that leaves without `dst`; here its session ends
      this.relaySocket.receive('{"type":"leave"}')
      return
    }
    if (typeof dst !== 'string' || dst === '') return this.#refuse('INVALID_MESSAGE', '`dst` must be a peer id')
    const pending: Pending = { dst, type, payload, at: Date.now() }
    // no peer of this server can have an id outside ID_PATTERN: it waits, and expires, as for an absent peer
    if (!isPeerId(dst)) return this.#enqueue(pending)
    this.#relay(pending)
  }

  /** The client's socket is gone: the peer leaves its room at once, as the reference server forgets it. */
  end (): void {
    if (this.#ended) return
    this.#ended = true
    this.#endpoint.queued -= this.#queue.length
    this.#queue = []
    this.#recent.clear()
    this.#endpoint.sessions.delete(this)
    this.relaySocket.end(1000)
  }

  /** Expires queued messages (one EXPIRE per recipient) and closes a client silent for too long. */
  sweep (now: number): void {
    const { expireTimeout, aliveTimeout } = this.#endpoint.limits
    if (now - this.lastSeen >= aliveTimeout) {
      this.#handlers.close(1005, 'timeout')
      return this.end()
    }
    for (const [id, pending] of this.#recent) {
      if (now - pending.at < expireTimeout) break
      this.#recent.delete(id)
    }
    if (this.#queue.length === 0) return
    const expired = new Set<string>()
    for (const pending of this.#queue) if (now - pending.at >= expireTimeout) expired.add(pending.dst)
    if (expired.size === 0) return
    this.#drop((pending) => expired.has(pending.dst))
    for (const dst of expired) this.#send({ type: PeerjsType.EXPIRE, src: dst, dst: this.peerId })
  }

  #relay (pending: Pending): void {
    const id = ++this.#nextId
    this.#recent.set(id, pending)
    if (this.#recent.size > RECENT_MAX) this.#recent.delete(this.#recent.keys().next().value!)
    const relayType = TO_RELAY[pending.type]!
    const data = pending.payload === undefined ? (relayType === 'bye' ? undefined : null) : pending.payload
    this.relaySocket.receive(JSON.stringify({ type: relayType, to: pending.dst, data, id }))
  }

  #enqueue (pending: Pending): void {
    // the reference queues neither LEAVE nor EXPIRE for an absent peer
    if (pending.type === PeerjsType.LEAVE) return
    const { queuePerSender, queueTotal } = this.#endpoint.limits
    if (this.#queue.length >= queuePerSender || this.#endpoint.queued >= queueTotal) {
      // no room to wait: the sender learns at once what it would have learnt at the expiry
      this.#drop((queued) => queued.dst === pending.dst)
      return this.#send({ type: PeerjsType.EXPIRE, src: pending.dst, dst: this.peerId })
    }
    this.#queue.push(pending)
    this.#endpoint.queued++
  }

  #drop (which: (pending: Pending) => boolean): void {
    const kept = this.#queue.filter((pending) => !which(pending))
    this.#endpoint.queued -= this.#queue.length - kept.length
    this.#queue = kept
  }

  /** The messages that waited for `peerId`, which just joined, go to it in order. */
  #flush (peerId: string): void {
    const ready = this.#queue.filter((pending) => pending.dst === peerId)
    if (ready.length === 0) return
    this.#drop((pending) => pending.dst === peerId)
    for (const pending of ready) this.#relay(pending)
  }

  #fromRelay (text: string): void {
    if (this.#ended) return
    let message: { type: string, from?: string, data?: unknown, code?: string, message?: string, id?: unknown, peer?: { peerId: string } }
    try {
      message = JSON.parse(text)
    } catch {
      return
    }
    switch (message.type) {
      case 'welcome':
        this.#opened = true
        return this.#handlers.send(OPEN_FRAME)
      case 'offer':
      case 'answer':
      case 'candidate':
      case 'bye': {
        const frame: Record<string, unknown> = { type: FROM_RELAY[message.type], src: message.from, dst: this.peerId }
        if (message.data !== undefined) frame.payload = message.data
        return this.#send(frame)
      }
      case 'peer-joined':
        return this.#flush(message.peer!.peerId)
      case 'error': {
        const pending = typeof message.id === 'number' ? this.#recent.get(message.id) : undefined
        if (pending !== undefined) this.#recent.delete(message.id as number)
        if (pending !== undefined && message.code === 'PEER_NOT_FOUND') return this.#enqueue(pending)
        if (!this.#opened) this.#told = true
        return this.#handlers.send(errorFrame(message.message ?? 'error', message.code))
      }
      default:
        // presence, pongs, room-closed (the close follows) and messages of /ws peers have no PeerJS form
    }
  }

  #closedByRelay (code: number): void {
    if (this.#ended) return
    const reason = CLOSE_REASONS[code]
    if (reason !== undefined && !this.#told) this.#handlers.send(errorFrame(reason.msg, reason.code))
    this.#handlers.close(code, reason?.code ?? '')
    this.end()
  }

  #refuse (code: string, detail: string): void {
    this.#handlers.send(errorFrame(`${code === 'UNKNOWN_TYPE' ? 'Unknown message type' : 'Invalid message'}: ${detail}`, code))
  }

  #send (frame: Record<string, unknown>): void {
    this.#handlers.send(JSON.stringify(frame))
  }
}
