// Prometheus scrape endpoint, optionally behind a bearer token for when the port is reachable from outside.
import type { FastifyPluginAsync } from 'fastify'
import { signallingError } from '../lib/errors.js'
import { bearerToken } from '../lib/join-token.js'
import { METRICS_CONTENT_TYPE, type SignallingMetrics } from '../lib/metrics.js'
import { sameSecret } from '../lib/secret.js'

export interface MetricsRouteOptions {
  metrics: SignallingMetrics
  /** When set, a scrape must send `Authorization: Bearer <token>` or gets 401. Unset, `/metrics` is open. */
  token?: string
}

const metricsRoute: FastifyPluginAsync<MetricsRouteOptions> = async (app, options) => {
  const { metrics, token } = options
  if (token !== undefined && token.length === 0) throw new Error('metrics: `token` must not be empty')
  const isToken = token === undefined ? undefined : sameSecret(token)

  app.get('/metrics', {
    // an operations endpoint, not part of the public API
    schema: { hide: true },
    onRequest: isToken === undefined ? [] : async (request, reply) => {
      const given = bearerToken(request.headers.authorization)
      if (given !== undefined && isToken(given)) return
      reply.header('www-authenticate', 'Bearer realm="metrics"')
      throw signallingError('UNAUTHORIZED', 'a valid metrics token is required')
    }
  }, async (_request, reply) => {
    // Prometheus scrapes a fresh value every time; no proxy may serve an old one
    return await reply.type(METRICS_CONTENT_TYPE).header('cache-control', 'no-store').send(metrics.render())
  })
}

export default metricsRoute
