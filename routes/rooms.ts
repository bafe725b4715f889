// REST: rooms and their peers. Thin: validate, call the `signalling` decorator, shape the reply.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { createRoomBodySchema, ErrorReply, PeerParams, RateLimitedReply, Room, RoomDetails, RoomList, RoomParams } from '../lib/schemas.js'

const tags = ['rooms']
const security = [{ apiKey: [] }]

const rooms: FastifyPluginAsyncTypebox = async (app) => {
  // after the scope's rate limit (onRequest), so that a wrong API key is counted before it is refused
  app.addHook('preParsing', app.signallingAuth.requireBackend)

  app.post('/rooms', {
    schema: {
      tags,
      security,
      summary: 'Create a room',
      body: createRoomBodySchema(app.signalling.roomDefaults),
      response: { 201: Room, 400: ErrorReply, 401: ErrorReply, 409: ErrorReply, 429: RateLimitedReply }
    },
    // every field is optional, so no body at all means an empty one
    preValidation: async (request) => {
      if (request.body === undefined) request.body = {}
    }
  }, async (request, reply) => {
    reply.code(201)
    return await app.signalling.createRoom(request.body)
  })

  app.get('/rooms', {
    schema: { tags, security, summary: 'List rooms', response: { 200: RoomList, 401: ErrorReply, 429: RateLimitedReply } }
  }, async () => ({ rooms: await app.signalling.rooms() }))

  app.get('/rooms/:roomId', {
    schema: {
      tags,
      security,
      summary: 'A room with its peers',
      params: RoomParams,
      response: { 200: RoomDetails, 400: ErrorReply, 401: ErrorReply, 404: ErrorReply, 429: RateLimitedReply }
    }
  }, async (request) => await app.signalling.room(request.params.roomId))

  app.delete('/rooms/:roomId', {
    schema: {
      tags,
      security,
      summary: 'Delete a room',
      description: 'Every connected peer gets `room-closed` and is then disconnected with close code 4404.',
      params: RoomParams,
      response: { 204: { type: 'null', description: 'Deleted' }, 400: ErrorReply, 401: ErrorReply, 404: ErrorReply, 429: RateLimitedReply }
    }
  }, async (request, reply) => {
    await app.signalling.deleteRoom(request.params.roomId)
    return await reply.code(204).send()
  })

  app.delete('/rooms/:roomId/peers/:peerId', {
    schema: {
      tags,
      security,
      summary: 'Kick a peer',
      description: 'The peer is disconnected with close code 4403; the others get `peer-left` with reason `kicked`.',
      params: PeerParams,
      response: { 204: { type: 'null', description: 'Kicked' }, 400: ErrorReply, 401: ErrorReply, 404: ErrorReply, 429: RateLimitedReply }
    }
  }, async (request, reply) => {
    await app.signalling.kick(request.params.roomId, request.params.peerId)
    return await reply.code(204).send()
  })
}

export default rooms
