// REST: join tokens for a room.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply } from 'fastify'
import { ErrorReply, RateLimitedReply, RoomParams, TokenBody, TokenReply, tokenReplyJson } from '../lib/schemas.js'
import { kIssueValidatedToken } from '../plugins/signalling.js'

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
    // callback style: an async hook costs a promise and a microtask per request
    preValidation: (request, _reply, done) => {
      if (request.body === undefined) request.body = {}
      done()
    }
  // not async: with the in-memory registry the token is issued at once and the reply leaves without a promise; with
  // Redis, Fastify awaits the promise. The body was validated by the schema above, so it is not checked again
  }, (request, reply) => {
    const issued = app[kIssueValidatedToken](request.params.roomId, request.body)
    return issued instanceof Promise ? issued.then((token) => created(reply, token)) : created(reply, issued)
  })
}

/**
 * 201 with the token. The reply is serialised by `tokenReplyJson`, set here once the token exists so that an error
 * still goes out through the error schema's serialiser; the response schema above stays for the OpenAPI document.
 */
function created (reply: FastifyReply, token: TokenReply): TokenReply {
  reply.code(201).type('application/json; charset=utf-8').serializer(tokenReplyJson)
  return token
}

export default tokens
