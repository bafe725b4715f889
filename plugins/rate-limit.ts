// Request limits of the plugin's scopes (@fastify/rate-limit): per client address, and for requests authenticated as
// the app's backend, per credential instead, under a limit of their own.
import { createHash } from 'node:crypto'
import rateLimit from '@fastify/rate-limit'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { signallingError } from '../lib/errors.js'
import type { RequestRate } from '../lib/limits.js'
import type { LimitName } from '../lib/metrics.js'

export interface RequestLimits {
  /** Requests per client address; `false` disables. */
  perAddress: RequestRate | false
  /** Limit names counted in the metrics when a request is refused. */
  addressLimit: LimitName
  /** Requests authenticated as the backend, per credential; `false` leaves them unlimited. */
  perCredential?: RequestRate | false
  /** Whether the request authenticated as the backend (answered once per request, see plugins/auth.ts). */
  isBackend?: (request: FastifyRequest) => Promise<boolean>
}

const BACKEND = 'backend:'

/** A credential's key in the limiter's store: a digest, so that no secret is kept in it. */
const credentialKey = (request: FastifyRequest): string =>
  BACKEND + createHash('sha256').update(request.headers.authorization ?? '').digest('base64url')

/** Limits the requests of `scope` (registered in it, so that its routes alone count), answered 429 RATE_LIMITED. */
export async function limitRequests (scope: FastifyInstance, limits: RequestLimits): Promise<void> {
  const { perAddress, perCredential = false, isBackend } = limits
  if (perAddress === false && perCredential === false) return
  const rateOf = (key: string): RequestRate | false => key.startsWith(BACKEND) ? perCredential : perAddress
  // a limit that is off still needs numbers for the store: the request passes the allow list first
  const numbers = (key: string): RequestRate => rateOf(key) || { max: 1, timeWindow: 60_000 }
  await scope.register(rateLimit, {
    // requests injected in-process (inject, injectWS) have no client address
    keyGenerator: async (request) => await isBackend?.(request) === true ? credentialKey(request) : `address:${request.ip ?? 'in-process'}`,
    allowList: (_request, key) => rateOf(key) === false,
    max: (_request, key) => numbers(key).max,
    timeWindow: (_request, key) => numbers(key).timeWindow,
    onExceeded: (request, key) => {
      request.server.signalling.metrics.refused(key.startsWith(BACKEND) ? 'api_key' : limits.addressLimit)
    },
    errorResponseBuilder: (_request, context) => signallingError('RATE_LIMITED', `at most ${context.max} requests in ${context.after}`)
  })
}
