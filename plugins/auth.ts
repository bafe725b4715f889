// Who may manage rooms (the API key, or the host app's own check) and who may join one (a verified join token).
import fp from 'fastify-plugin'
import jwt, { type JWT } from '@fastify/jwt'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { signallingError } from '../lib/errors.js'
import { hs256, UNJUDGED } from '../lib/hs256.js'
import { assertJoinClaims, bearerToken, joinClaimsJson, MIN_SECRET_BYTES, RESUME_AUDIENCE, TOKEN_ALGORITHM, TOKEN_AUDIENCE, type JoinClaims } from '../lib/join-token.js'

export interface AuthOptions {
  /** HMAC secret for join tokens (HS256); at least 32 bytes. */
  jwtSecret: string
  /** Bearer key for the REST API. Required unless `authorize` replaces the check. */
  apiKey?: string
  /** Replaces the API-key check on the REST routes with the host app's own (return false to answer 401). */
  authorize?: (request: FastifyRequest) => boolean | Promise<boolean>
  /** Clock skew allowed when checking `exp`/`nbf`/`iat`, in seconds (default 5). */
  clockSkew?: number
}

export interface SignallingAuth {
  /**
   * Whether the request carries the API key (or passes `authorize`): it comes from the app's backend. Checked once per
   * request: the REST scope's rate limit asks first, then `requireBackend`.
   */
  isBackend: (request: FastifyRequest) => Promise<boolean>
  /** Hook: 401 UNAUTHORIZED unless the request comes from the backend. */
  requireBackend: (request: FastifyRequest) => Promise<void>
  signJoinToken: (claims: JoinClaims) => string
  /** Throws UNAUTHORIZED for a missing, malformed, expired or wrongly signed token. */
  verifyJoinToken: (token: string | undefined) => JoinClaims
}

/** Where `isBackend` keeps its answer for the request: null until asked. */
const kBackend = Symbol('signalling.backend')
type Identified = FastifyRequest & { [kBackend]: boolean | null }

declare module 'fastify' {
  interface FastifyInstance {
    signallingAuth: SignallingAuth
  }
}

/**
 * Constant-time comparison with one fixed secret. Every call reads each of the secret's characters once, against the
 * given value's characters taken in turn (its length is not secret), and folds the differences and the difference of
 * the lengths together without a branch that depends on either: the time depends on the secret's length alone, and
 * reveals neither its length nor its content to someone who chooses the given value. Hashing both to equal lengths
 * first hides the same, and cost the token route 1-2 µs per request in SHA-256 and its buffers. The secret's
 * characters are read from an array made once, and the given value is wrapped by a counter, not a remainder: with
 * `charCodeAt` on both and `i % length`, a 40-character key took 270 ns per check, now 60.
 */
export function secretMatcher (expected: string): (given: string) => boolean {
  const length = expected.length
  const codes = new Uint16Array(length)
  for (let i = 0; i < length; i++) codes[i] = expected.charCodeAt(i)
  return (given) => {
    const givenLength = given.length
    let difference = length ^ givenLength
    for (let i = 0, j = 0; i < length; i++) {
      // an empty value has no character to compare; the lengths already differ
      difference |= codes[i]! ^ (givenLength === 0 ? 0 : given.charCodeAt(j))
      if (++j === givenLength) j = 0
    }
    return difference === 0
  }
}

const REQUIRED_CLAIMS = ['exp', 'iat', 'sub', 'room', 'aud']
const AUDIENCES = new Set<unknown>([TOKEN_AUDIENCE, RESUME_AUDIENCE])

const unauthorized = (): Error => signallingError('UNAUTHORIZED', 'a valid API key is required')

async function auth (fastify: FastifyInstance, options: AuthOptions): Promise<void> {
  const { jwtSecret, apiKey, authorize, clockSkew = 5 } = options
  if (typeof jwtSecret !== 'string' || jwtSecret.length === 0) throw new Error('signalling: `jwtSecret` is required')
  // RFC 7518: an HS256 key at least as long as the hash
  if (Buffer.byteLength(jwtSecret) < MIN_SECRET_BYTES) throw new Error(`signalling: \`jwtSecret\` must be at least ${MIN_SECRET_BYTES} bytes`)
  if (authorize === undefined && (typeof apiKey !== 'string' || apiKey.length === 0)) {
    throw new Error('signalling: `apiKey` is required unless `authorize` is given')
  }

  // a namespace keeps the host app's own @fastify/jwt (if any) untouched
  await fastify.register(jwt, {
    secret: jwtSecret,
    namespace: 'signalling',
    verify: {
      algorithms: [TOKEN_ALGORITHM],
      allowedAud: [...AUDIENCES] as string[],
      requiredClaims: REQUIRED_CLAIMS,
      clockTolerance: clockSkew * 1000
    }
  })
  const tokens = (fastify.jwt as unknown as Record<string, JWT>).signalling!
  const ours = hs256(jwtSecret)
  const tolerance = clockSkew * 1000
  const invalid = (): Error => signallingError('UNAUTHORIZED', 'the join token is invalid')
  const isApiKey = authorize === undefined ? secretMatcher(apiKey!) : undefined
  const check = authorize ?? ((request: FastifyRequest) => {
    const given = bearerToken(request.headers.authorization)
    return given !== undefined && isApiKey!(given)
  })

  const isBackend = async (request: FastifyRequest): Promise<boolean> =>
    (request as Identified)[kBackend] ??= await check(request)

  fastify.decorateRequest(kBackend, null)
  fastify.decorate('signallingAuth', {
    isBackend,
    async requireBackend (request: FastifyRequest) {
      if (!await isBackend(request)) throw unauthorized()
    },
    signJoinToken (claims: JoinClaims) {
      return ours.signJson(joinClaimsJson(claims))
    },
    verifyJoinToken (token: string | undefined) {
      if (token === undefined) throw signallingError('UNAUTHORIZED', 'a join token is required')
      const payload = ours.verify(token)
      if (payload === UNJUDGED) return assertJoinClaims(verifyGenerally(token))
      if (payload === undefined) throw invalid()
      // the checks @fastify/jwt makes of the claims, in its order, so that a token gets the same answer from both: the
      // claims that must be there, `nbf` and `exp` within the clock skew, `aud` (a string or strings, one of ours);
      // then the schema of a join token
      if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) throw invalid()
      const claims = payload as Record<string, unknown>
      for (const name of REQUIRED_CLAIMS) if (!(name in claims)) throw invalid()
      const now = Date.now()
      if ('nbf' in claims && (typeof claims.nbf !== 'number' || now < claims.nbf * 1000 - tolerance)) throw invalid()
      if (typeof claims.exp !== 'number') throw invalid()
      if (now > claims.exp * 1000 + tolerance) throw signallingError('UNAUTHORIZED', 'the join token has expired')
      const aud = claims.aud
      const audOk = typeof aud === 'string'
        ? AUDIENCES.has(aud)
        : Array.isArray(aud) && aud.every((a) => typeof a === 'string') && aud.some((a) => AUDIENCES.has(a))
      if (!audOk) throw invalid()
      return assertJoinClaims(claims)
    }
  })

  /** A token lib/hs256.ts leaves: another header than the server's (minted elsewhere with the secret), or over 16 KiB. */
  function verifyGenerally (token: string): unknown {
    try {
      return tokens.verify(token)
    } catch (err) {
      const expired = (err as { code?: string }).code === 'FAST_JWT_EXPIRED'
      throw expired ? signallingError('UNAUTHORIZED', 'the join token has expired') : invalid()
    }
  }
}

export default fp(auth, { name: 'signalling-auth', fastify: '5.x' })
