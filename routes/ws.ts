// GET /ws: the token and the room are checked before the upgrade, so no unauthenticated socket ever opens.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { FastifyRequest } from 'fastify'
import { signallingError } from '../lib/errors.js'
import { RESUME_AUDIENCE, tokenFromRequest, type JoinClaims } from '../lib/join-token.js'
import { quietRedundantEnds } from '../lib/quiet-ends.js'
import { redactedLogSerializers } from '../lib/redact.js'
import { ErrorReply } from '../lib/schemas.js'
import { originCheck } from '../plugins/websocket.js'

/** Where preValidation leaves the claims of an admitted token for the handler: a request decoration of the route's scope. */
const kClaims = Symbol('signalling.claims')
type Admitted = FastifyRequest & { [kClaims]: JoinClaims | null }

type UpgradedSocket = FastifyRequest['raw']['socket'] & { _httpMessage?: { detachSocket: (s: unknown) => void } | null }

/** The TCP (or TLS) socket under an upgrade; none under `injectWS`, whose request is not a real one. */
const tcpOf = (request: FastifyRequest): UpgradedSocket | undefined => request.raw.socket as UpgradedSocket | undefined

const REJECTION_REASONS: Record<string, string> = {
  UNAUTHORIZED: 'unauthorized',
  ROOM_NOT_FOUND: 'room_not_found',
  ROOM_FULL: 'room_full',
  ORIGIN_NOT_ALLOWED: 'origin',
  RATE_LIMITED: 'rate_limited',
  SERVICE_UNAVAILABLE: 'draining',
  BACKPLANE_UNAVAILABLE: 'backplane'
}

export interface WsRouteOptions {
  /** Browser origins allowed to open a socket (exact match, e.g. `https://app.example.com`); any when unset. */
  allowedOrigins?: string[]
  /** Refuse upgrades that carry no `Origin` header (non-browser clients); default false. */
  requireOrigin?: boolean
}

const ws: FastifyPluginAsyncTypebox<WsRouteOptions> = async (app, options) => {
  const checkOrigin = originCheck(options)
  app.decorateRequest(kClaims, null)
  app.get('/ws', {
    websocket: true,
    // tokens travel in the query string: whatever logger the host app has, it never sees them
    logSerializers: redactedLogSerializers,
    // @fastify/websocket hides its routes from the document; this one is part of the API
    config: {
      swaggerTransform: ({ schema, url }) => ({ schema: { ...schema, hide: false }, url })
    },
    schema: {
      tags: ['websocket'],
      summary: 'Join a room over WebSocket',
      description: 'Upgrades to a WebSocket speaking the signalling protocol (see the Client*/Server* message schemas). ' +
        'The join token comes as `?token=` or `Authorization: Bearer`. Frames are JSON text of at most 64 KiB.',
      querystring: Type.Object({
        token: Type.Optional(Type.String({ description: 'Join token, or the resume token from `welcome`' })),
        lastSeq: Type.Optional(Type.String({ pattern: '^(0|[1-9][0-9]{0,15})$', description: 'Resume: the last `seq` received; the missed messages follow `welcome`' }))
      }),
      response: {
        101: { description: 'Switching protocols: the socket is open and `welcome` follows', type: 'null' },
        401: { ...ErrorReply, description: 'Missing, malformed, expired or wrongly signed token; or one issued before its room was created, or before its peer was kicked' },
        403: { ...ErrorReply, description: 'ROOM_FULL, or ORIGIN_NOT_ALLOWED' },
        404: { ...ErrorReply, description: 'ROOM_NOT_FOUND' },
        429: { ...ErrorReply, description: 'RATE_LIMITED: too many upgrade attempts from this address (`UPGRADE_RATE_LIMIT`)' },
        503: { ...ErrorReply, description: 'The server is restarting, or cannot reach its Redis backplane' }
      }
    },
    onRequest: checkOrigin,
    preValidation: async (request) => {
      const claims = app.signallingAuth.verifyJoinToken(tokenFromRequest(request.query, request.headers.authorization))
      if (claims.aud === RESUME_AUDIENCE && request.query.lastSeq === undefined) {
        throw signallingError('UNAUTHORIZED', 'a resume token only resumes: send lastSeq')
      }
      // read by the handler only, which runs only if the admission succeeds
      ;(request as Admitted)[kClaims] = claims
      await app.signalling.relay.admit(claims)
    },
    // the last hook before the upgrade: the 101 answer waits in the socket for `welcome`, which an in-memory join
    // sends within the same turn of the event loop, and both leave in one write (see the handler)
    preHandler: (request, _reply, done) => {
      tcpOf(request)?.cork()
      done()
    },
    onError: async (_request, _reply, error) => {
      app.signalling.metrics.rejectedUpgrade(REJECTION_REASONS[error.code] ?? 'other')
      if (error.code === 'ROOM_FULL') app.signalling.metrics.refused('room_full')
    }
  }, (socket, request) => {
    // @fastify/websocket's own error listener holds the request and the reply for the socket's whole life; it goes
    // once the relay's is on (removing an event's only listener would turn the socket's listener table into a dictionary)
    const inherited = socket.listeners('error') as Array<(err: Error) => void>
    const tcp = tcpOf(request)
    try {
      // the TCP socket still points at the upgrade's response, which holds the request (its URL has the token)
      tcp?._httpMessage?.detachSocket(tcp)
      const claims = (request as Admitted)[kClaims]!
      const lastSeq = request.query.lastSeq === undefined ? undefined : Number(request.query.lastSeq)
      app.signalling.relay.connect(socket, claims, { lastSeq, resumeOnly: claims.aud === RESUME_AUDIENCE })
      for (const listener of inherited) socket.removeListener('error', listener)
      quietRedundantEnds(socket)
    } finally {
      // after this turn's microtasks, in which an in-memory join writes `welcome`; a join that waits on Redis or a
      // hand-off sends it later, and the 101 goes out alone
      if (tcp !== undefined) setImmediate(() => tcp.uncork())
    }
  })
}

export default ws
