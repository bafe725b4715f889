// Builds the standalone app (the plugin, docs, health) without listening: the server entry and the tests share it.
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import { TypeBoxValidatorCompiler } from '@fastify/type-provider-typebox'
import signalling, { type SignallingOptions } from './index.js'
import { signallingError } from './lib/errors.js'
import { openapiDocument } from './lib/openapi.js'
import { redactUrl } from './lib/redact.js'
import demo from './routes/demo.js'
import { errorHandler } from './routes/error-handler.js'
import health from './routes/health.js'
import metricsRoute from './routes/metrics.js'

export interface AppOptions extends SignallingOptions {
  logger?: FastifyServerOptions['logger']
  /** `GET /metrics` (Prometheus), optionally behind a bearer token; `false` leaves it out. */
  metrics?: { token?: string } | false
  /** Serve the demo call page at `/` and its open token route `POST /demo/join`. */
  demo?: boolean
  /**
   * Fastify's `trustProxy`: the proxies whose `X-Forwarded-For` gives the client's address (for the per-address limits
   * and the logs). Only for a server that is reachable through those proxies alone: otherwise clients choose their address.
   * A number trusts that many hops nearest the server whatever their address (Fastify itself no longer takes one).
   */
  trustProxy?: FastifyServerOptions['trustProxy'] | number
  /** Serve HTTPS/WSS with this certificate and key (PEM). */
  https?: { cert: string | Buffer, key: string | Buffer }
}

export async function buildApp (options: AppOptions): Promise<FastifyInstance> {
  const { logger = false, https, trustProxy, demo: demoEnabled = false, metrics = {}, ...signallingOptions } = options
  const base = {
    logger: logger === false ? false : {
      ...(typeof logger === 'object' ? logger : {}),
      serializers: {
        req: (req: { method: string, url: string, id: string, ip?: string }) =>
          ({ method: req.method, url: redactUrl(req.url), reqId: req.id, remoteAddress: req.ip })
      }
    },
    // every REST body is small JSON (metadata is capped at 4 KiB)
    bodyLimit: 64 * 1024,
    trustProxy: typeof trustProxy === 'number' ? (_address: string, hop: number) => hop < trustProxy : trustProxy,
    // while draining, the routes answer for themselves: /ready 503 `closing`, /ws 503 SERVICE_UNAVAILABLE with
    // the usual error body (Fastify's own 503 has no `code`); REST calls still work until the server closes
    return503OnClosing: false
  }
  // the HTTPS server type differs only in its raw server; the app's routes do not depend on it
  const app = (https === undefined ? Fastify(base) : Fastify({ ...base, https })) as unknown as FastifyInstance

  await app.register(swagger, { openapi: openapiDocument, hideUntagged: true })
  await app.register(swaggerUi, { routePrefix: '/docs' })
  await app.register(signalling, signallingOptions)
  await app.register(health)
  if (metrics !== false) await app.register(metricsRoute, { metrics: app.signalling.metrics, token: metrics.token })
  if (demoEnabled) {
    await app.register(async (scope) => {
      scope.setValidatorCompiler(TypeBoxValidatorCompiler)
      scope.setErrorHandler(errorHandler)
      await scope.register(demo)
    })
  }
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger())
  app.setNotFoundHandler(async (request) => { throw signallingError('ROUTE_NOT_FOUND', `${request.method} ${redactUrl(request.url)}`) })
  return app
}
