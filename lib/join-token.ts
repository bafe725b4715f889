// Join tokens: short-lived HS256 JWTs that admit one peer to one room.
import { Type, type Static } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { signallingError } from './errors.js'
import { Metadata, PeerId, RoomId } from './protocol.js'

export const TOKEN_AUDIENCE = 'signalling-join'
/** Resume tokens (from `welcome`) only resume a session in its grace period; they never join afresh. */
export const RESUME_AUDIENCE = 'signalling-resume'
export const RESUME_TOKEN_TTL = 24 * 3600
export const TOKEN_ALGORITHM = 'HS256'
export const MIN_SECRET_BYTES = 32

export const JoinClaims = Type.Object({
  sub: PeerId,
  room: RoomId,
  aud: Type.Union([Type.Literal(TOKEN_AUDIENCE), Type.Literal(RESUME_AUDIENCE)]),
  iat: Type.Integer(),
  exp: Type.Integer(),
  metadata: Type.Optional(Metadata),
  /** The peer may replace its own metadata over the socket; absent (the default) means it may not. */
  canUpdateMetadata: Type.Optional(Type.Boolean())
})
export type JoinClaims = Static<typeof JoinClaims>

const checkClaims = TypeCompiler.Compile(JoinClaims)

/** The signature was already verified; this checks that the payload is one of ours. */
export function assertJoinClaims (payload: unknown): JoinClaims {
  if (!checkClaims.Check(payload)) throw signallingError('UNAUTHORIZED', 'token claims are not a join token')
  return payload
}

export function joinClaims (roomId: string, peerId: string, ttlSeconds: number, metadata: Record<string, unknown>, nowMs = Date.now(), aud: JoinClaims['aud'] = TOKEN_AUDIENCE, canUpdateMetadata = false): JoinClaims {
  const iat = Math.floor(nowMs / 1000)
  const claims: JoinClaims = { sub: peerId, room: roomId, aud, iat, exp: iat + ttlSeconds, metadata }
  // only when granted: tokens without the right stay as they were
  if (canUpdateMetadata) claims.canUpdateMetadata = true
  return claims
}

/** The credential of an `Authorization: Bearer <credential>` header, or undefined. */
export function bearerToken (authorization: string | undefined): string | undefined {
  return authorization === undefined ? undefined : /^Bearer\s+(\S+)$/i.exec(authorization)?.[1]
}

/** Takes the token from `?token=` (browsers cannot set headers on a WebSocket) or `Authorization: Bearer`. */
export function tokenFromRequest (query: unknown, authorization: string | undefined): string | undefined {
  const fromQuery = (query as { token?: unknown } | undefined)?.token
  if (typeof fromQuery === 'string' && fromQuery.length > 0) return fromQuery
  return bearerToken(authorization)
}
