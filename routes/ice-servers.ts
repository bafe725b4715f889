// GET /ice-servers: fresh STUN/TURN settings for a peer (join token) or for a backend holding the API key.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { signallingError } from '../lib/errors.js'
import { tokenFromRequest } from '../lib/join-token.js'
import { IceServer, PeerId } from '../lib/protocol.js'
import { redactedLogSerializers } from '../lib/redact.js'
import { ErrorReply, RateLimitedReply } from '../lib/schemas.js'

const IceServersReply = Type.Object({
  iceServers: Type.Array(IceServer),
  ttl: Type.Integer({ description: 'Seconds the TURN credentials stay valid; ask again before they expire' })
}, { title: 'IceServersReply', additionalProperties: false })

const iceServers: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/ice-servers', {
    // tokens travel in the query string: whatever logger the host app has, it never sees them
    logSerializers: redactedLogSerializers,
    schema: {
      tags: ['ice'],
      summary: 'STUN/TURN settings with short-lived TURN credentials',
      description: 'Authorised by a join token (`?token=` or `Authorization: Bearer`; the credentials are minted for its peer) ' +
        'or by the API key (then `peerId` names the peer, default `anonymous`). An empty list when no STUN/TURN is configured. ' +
        'Connected peers can also send `{"type":"ice-servers"}` over the WebSocket.',
      security: [{ joinToken: [] }, { apiKey: [] }],
      querystring: Type.Object({ token: Type.Optional(Type.String()), peerId: Type.Optional(PeerId) }, { additionalProperties: false }),
      response: { 200: IceServersReply, 400: ErrorReply, 401: ErrorReply, 429: RateLimitedReply }
    }
  }, async (request) => {
    if (await app.signallingAuth.isBackend(request)) return app.signalling.iceServers(request.query.peerId ?? 'anonymous')
    const token = tokenFromRequest(request.query, request.headers.authorization)
    if (token === undefined) throw signallingError('UNAUTHORIZED', 'a join token or the API key is required')
    const peerId = app.signallingAuth.verifyJoinToken(token).sub
    return app.signalling.iceServers(peerId)
  })
}

export default iceServers
