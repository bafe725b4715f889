// `ws` ends a connection's streams more than once while closing it: the frame parser (a Writable) when the close
// frame arrives, again when the TCP socket's readable side ends and again when the socket closes; the TCP socket
// itself once the close handshake is done and again when its readable side ends. Each call after the first makes
// Node build an ERR_STREAM_ALREADY_FINISHED error, with a stack trace as deep as the stack goes, and drop it unseen:
// a tenth of a join's CPU under join/leave churn. On the sockets given here, such a call returns at once.
import type { WebSocket } from 'ws'

interface Endable {
  end: (...args: unknown[]) => unknown
  readonly writableEnded: boolean
  readonly writableCorked: number
}

/** `end()` with nothing to write and no callback, on a stream already ending and not corked, does nothing but build
 * that error: it returns here instead, as Node's own `end()` would after dropping the error. */
function endOnce (this: Endable, ...args: unknown[]): unknown {
  if (args.length === 0 && this.writableEnded && this.writableCorked === 0) return this
  return (Object.getPrototypeOf(this) as Endable).end.apply(this, args)
}

/** Makes the redundant `end()` calls `ws` makes on `socket`'s streams cheap; what `ws` does is otherwise unchanged. */
export function quietRedundantEnds (socket: WebSocket): void {
  const internals = socket as unknown as { _receiver?: Partial<Endable> | null, _socket?: Partial<Endable> | null }
  for (const stream of [internals._receiver, internals._socket]) {
    if (typeof stream?.end === 'function' && typeof stream.writableEnded === 'boolean') stream.end = endOnce
  }
}
