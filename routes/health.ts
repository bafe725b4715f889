// Liveness and readiness for load balancers and orchestrators.
import type { FastifyPluginAsync } from 'fastify'
import { LIMIT_NAMES } from '../lib/metrics.js'

const Status = {
  type: 'object',
  properties: {
    status: { type: 'string' },
    backplane: { type: 'string', enum: ['none', 'up', 'down'], description: 'The Redis backplane, when one is configured' },
    refusedLastMinute: {
      type: 'object',
      description: 'Clients refused by each limit over the last minute (`signalling_limit_refusals_total` counts them all); refusals do not make the node unready',
      properties: Object.fromEntries(LIMIT_NAMES.map((name) => [name, { type: 'integer' }])),
      additionalProperties: false
    }
  },
  required: ['status'],
  additionalProperties: false
} as const

const health: FastifyPluginAsync = async (app) => {
  let ready = true
  app.addHook('preClose', async () => { ready = false })

  app.get('/health', {
    schema: { tags: ['health'], summary: 'The process is alive', response: { 200: Status } }
  }, async () => ({ status: 'ok' }))

  app.get('/ready', {
    schema: { tags: ['health'], summary: 'The server accepts new peers', response: { 200: Status, 503: Status } }
  }, async (_request, reply) => {
    const backplane = app.signalling.relay.backplane
    const state = backplane === undefined ? 'none' : backplane.up ? 'up' : 'down'
    // the relay starts draining in its own preClose hook, which may run before this plugin's
    const refusedLastMinute = app.signalling.metrics.refusedLastMinute()
    if (!ready || app.signalling.relay.draining) return await reply.code(503).send({ status: 'closing', backplane: state, refusedLastMinute })
    // a node cut off from Redis cannot admit peers: take it out of the load balancer until Redis is back
    if (state === 'down') return await reply.code(503).send({ status: 'degraded', backplane: state, refusedLastMinute })
    return { status: 'ready', backplane: state, refusedLastMinute }
  })
}

export default health
