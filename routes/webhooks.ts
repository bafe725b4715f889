// REST: webhook deliveries given up, to read and to send again. Thin: the `signalling` decorator does the work.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { DeadLetterList, DeadLetterParams, ErrorReply, RateLimitedReply } from '../lib/schemas.js'

const tags = ['webhooks']
const security = [{ apiKey: [] }]

const webhooks: FastifyPluginAsyncTypebox = async (app) => {
  app.addHook('preParsing', app.signallingAuth.requireBackend)

  app.get('/webhooks/dead-letters', {
    schema: {
      tags,
      security,
      summary: 'List the dead letters',
      description: 'Deliveries given up after `retryFor`, answered 410 Gone, or dropped from a full in-memory queue; oldest first.',
      response: { 200: DeadLetterList, 401: ErrorReply, 429: RateLimitedReply }
    }
  }, async () => ({ deadLetters: await app.signalling.deadLetters() }))

  app.post('/webhooks/dead-letters/:id/replay', {
    schema: {
      tags,
      security,
      summary: 'Send a dead letter again',
      description: 'The event goes back to the end of its room\'s queue for that endpoint, with the same `webhook-id` and a fresh retry period; the dead letter leaves the list.',
      params: DeadLetterParams,
      response: { 202: { type: 'null', description: 'Queued again' }, 400: ErrorReply, 401: ErrorReply, 404: ErrorReply, 429: RateLimitedReply }
    }
  }, async (request, reply) => {
    await app.signalling.replayDeadLetter(request.params.id)
    return await reply.code(202).send()
  })
}

export default webhooks
