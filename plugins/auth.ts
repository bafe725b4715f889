// Who may manage rooms (the API key, or the host app's own check) and who may join one (a verified join token).
import fp from 'fastify-plugin'
import jwt, { type JWT } from '@fastify/jwt'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { signallingError } from '../lib/errors.js'
import { sameSecret } from '../lib/secret.js'
import { assertJoinClaims, bearerToken, MIN_SECRET_BYTES, RESUME_AUDIENCE, TOKEN_ALGORITHM, TOKEN_AUDIENCE, type JoinClaims } from '../lib/join-token.js'

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

const REQUIRED_CLAIMS = ['exp', 'iat', 'sub', 'room', 'aud']
const AUDIENCES = [TOKEN_AUDIENCE, RESUME_AUDIENCE]

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
      allowedAud: AUDIENCES,
      requiredClaims: REQUIRED_CLAIMS,
      clockTolerance: clockSkew * 1000
    }
  })
  const tokens = (fastify.jwt as unknown as Record<string, JWT>).signalling!
  const invalid = (): Error => signallingError('UNAUTHORIZED', 'the join token is invalid')
  const isApiKey = authorize === undefined ? sameSecret(apiKey!) : undefined
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
      return tokens.sign(claims)
    },
    verifyJoinToken (token: string | undefined) {
      if (token === undefined) throw signallingError('UNAUTHORIZED', 'a join token is required')
      if (!canonicalSignature(token)) throw invalid()
      let payload: unknown
      try {
        payload = tokens.verify(token)
      } catch (err) {
        const expired = (err as { code?: string }).code === 'FAST_JWT_EXPIRED'
        throw expired ? signallingError('UNAUTHORIZED', 'the join token has expired') : invalid()
      }
      return assertJoinClaims(payload)
    }
  })
}

/**
 * Whether the signature part is the one base64url spelling of its bytes. fast-jwt decodes leniently, and would
 * take a correct digest written with other trailing bits: a token is accepted in one spelling only.
 */
function canonicalSignature (token: string): boolean {
  const signature = token.slice(token.lastIndexOf('.') + 1)
  return Buffer.from(signature, 'base64url').toString('base64url') === signature
}

export default fp(auth, { name: 'signalling-auth', fastify: '5.x' })
