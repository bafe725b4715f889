// A socket the relay can serve that is not a WebSocket of its own: the compatible endpoints (PeerJS, y-webrtc)
// translate their clients' protocol to the relay's through one of these, so every rule of `/ws` applies to them.
import { EventEmitter } from 'node:events'
import type { WebSocket } from 'ws'

const OPEN = 1
const CLOSED = 3

export interface RelaySocketHandlers {
  /** A frame the relay sends to the peer (JSON text of the `/ws` protocol). */
  frame: (text: string) => void
  /** The relay closed the peer's session with this code (e.g. 4403 kicked, 4404 room closed, 4409 replaced). */
  closed: (code: number, reason: string) => void
  /** Bytes waiting to be written on the real connection beneath, for the relay's slow-consumer check. */
  bufferedAmount?: () => number
}

/**
 * The part of a `ws` WebSocket the relay uses: `message`/`error`/`close` events, `readyState`, `send`, `close`,
 * `terminate`, `ping` and `bufferedAmount`. A non-empty `extensions` makes the relay write through `send`.
 */
export class RelaySocket extends EventEmitter {
  readyState = OPEN
  readonly extensions = 'relay-socket'
  readonly #handlers: RelaySocketHandlers

  constructor (handlers: RelaySocketHandlers) {
    super()
    this.#handlers = handlers
  }

  /** The socket as `Relay.connect` takes it. */
  get asWebSocket (): WebSocket {
    return this as unknown as WebSocket
  }

  get bufferedAmount (): number {
    return this.#handlers.bufferedAmount?.() ?? 0
  }

  /** Called by the relay. */
  send (text: string): void {
    if (this.readyState === OPEN) this.#handlers.frame(String(text))
  }

  /** Called by the relay: it ends the session. The close event follows, as with ws. */
  close (code = 1000, reason = ''): void {
    if (this.readyState !== OPEN) return
    this.readyState = CLOSED
    this.#handlers.closed(code, reason)
    setImmediate(() => this.emit('close', code))
  }

  terminate (): void {
    this.close(1006, '')
  }

  /** Liveness is the endpoint's business, on its real connection. */
  ping (): void {}

  /** A client frame for the relay: JSON text of the `/ws` protocol. */
  receive (text: string): void {
    if (this.readyState === OPEN) this.emit('message', Buffer.from(text), false)
  }

  /** The real connection is gone: 1006 for a drop (the session waits its grace period), 1000 for a clean end. */
  end (code: number): void {
    if (this.readyState !== OPEN) return
    this.readyState = CLOSED
    this.emit('close', code)
  }
}
