// REST: join tokens for a room.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ErrorReply, RoomParams, TokenBody, TokenReply } from '../lib/schemas.js'

const tokens: FastifyPluginAsyncTypebox = async (app) => {
  app.addHook('onRequest', app.signallingAuth.adminHook)

  app.post('/rooms/:roomId/tokens', {
    schema: {
      tags: ['tokens'],
      security: [{ apiKey: [] }],
      summary: 'Issue a join token',
      description: 'A short-lived HS256 JWT that admits one peer to this room over `/ws`.',
      params: RoomParams,
      body: TokenBody,
      response: { 201: TokenReply, 400: ErrorReply, 401: ErrorReply, 404: ErrorReply }
    },
    // callback style: an async hook costs a promise and a microtask per request
    preValidation: (request, _reply, done) => {
      if (request.body === undefined) request.body = {}
      done()
    }
  // not async: the decorator's promise goes straight to Fastify, without a second promise and await around it
  }, (request, reply) => {
    reply.code(201)
    return app.signalling.issueToken(request.params.roomId, request.body)
  })
}

export default tokens
