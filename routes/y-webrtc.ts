// y-webrtc clients, unmodified: the WebSocket `{path}` (`signaling: ['wss://host/yjs']`), each topic a room of ours
// and each subscription a session of the relay (lib/compat/y-webrtc.ts), so that limits, metrics and Redis apply.
import { randomUUID } from 'node:crypto'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { DEFAULT_PING_INTERVAL, Y_WEBRTC_PATH, YWebrtcEndpoint } from '../lib/compat/y-webrtc.js'
import { isSignallingError, signallingError } from '../lib/errors.js'
import { joinClaims, TOKEN_AUDIENCE, type JoinClaims } from '../lib/join-token.js'
import { redactedLogSerializers } from '../lib/redact.js'
import { ErrorReply } from '../lib/schemas.js'
import { originCheck } from '../plugins/websocket.js'

export interface YWebrtcOptions {
  /** Where the endpoint lives (the client's signalling URL is `wss://host{path}`), e.g. '/yjs' (the default); not '/'. */
  path?: string
  /**
   * `open`: any client may subscribe to any topic, as with the reference server. `token`: the URL carries
   * `?token=<join token>`, which allows the one room it names (the topic), under the peer id it names.
   */
  mode?: 'open' | 'token'
  /** `create` (default): a topic's missing room is created on demand with the room defaults; `existing`: it must exist. */
  rooms?: 'create' | 'existing'
  /** ms between WebSocket pings; a client that answered none of the last is dropped (default 30000; 0 disables). */
  pingInterval?: number
}

export interface ResolvedYWebrtcOptions {
  path: string
  mode: 'open' | 'token'
  rooms: 'create' | 'existing'
  pingInterval: number
  allowedOrigins?: string[]
  requireOrigin?: boolean
}

/** Checks and completes the options once, at registration; throws with the option's name. */
export function resolveYWebrtcOptions (options: YWebrtcOptions | true): ResolvedYWebrtcOptions {
  const given = options === true ? {} : options
  const path = given.path ?? '/yjs'
  if (!Y_WEBRTC_PATH.test(path)) throw new Error(`yWebrtc.path must look like /yjs (segments of A-Z a-z 0-9 . _ ~ -, no trailing slash), got ${JSON.stringify(path)}`)
  const mode = given.mode ?? 'open'
  if (mode !== 'open' && mode !== 'token') throw new Error(`yWebrtc.mode must be 'open' or 'token', got ${JSON.stringify(mode)}`)
  const rooms = given.rooms ?? 'create'
  if (rooms !== 'create' && rooms !== 'existing') throw new Error(`yWebrtc.rooms must be 'create' or 'existing', got ${JSON.stringify(rooms)}`)
  const pingInterval = given.pingInterval ?? DEFAULT_PING_INTERVAL
  if (!Number.isInteger(pingInterval) || (pingInterval !== 0 && (pingInterval < 100 || pingInterval > 3_600_000))) {
    throw new Error(`yWebrtc.pingInterval must be 0 or an integer from 100 to 3600000, got ${String(pingInterval)}`)
  }
  return { path, mode, rooms, pingInterval }
}

async function ensureRoom (app: FastifyInstance, options: ResolvedYWebrtcOptions, roomId: string): Promise<void> {
  if (options.rooms === 'existing' || await app.signalling.relay.registry.get(roomId) !== undefined) return
  try {
    await app.signalling.createRoom({ roomId })
  } catch (err) {
    if (!isSignallingError(err) || err.code !== 'ROOM_EXISTS') throw err
  }
}

const REJECTION_REASONS: Record<string, string> = {
  UNAUTHORIZED: 'unauthorized',
  ROOM_NOT_FOUND: 'room_not_found',
  ROOM_FULL: 'room_full',
  ORIGIN_NOT_ALLOWED: 'origin',
  RATE_LIMITED: 'rate_limited',
  SERVICE_UNAVAILABLE: 'draining',
  BACKPLANE_UNAVAILABLE: 'backplane'
}

const kClaims = Symbol('yWebrtc.claims')
type Admitted = FastifyRequest & { [kClaims]: JoinClaims | null }

/** The WebSocket `{path}` (`?token=` in the token mode). */
export const yWebrtcSocket: FastifyPluginAsyncTypebox<ResolvedYWebrtcOptions> = async (app, options) => {
  const endpoint = new YWebrtcEndpoint(options.pingInterval)
  app.addHook('onClose', async () => { endpoint.close() })
  const checkOrigin = originCheck(options)
  const relay = app.signalling.relay
  app.decorateRequest(kClaims, null)

  /** Admits `claims` to their room: our rules, as for a `/ws` join. */
  async function admit (claims: JoinClaims): Promise<void> {
    await ensureRoom(app, options, claims.room)
    try {
      await relay.admit(claims)
    } catch (err) {
      if (isSignallingError(err) && err.code === 'ROOM_FULL') app.signalling.metrics.refused('room_full')
      throw err
    }
  }

  app.get(options.path, {
    websocket: true,
    logSerializers: redactedLogSerializers,
    config: { swaggerTransform: ({ schema, url }) => ({ schema: { ...schema, hide: false }, url }) },
    schema: {
      tags: ['y-webrtc'],
      summary: 'y-webrtc: the signalling connection of a y-webrtc 10 client',
      description: 'Upgrades to a WebSocket speaking the protocol of y-webrtc\'s signalling server: `subscribe` and `unsubscribe` ' +
        '(`topics`), `publish` (`topic`), delivered to every subscriber of the topic with `clients` added, and `ping`, answered ' +
        '`pong`. A topic is a room (1 to 64 of A-Z a-z 0-9 _ -). A refused frame or subscription is answered ' +
        '`{"type":"error","code","message","topic"?}`. In the token mode the join token comes as `?token=` and allows its room alone.',
      querystring: Type.Object({
        token: Type.Optional(Type.String({ description: 'The token mode\'s join token; ignored in the open mode' }))
      }),
      response: {
        101: { description: 'Switching protocols: the client subscribes next', type: 'null' },
        401: { ...ErrorReply, description: 'Token mode: a missing, malformed, expired or wrongly signed token, or one of a kicked peer' },
        403: { ...ErrorReply, description: 'ORIGIN_NOT_ALLOWED, or (token mode) ROOM_FULL' },
        404: { ...ErrorReply, description: 'Token mode: ROOM_NOT_FOUND (with `Y_WEBRTC_ROOMS=existing`)' },
        429: { ...ErrorReply, description: 'RATE_LIMITED: too many upgrade attempts from this address (`UPGRADE_RATE_LIMIT`)' },
        503: { ...ErrorReply, description: 'The server is restarting, or cannot reach its Redis backplane' }
      }
    },
    onRequest: checkOrigin,
    preValidation: async (request) => {
      if (relay.draining) throw signallingError('SERVICE_UNAVAILABLE', 'the server is restarting; connect again')
      if (options.mode === 'open') return
      // fail closed before the upgrade: the token, and its room, as `/ws` checks them
      const claims = app.signallingAuth.verifyJoinToken(request.query.token)
      if (claims.aud !== TOKEN_AUDIENCE) throw signallingError('UNAUTHORIZED', 'a resume token does not join')
      await admit(claims)
      ;(request as Admitted)[kClaims] = claims
    },
    onError: async (_request, _reply, error) => {
      app.signalling.metrics.rejectedUpgrade(REJECTION_REASONS[error.code] ?? 'other')
    }
  }, (socket, request) => {
    const claims = (request as Admitted)[kClaims] ?? undefined
    // the open mode's peer has an id of its own per connection; the reference knows no ids
    const connection = endpoint.open(claims?.sub ?? randomUUID().replaceAll('-', ''), {
      send: (text) => { if (socket.readyState === socket.OPEN) socket.send(text) },
      close: (code, reason) => {
        if (code === 1006) return socket.terminate()
        try {
          socket.close(code, reason)
        } catch {
          socket.terminate()
        }
      },
      ping: () => {
        try {
          socket.ping()
        } catch {
          socket.terminate()
        }
      },
      bufferedAmount: () => socket.bufferedAmount,
      subscribe: async (topic, peerId, relaySocket) => {
        if (claims !== undefined && topic !== claims.room) throw signallingError('UNAUTHORIZED', `the join token allows topic ${claims.room} alone`)
        // a fresh check: the room may have filled, or the peer been kicked, since the upgrade
        const admitted = claims ?? joinClaims(topic, peerId, 3600, {})
        try {
          await admit(admitted)
        } catch (err) {
          if (isSignallingError(err)) throw err
          request.log.error({ err, roomId: topic }, 'y-webrtc subscription failed')
          throw signallingError('INTERNAL_ERROR', 'subscribe failed')
        }
        relay.connect(relaySocket, admitted)
      }
    })
    socket.on('message', (data, isBinary) => { connection.fromClient(data as Buffer, isBinary) })
    socket.on('pong', () => { connection.pong() })
    socket.on('close', () => { connection.end() })
  })
}
