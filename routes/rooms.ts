// REST: rooms and their peers. Thin: validate, call the `signalling` decorator, shape the reply.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import {
  createRoomBodySchema, ErrorReply, MAX_SERVER_MESSAGE_BYTES, PeerParams, PeerSummary, RateLimitedReply, Room, RoomDetails, RoomList, RoomParams, SendMessageBody,
  UpdatePeerBody
} from '../lib/schemas.js'

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

  app.patch('/rooms/:roomId/peers/:peerId', {
    schema: {
      tags,
      security,
      summary: 'Replace a peer\'s metadata',
      description: 'Every peer of the room, this one included and on whichever node, gets `peer-updated`; `GET /rooms/{roomId}` ' +
        'shows the new metadata, and a resumed session keeps it. 503 BACKPLANE_UNAVAILABLE: the store could not be reached, ' +
        'or the metadata was replaced but the peers on other nodes were not told.',
      params: PeerParams,
      body: UpdatePeerBody,
      response: { 200: PeerSummary, 400: ErrorReply, 401: ErrorReply, 404: ErrorReply, 429: RateLimitedReply, 503: ErrorReply }
    }
  }, async (request) => await app.signalling.updatePeer(request.params.roomId, request.params.peerId, request.body.metadata))

  app.post('/rooms/:roomId/messages', {
    // room for `data` at its limit and the rest of the body, whatever the app's own limit (a larger body: 413)
    bodyLimit: MAX_SERVER_MESSAGE_BYTES + 1024,
    schema: {
      tags,
      security,
      summary: 'Send a message from the backend',
      description: 'Delivers `{"type":"message","from":"@server","data":…}` to peer `to`, or to every peer of the room, on ' +
        'whichever node they are. `@server` is no peer id (ids are A-Z a-z 0-9 _ -), so no peer can send as it. 202: written ' +
        'to the sockets of this node\'s peers and published to the other nodes; peers do not acknowledge it, and a peer in ' +
        'its grace period gets it when it resumes.',
      params: RoomParams,
      body: SendMessageBody,
      response: {
        202: { type: 'null', description: 'Accepted for delivery' },
        400: ErrorReply,
        401: ErrorReply,
        404: { ...ErrorReply, description: 'ROOM_NOT_FOUND, or PEER_NOT_FOUND when `to` is in the room on no node' },
        429: RateLimitedReply,
        503: ErrorReply
      }
    }
  }, async (request, reply) => {
    await app.signalling.send(request.params.roomId, request.body.data, request.body.to === undefined ? {} : { to: request.body.to })
    return await reply.code(202).send()
  })
}

export default rooms
