// The WebSocket side of the SDK: one connection to `/ws`, typed events and send helpers, reconnection.
import { TypedEmitter } from './typed-emitter.js'
import {
  DEFAULT_RECONNECT_OPTIONS,
  backoffDelay,
  isFatalCloseCode,
  isFatalUpgradeStatus,
  NO_ANSWER,
  SESSION_EXPIRED,
  type ReconnectOptions
} from './reconnect-policy.js'
import type {
  ClientMessage,
  ErrorMessage,
  IceServersMessage,
  MessageId,
  PeerInfo,
  PeerJoinedMessage,
  PeerLeftMessage,
  PeerUpdatedMessage,
  PongMessage,
  RelayedMessage,
  RoomClosedMessage,
  ServerMessage,
  WelcomeMessage
} from './protocol.js'

/**
 * The part of the WebSocket API the client uses. The browser's `WebSocket` and the `ws` package's
 * default export both fit; event handlers are set through the `on*` properties both implement.
 */
export interface WebSocketLike {
  readonly readyState: number
  send (data: string): void
  close (code?: number, reason?: string): void
}

export type WebSocketConstructor = new (url: string) => WebSocketLike

/**
 * A join token, or a function that supplies one. The function is called each time the client joins with
 * the join token (the first connection, reconnections before the first `welcome`, and the fresh join after
 * the server refused a resume with 4410), so that it can fetch a token that has not expired.
 */
export type TokenSource = string | (() => string | Promise<string>)

export interface SignallingClientOptions {
  /** The `/ws` URL, e.g. `wss://example.com/ws`. Its query parameters are kept; `token` is added. */
  url: string
  /** A join token from `POST /rooms/{roomId}/tokens` (or the host app's `issueToken`), or a function returning one. */
  token: TokenSource
  /** WebSocket implementation; default `globalThis.WebSocket`. In Node 20 pass `ws`'s default export. */
  WebSocket?: WebSocketConstructor
  /** Reconnection after an abnormal close; `false` disables it. Missing fields take the defaults. */
  reconnect?: Partial<ReconnectOptions> | false
  /**
   * How long `request()` waits for an `error` carrying its id before it counts the message as accepted,
   * in ms. Default 1000.
   */
  requestTimeout?: number
  /** Random source for the backoff jitter, [0, 1). Default `Math.random`; injectable for tests. */
  random?: () => number
  /**
   * Detects a connection that died without a close (a half-open socket after a network change, which a
   * browser may take minutes to notice): after `interval` ms without a message the client sends `ping`, and
   * after `timeout` ms more without one it drops the socket (close code 4000) and reconnects, resuming the
   * session. Default `{ interval: 25000, timeout: 10000 }`; `false` turns it off.
   */
  keepalive?: Partial<KeepaliveOptions> | false
}

export interface KeepaliveOptions {
  interval: number
  timeout: number
}

export const DEFAULT_KEEPALIVE: Readonly<KeepaliveOptions> = Object.freeze({ interval: 25_000, timeout: 10_000 })

export interface CloseEvent {
  code: number
  reason: string
  /** True when the client will try again; `reconnecting` follows with the delay. */
  willReconnect: boolean
  /** The HTTP status of a refused upgrade, when the WebSocket implementation exposes it (`ws` does). */
  httpStatus?: number
}

// A type alias rather than an interface, so that it satisfies the emitter's `Record<string, unknown>`.
export type SignallingClientEvents = {
  /** The socket opened; `welcome` follows. */
  open: void
  close: CloseEvent
  reconnecting: { attempt: number, delay: number }
  welcome: WelcomeMessage
  'peer-joined': PeerJoinedMessage
  'peer-left': PeerLeftMessage
  /** A peer's metadata changed (this peer's own too); `peers` already holds the new metadata. */
  'peer-updated': PeerUpdatedMessage
  offer: RelayedMessage<'offer'>
  answer: RelayedMessage<'answer'>
  candidate: RelayedMessage<'candidate'>
  bye: RelayedMessage<'bye'>
  message: RelayedMessage<'message'>
  /** An `error` message from the server (also emitted when a `request()` rejects because of it). */
  error: ErrorMessage
  'room-closed': RoomClosedMessage
  pong: PongMessage
  /** Fresh STUN/TURN settings, the answer to `refreshIceServers()`. */
  'ice-servers': IceServersMessage
}

export type ClientState = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closing' | 'closed'

/** Why a `request()` failed: the server's error code, or NOT_CONNECTED / CONNECTION_CLOSED. */
export class RequestError extends Error {
  readonly code: string
  readonly id: MessageId | undefined

  constructor (code: string, message: string, id?: MessageId) {
    super(message)
    this.name = 'RequestError'
    this.code = code
    this.id = id
  }
}

/** Why `connect()` gave up before the first `welcome`. */
export class ConnectError extends Error {
  readonly code: number
  readonly reason: string
  readonly httpStatus: number | undefined

  constructor (event: CloseEvent) {
    const status = event.httpStatus === undefined ? '' : `, HTTP ${event.httpStatus}`
    super(`Connection closed before welcome (code ${event.code}${status})`)
    this.name = 'ConnectError'
    this.code = event.code
    this.reason = event.reason
    this.httpStatus = event.httpStatus
  }
}

// What the client reads from a socket, set through `on*` properties (present in browsers and `ws`).
interface SocketInternals extends WebSocketLike {
  onopen: ((event: unknown) => void) | null
  onmessage: ((event: { data: unknown }) => void) | null
  onclose: ((event: { code: number, reason: string }) => void) | null
  onerror: ((event: unknown) => void) | null
  // Node's `ws` only: the HTTP response of a refused upgrade.
  on?: (event: 'unexpected-response', listener: (req: unknown, res: { statusCode?: number }) => void) => unknown
}

interface Deferred<T> {
  promise: Promise<T>
  resolve: (value: T) => void
  reject: (err: Error) => void
}

interface PendingRequest {
  resolve: () => void
  reject: (err: RequestError) => void
  timer: ReturnType<typeof setTimeout>
}

const OPEN = 1

function describeError (err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err)
}

/** `from` of a message sent by the app's backend (POST /rooms/{id}/messages): no peer can have this id. */
export const SERVER_SENDER = '@server'

const SERVER_TYPES = new Set<string>([
  'welcome', 'peer-joined', 'peer-left', 'peer-updated', 'offer', 'answer', 'candidate', 'bye', 'message', 'error',
  'room-closed', 'pong', 'ice-servers'
])

/**
 * A connection to the signalling server. `connect()` resolves with the first `welcome`; the client then
 * reconnects by itself after abnormal closes (see `ReconnectOptions` and `FATAL_CLOSE_CODES`) and emits
 * `welcome` again each time.
 *
 * Send helpers are fire-and-forget and return false when the socket is not open. `request()` sends a
 * message with an `id` and settles once the server had a chance to refuse it: the server answers only
 * errors, so a message with no `error` for its id within `requestTimeout` counts as accepted.
 */
export class SignallingClient extends TypedEmitter<SignallingClientEvents> {
  readonly #url: string
  readonly #token: TokenSource
  /** The last `seq` received and the resume token: a reconnection resumes the session from there. */
  #lastSeq = 0
  #resumeToken: string | undefined
  #startOver = false
  /**
   * A session exists that a reconnection can resume: from a `welcome` until the server says it cannot be
   * resumed (4410). Without one, closes before open may be a refused upgrade (see `maxFailedOpens`).
   */
  #hasSession = false
  readonly #WebSocket: WebSocketConstructor
  readonly #reconnect: ReconnectOptions | false
  readonly #requestTimeout: number
  readonly #random: () => number

  #state: ClientState = 'idle'
  #socket: SocketInternals | undefined
  #attempt = 0
  #failedOpens = 0
  #reconnectTimer: ReturnType<typeof setTimeout> | undefined
  #leaveTimer: ReturnType<typeof setTimeout> | undefined
  readonly #keepalive: KeepaliveOptions | false
  #keepaliveTimer: ReturnType<typeof setTimeout> | undefined
  /** When the open socket last delivered a message (ms). */
  #lastHeard = 0
  /** A keepalive `ping` went out and nothing has come back since. */
  #awaitingSign = false
  #nextId = 1
  readonly #pending = new Map<MessageId, PendingRequest>()
  #welcome: WelcomeMessage | undefined
  readonly #peers = new Map<string, PeerInfo>()
  #connectWaiter: Deferred<WelcomeMessage> | undefined
  #closeWaiters: Array<() => void> = []

  constructor (options: SignallingClientOptions) {
    super()
    const url = new URL(options.url)
    this.#token = options.token
    this.#url = url.toString()
    const Impl = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket
    if (Impl === undefined) {
      throw new TypeError('No global WebSocket: pass one, e.g. the `ws` package\'s default export')
    }
    this.#WebSocket = Impl
    this.#reconnect = options.reconnect === false ? false : { ...DEFAULT_RECONNECT_OPTIONS, ...options.reconnect }
    this.#requestTimeout = options.requestTimeout ?? 1000
    this.#random = options.random ?? Math.random
    this.#keepalive = options.keepalive === false ? false : { ...DEFAULT_KEEPALIVE, ...options.keepalive }
  }

  get state (): ClientState { return this.#state }
  /** This peer's id, known after the first `welcome`. */
  get peerId (): string | undefined { return this.#welcome?.peerId }
  get roomId (): string | undefined { return this.#welcome?.roomId }
  /** The latest `welcome`, if any. */
  get welcome (): WelcomeMessage | undefined { return this.#welcome }
  /** The other peers in the room as currently known (from `welcome`, `peer-joined`, `peer-left`). */
  get peers (): ReadonlyMap<string, PeerInfo> { return this.#peers }

  /**
   * Opens the connection. Resolves with the first `welcome`; rejects with a `ConnectError` when the
   * client gives up before that (fatal close, refused upgrade, `close()`).
   */
  connect (): Promise<WelcomeMessage> {
    if (this.#state === 'closing' || this.#state === 'closed') {
      return Promise.reject(new Error('This client was closed; create a new one'))
    }
    if (this.#connectWaiter !== undefined) return this.#connectWaiter.promise
    if (this.#welcome !== undefined) return Promise.resolve(this.#welcome)
    let resolve!: (w: WelcomeMessage) => void
    let reject!: (e: Error) => void
    const promise = new Promise<WelcomeMessage>((res, rej) => { resolve = res; reject = rej })
    this.#connectWaiter = { promise, resolve, reject }
    this.#open()
    return promise
  }

  /** Closes for good (code 1000) and stops reconnecting. Resolves once the socket is closed. */
  close (reason = ''): Promise<void> {
    return this.#shutdown((socket) => socket.close(1000, reason))
  }

  /**
   * Tells the server this peer leaves (the others get `peer-left` with reason `left`); the server closes
   * the socket with 1000. Resolves once it is closed.
   */
  leave (): Promise<void> {
    return this.#shutdown((socket, wasOpen) => {
      if (!wasOpen || socket.readyState !== OPEN) {
        socket.close(1000, 'leave')
        return
      }
      socket.send(JSON.stringify({ type: 'leave' } satisfies ClientMessage))
      // Should the server not close the socket, close it ourselves.
      this.#leaveTimer = setTimeout(() => socket.close(1000, 'leave'), 5000)
    })
  }

  /** Sends any client message as is. Returns false (and sends nothing) when the socket is not open. */
  send (message: ClientMessage): boolean {
    const socket = this.#socket
    if (socket === undefined || socket.readyState !== OPEN || this.#state !== 'open') return false
    socket.send(JSON.stringify(message))
    return true
  }

  offer (to: string, data: unknown): boolean { return this.send({ type: 'offer', to, data }) }
  answer (to: string, data: unknown): boolean { return this.send({ type: 'answer', to, data }) }
  candidate (to: string, data: unknown): boolean { return this.send({ type: 'candidate', to, data }) }
  bye (to: string, data: unknown = null): boolean { return this.send({ type: 'bye', to, data }) }
  /** Sends `data` to peer `to`, or to every other peer in the room when `to` is omitted. */
  message (data: unknown, to?: string): boolean {
    return this.send(to === undefined ? { type: 'message', data } : { type: 'message', to, data })
  }

  ping (): boolean { return this.send({ type: 'ping' }) }
  /** Asks for fresh TURN credentials without reconnecting; the answer comes as the `ice-servers` event. */
  refreshIceServers (): boolean { return this.send({ type: 'ice-servers' }) }
  /**
   * Replaces this peer's metadata (at most 1024 bytes serialized). Needs a token issued with `canUpdateMetadata:
   * true`; without it the server refuses with `FORBIDDEN` (use `request()` to get that as a rejection). Every peer
   * of the room, this one included, then gets `peer-updated`.
   */
  updateMetadata (metadata: Record<string, unknown>): Promise<void> {
    return this.request({ type: 'update-metadata', metadata })
  }

  /**
   * Sends `message` with a fresh `id`. Rejects with a `RequestError` carrying the server's code when
   * the server answers an `error` with that id, NOT_CONNECTED when the socket is not open, and
   * CONNECTION_CLOSED when the socket closes before the verdict. Resolves when no error arrived within
   * `timeout` ms (default `requestTimeout`): the server confirms nothing else.
   */
  request (message: ClientMessage, options: { timeout?: number } = {}): Promise<void> {
    const id = this.#nextId++
    if (!this.send({ ...message, id })) {
      return Promise.reject(new RequestError('NOT_CONNECTED', 'The connection is not open', id))
    }
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id)
        resolve()
      }, options.timeout ?? this.#requestTimeout)
      this.#pending.set(id, { resolve, reject, timer })
    })
  }

  #shutdown (closeSocket: (socket: SocketInternals, wasOpen: boolean) => void): Promise<void> {
    if (this.#state === 'closed') return Promise.resolve()
    const done = new Promise<void>((resolve) => this.#closeWaiters.push(resolve))
    if (this.#state === 'closing') return done
    clearTimeout(this.#reconnectTimer)
    const wasOpen = this.#state === 'open'
    // A `close` with willReconnect: true went out before this wait; listeners (the Mesh among them) must
    // learn that no reconnection follows after all.
    const promisedReconnect = this.#state === 'reconnecting'
    this.#state = 'closing'
    if (this.#socket === undefined) {
      this.#finish({ code: 1000, reason: 'closed by the client', willReconnect: false }, promisedReconnect)
    } else {
      closeSocket(this.#socket, wasOpen)
    }
    return done
  }

  #open (): void {
    this.#state = this.#attempt === 0 ? 'connecting' : 'reconnecting'
    const resume = this.#attempt > 0 && this.#hasSession && !this.#startOver && this.#resumeToken !== undefined
    this.#startOver = false
    if (resume) {
      this.#openSocket(this.#connectUrl(this.#resumeToken!, true))
      return
    }
    const token = this.#token
    if (typeof token === 'string') {
      this.#openSocket(this.#connectUrl(token, false))
      return
    }
    let pending: Promise<string>
    try {
      pending = Promise.resolve(token())
    } catch (err) {
      pending = Promise.reject(err)
    }
    pending.then((value) => {
      // close() may have run while the token was being fetched
      if (this.#state !== 'connecting' && this.#state !== 'reconnecting') return
      if (typeof value !== 'string' || value === '') throw new TypeError('the token function returned no token')
      this.#openSocket(this.#connectUrl(value, false))
    }).catch((err: unknown) => {
      if (this.#state !== 'connecting' && this.#state !== 'reconnecting') return
      // A token service that is down is worth another try, like a server that is.
      this.#onClose(1006, `no token: ${describeError(err)}`, false, false, undefined)
    })
  }

  #openSocket (url: string): void {
    let socket: SocketInternals
    try {
      socket = new this.#WebSocket(url) as SocketInternals
    } catch (err) {
      // Browsers throw here, e.g. a SecurityError; left alone, the client would stay 'reconnecting' for good.
      this.#onClose(1006, `cannot open a WebSocket: ${describeError(err)}`, false, false, undefined)
      return
    }
    this.#socket = socket
    let opened = false
    let httpStatus: number | undefined
    const statusKnowable = typeof socket.on === 'function'
    if (statusKnowable) {
      socket.on?.('unexpected-response', (_req, res) => {
        httpStatus = res.statusCode
        // With a listener attached `ws` leaves the request to us; close() during CONNECTING aborts
        // it and emits the usual error + close 1006.
        socket.close()
      })
    }
    socket.onopen = () => {
      if (socket !== this.#socket) return
      opened = true
      this.#failedOpens = 0
      if (this.#state !== 'closing') this.#state = 'open'
      this.emit('open')
    }
    socket.onmessage = (event) => {
      if (socket !== this.#socket || typeof event.data !== 'string') return
      this.#lastHeard = Date.now()
      // the answer to a keepalive ping: count the next quiet interval from now
      if (this.#awaitingSign) this.#watchSilence()
      this.#onMessage(event.data)
    }
    // Errors carry no useful detail in browsers; the close event that follows is what counts.
    socket.onerror = () => {}
    socket.onclose = (event) => {
      if (socket !== this.#socket) return
      this.#socket = undefined
      // Where the status is hidden (browsers), a close before open may be a refused upgrade.
      this.#onClose(event.code, event.reason, opened, !opened && !statusKnowable, httpStatus)
    }
  }

  /**
   * A reconnection after a drop resumes: the resume token and the last `seq` seen, so that the server replays
   * what was missed and the others see no churn. The first connection, and one after the server refused to
   * resume (4410), join afresh with the join token.
   */
  #connectUrl (token: string, resume: boolean): string {
    const url = new URL(this.#url)
    url.searchParams.set('token', token)
    if (resume) url.searchParams.set('lastSeq', String(this.#lastSeq))
    return url.toString()
  }

  #onMessage (raw: string): void {
    let message: ServerMessage
    try {
      const parsed: unknown = JSON.parse(raw)
      // Unknown types are skipped rather than fatal: a newer server may send more.
      const type = typeof parsed === 'object' && parsed !== null ? (parsed as { type?: unknown }).type : undefined
      if (typeof type !== 'string' || !SERVER_TYPES.has(type)) return
      message = parsed as ServerMessage
    } catch {
      return
    }
    if (typeof message.seq === 'number') {
      this.#lastSeq = message.seq
      // numbering is the connection's business, not the application's
      delete message.seq
    }
    switch (message.type) {
      case 'welcome':
        this.#welcome = message
        this.#resumeToken = message.resumeToken
        this.#hasSession = true
        if (message.resumed !== true) this.#lastSeq = 0
        this.#attempt = 0
        this.#peers.clear()
        for (const peer of message.peers) this.#peers.set(peer.peerId, peer)
        this.#watchSilence()
        this.emit('welcome', message)
        if (this.#connectWaiter !== undefined) {
          this.#connectWaiter.resolve(message)
          this.#connectWaiter = undefined
        }
        break
      case 'peer-joined':
        this.#peers.set(message.peer.peerId, message.peer)
        this.emit('peer-joined', message)
        break
      case 'peer-left':
        this.#peers.delete(message.peerId)
        this.emit('peer-left', message)
        break
      case 'peer-updated': {
        const { peerId, metadata } = message.peer
        // `peers` holds the others only
        if (this.#peers.has(peerId)) this.#peers.set(peerId, { peerId, metadata })
        this.emit('peer-updated', message)
        break
      }
      case 'error': {
        const pending = message.id === undefined ? undefined : this.#pending.get(message.id)
        if (pending !== undefined && message.id !== undefined) {
          this.#pending.delete(message.id)
          clearTimeout(pending.timer)
          pending.reject(new RequestError(message.code, message.message, message.id))
        }
        this.emit('error', message)
        break
      }
      default:
        // room-closed, pong, ice-servers and the relayed types: the event is named after the message type
        this.emit(message.type, message as never)
    }
  }

  /** `maybeRefused`: closed before open where the HTTP status is hidden, as browsers do. */
  /**
   * Keepalive: quiet for `interval`, a `ping`; quiet for `timeout` more, the socket is taken for dead. Any message
   * counts as a sign of life, so a busy connection sends no pings.
   */
  #watchSilence (): void {
    clearTimeout(this.#keepaliveTimer)
    this.#awaitingSign = false
    const keepalive = this.#keepalive
    if (keepalive === false || this.#socket === undefined) return
    const quiet = Date.now() - this.#lastHeard
    let wait: number
    if (quiet < keepalive.interval) {
      wait = keepalive.interval - quiet
    } else if (quiet < keepalive.interval + keepalive.timeout) {
      this.#awaitingSign = this.ping()
      wait = keepalive.interval + keepalive.timeout - quiet
    } else {
      this.#dropSilentSocket()
      return
    }
    this.#keepaliveTimer = setTimeout(() => this.#watchSilence(), wait)
    // in Node, the socket keeps the process alive, not this timer
    ;(this.#keepaliveTimer as { unref?: () => void }).unref?.()
  }

  /** The socket went silent: let go of it without waiting for a close handshake that may never come, and reconnect. */
  #dropSilentSocket (): void {
    const socket = this.#socket
    if (socket === undefined) return
    this.#socket = undefined
    socket.onopen = null
    socket.onmessage = null
    socket.onclose = null
    try {
      socket.close(NO_ANSWER, 'no answer from the server')
    } catch {}
    this.#onClose(NO_ANSWER, 'no answer from the server', true, false, undefined)
  }

  #onClose (code: number, reason: string, opened: boolean, maybeRefused: boolean, httpStatus: number | undefined): void {
    clearTimeout(this.#leaveTimer)
    clearTimeout(this.#keepaliveTimer)
    for (const [id, pending] of this.#pending) {
      clearTimeout(pending.timer)
      pending.reject(new RequestError('CONNECTION_CLOSED', 'The connection closed before the server answered', id))
    }
    this.#pending.clear()

    // 4410: the session could not be resumed; join afresh (the welcome then says resumed: false)
    if (code === SESSION_EXPIRED) {
      this.#startOver = true
      this.#hasSession = false
    }
    let willReconnect = this.#reconnect !== false && this.#state !== 'closing' && !isFatalCloseCode(code)
    if (willReconnect && httpStatus !== undefined && isFatalUpgradeStatus(httpStatus)) willReconnect = false
    if (willReconnect && this.#reconnect !== false) {
      // Only a join can be refused for good (bad or expired token, full room). Once a session exists, a run
      // of failed opens is far likelier an outage, and a session that cannot be resumed is answered 4410.
      if (maybeRefused && !this.#hasSession && ++this.#failedOpens >= this.#reconnect.maxFailedOpens) willReconnect = false
      if (this.#attempt >= this.#reconnect.maxAttempts) willReconnect = false
    }
    const event: CloseEvent = httpStatus === undefined
      ? { code, reason, willReconnect }
      : { code, reason, willReconnect, httpStatus }
    if (!willReconnect || this.#reconnect === false) {
      this.#finish(event, true)
      return
    }
    const attempt = ++this.#attempt
    const delay = backoffDelay(attempt, this.#reconnect, this.#random)
    this.#state = 'reconnecting'
    this.emit('close', event)
    // A listener may have called close() (or leave()): that is final and wins over the reconnection.
    if (this.#state !== 'reconnecting') return
    this.emit('reconnecting', { attempt, delay })
    if (this.#state !== 'reconnecting') return
    this.#reconnectTimer = setTimeout(() => {
      if (this.#state === 'reconnecting') this.#open()
    }, delay)
  }

  // Final close: no more reconnects. Emits `close` (when a socket closed), settles connect() and close().
  #finish (event: CloseEvent, emitClose: boolean): void {
    this.#state = 'closed'
    clearTimeout(this.#keepaliveTimer)
    this.#peers.clear()
    if (emitClose) this.emit('close', event)
    if (this.#connectWaiter !== undefined) {
      this.#connectWaiter.reject(new ConnectError(event))
      this.#connectWaiter = undefined
    }
    const waiters = this.#closeWaiters
    this.#closeWaiters = []
    for (const resolve of waiters) resolve()
  }
}
