// Every error code the server speaks, over REST and inside WebSocket `error` messages.
import { format } from 'node:util'
import createError from '@fastify/error'

export const ErrorCodes = {
  INVALID_REQUEST: { status: 400, message: 'Invalid request: %s' },
  UNAUTHORIZED: { status: 401, message: 'Unauthorized: %s' },
  ORIGIN_NOT_ALLOWED: { status: 403, message: 'Origin not allowed: %s' },
  FORBIDDEN: { status: 403, message: 'Forbidden: %s' },
  ROOM_FULL: { status: 403, message: 'Room %s is full' },
  ROOM_NOT_FOUND: { status: 404, message: 'Room %s not found' },
  PEER_NOT_FOUND: { status: 404, message: 'Peer %s not found' },
  DEAD_LETTER_NOT_FOUND: { status: 404, message: 'Dead letter %s not found' },
  ROOM_EXISTS: { status: 409, message: 'Room %s already exists' },
  SESSION_EXPIRED: { status: 410, message: 'Session of peer %s can no longer be resumed' },
  RATE_LIMITED: { status: 429, message: 'Rate limited: %s' },
  ROUTE_NOT_FOUND: { status: 404, message: 'Route %s not found' },
  SERVICE_UNAVAILABLE: { status: 503, message: 'Service unavailable: %s' },
  BACKPLANE_UNAVAILABLE: { status: 503, message: 'Backplane unavailable: %s' },
  INTERNAL_ERROR: { status: 500, message: 'Internal error: %s' },
  // WebSocket-only codes; the status is what they would map to over HTTP
  INVALID_MESSAGE: { status: 400, message: 'Invalid message: %s' },
  UNKNOWN_TYPE: { status: 400, message: 'Unknown message type: %s' }
} as const

export type ErrorCode = keyof typeof ErrorCodes

export interface SignallingError extends Error {
  code: ErrorCode
  statusCode: number
}

const constructors = Object.fromEntries(
  Object.entries(ErrorCodes).map(([code, { status, message }]) => [code, createError(code, message, status)])
) as Record<ErrorCode, ReturnType<typeof createError>>

/** Builds the typed error for `code`; `detail` fills the message template. */
export function signallingError (code: ErrorCode, detail: string | number): SignallingError {
  return new constructors[code](detail) as SignallingError
}

export function isSignallingError (err: unknown): err is SignallingError {
  const code = (err as { code?: unknown } | null)?.code
  return err instanceof Error && typeof code === 'string' && Object.hasOwn(ErrorCodes, code)
}

/** The message of `code` without building an Error (for WebSocket `error` messages). */
export function errorMessage (code: ErrorCode, detail: string | number): string {
  return format(ErrorCodes[code].message, detail)
}
