// REST: join tokens for a room.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ErrorReply, RateLimitedReply, RoomParams, TokenBody, TokenReply } from '../lib/schemas.js'

const tokens: FastifyPluginAsyncTypebox = async (app) => {
  // after the scope's rate limit (onRequest), so that a wrong API key is counted before it is refused
  app.addHook('preParsing', app.signallingAuth.requireBackend)

  app.post('/rooms/:roomId/tokens', {
    schema: {
      tags: ['tokens'],
      security: [{ apiKey: [] }],
      summary: 'Issue a join token',
      description: 'A short-lived HS256 JWT that admits one peer to this room over `/ws`.',
      params: RoomParams,
      body: TokenBody,
      response: { 201: TokenReply, 400: ErrorReply, 401: ErrorReply, 404: ErrorReply, 429: RateLimitedReply }
    },
    // every field is optional, so no body at all means an empty one
    preValidation: async (request) => {
      if (request.body === undefined) request.body = {}
    }
  }, async (request, reply) => {
    reply.code(201)
    return await app.signalling.issueToken(request.params.roomId, request.body)
  })
}

export default tokens
