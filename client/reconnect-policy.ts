// When and how soon the client reconnects: pure functions, so the policy is testable without sockets.

export interface ReconnectOptions {
  /** Delay before the first reconnect attempt, in ms. Default 500. */
  initialDelay: number
  /** Upper bound of any delay, in ms. Default 30 000. */
  maxDelay: number
  /** Growth of the delay per attempt. Default 2. */
  factor: number
  /**
   * Share of the delay that is randomised, 0..1. 0: no jitter; 1: "full jitter", the delay is uniform in
   * [0, d]; 0.5: uniform in [d/2, d]. Default 0.5.
   */
  jitter: number
  /** Reconnect attempts in a row (without a `welcome` in between) before giving up. Default Infinity. */
  maxAttempts: number
  /**
   * Closes in a row before the socket ever opened, after which the client gives up. This is how an HTTP
   * refusal of the upgrade (401 bad token, 404 room gone) is detected where the WebSocket implementation
   * hides the status, as browsers do (they report a plain close 1006). Applied only while joining: before
   * the first `welcome`, and after the server refused to resume the session (4410). Once a session exists
   * such a run is far likelier a network or server outage, and the client keeps trying (a resume that has
   * become impossible is answered 4410, not refused). Not applied either when the status is known (the
   * `ws` package's 'unexpected-response'), since then a refused connection (server down) is told apart
   * from a refused upgrade. Default 5.
   */
  maxFailedOpens: number
}

export const DEFAULT_RECONNECT_OPTIONS: Readonly<ReconnectOptions> = Object.freeze({
  initialDelay: 500,
  maxDelay: 30_000,
  factor: 2,
  jitter: 0.5,
  maxAttempts: Infinity,
  maxFailedOpens: 5
})

/**
 * Delay before reconnect attempt number `attempt` (1 for the first): `initialDelay * factor^(attempt-1)`,
 * capped at `maxDelay`, then reduced by a random share of at most `jitter`. `random` returns [0, 1).
 */
export function backoffDelay (
  attempt: number,
  options: Pick<ReconnectOptions, 'initialDelay' | 'maxDelay' | 'factor' | 'jitter'>,
  random: () => number = Math.random
): number {
  const { initialDelay, maxDelay, factor } = options
  const jitter = Math.min(1, Math.max(0, options.jitter))
  const exponent = Math.max(0, attempt - 1)
  const base = Math.min(maxDelay, initialDelay * factor ** exponent)
  return base * (1 - jitter * random())
}

/**
 * Close codes after which coming back is pointless or wrong: 1000 (normal: after `leave`, or the
 * server ended the session on purpose), 4403 (kicked), 4404 (room closed), 4409 (replaced by a newer
 * connection with the same peerId: reconnecting would kick that one in turn), 4413 (room full, found
 * after the upgrade; treated like the 403 ROOM_FULL refusal before it). 1001 (server going away) and
 * 1006 (connection lost) are not: those are what reconnecting is for.
 */
/** The server could not resume the session (grace period over, or too much was missed): join afresh. */
export const SESSION_EXPIRED = 4410

/** Set by the client itself, never by the server: the connection went silent (see `keepalive`), so it was dropped. */
export const NO_ANSWER = 4000

export const FATAL_CLOSE_CODES: ReadonlySet<number> = new Set([1000, 4403, 4404, 4409, 4413])

export function isFatalCloseCode (code: number): boolean {
  return FATAL_CLOSE_CODES.has(code)
}

/**
 * HTTP statuses of a refused upgrade that retrying cannot fix: 4xx (bad or expired token, room not
 * found, room full, forbidden origin), except 408 and 429 which are worth another try, like 5xx.
 */
export function isFatalUpgradeStatus (status: number): boolean {
  return status >= 400 && status < 500 && status !== 408 && status !== 429
}
