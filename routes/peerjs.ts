// PeerJS clients, unmodified: `GET {path}/{key}/id`, `GET {path}/{key}/peers` and the WebSocket `{path}/peerjs`, each
// socket a session of the relay (lib/compat/peerjs.ts), so that rooms, limits, metrics and Redis apply to them.
import { randomUUID } from 'node:crypto'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import {
  DEFAULT_PEERJS_LIMITS, errorFrame, ID_TAKEN_FRAME, isPeerId, PEERJS_PATH, PeerjsEndpoint, PeerjsErrors, reclaimDigest, sameDigest, type PeerjsLimits
} from '../lib/compat/peerjs.js'
import { isSignallingError, signallingError } from '../lib/errors.js'
import { joinClaims, TOKEN_AUDIENCE, type JoinClaims } from '../lib/join-token.js'
import { ID_PATTERN } from '../lib/protocol.js'
import { redactedLogSerializers, redactedRequest } from '../lib/redact.js'
import { ErrorReply } from '../lib/schemas.js'
import { originCheck } from '../plugins/websocket.js'

export interface PeerjsOptions {
  /** Where the endpoint lives (the client's `path` option), e.g. '/peerjs' (the default); not '/'. */
  path?: string
  /**
   * `open`: one key, like peer's `key` option, and any client may take any free id. `token`: the client passes a join
   * token of ours as its `key` or `token`, and may only take the id the token names.
   */
  mode?: 'open' | 'token'
  /** The open mode's key (default 'peerjs'), which is also the id of its room. */
  key?: string
  /** `create` (default): a missing room is created on demand with the room defaults; `existing`: it must exist. */
  rooms?: 'create' | 'existing'
  /** `GET {path}/{key}/peers` lists the ids of the key's room (peer's `allow_discovery`); default false. */
  discovery?: boolean
  /** ms a message for a peer not connected waits before its sender gets EXPIRE (default 5000). */
  expireTimeout?: number
  /** ms without a frame from a client before its socket is closed (default 90000). */
  aliveTimeout?: number
  /** Messages waiting for absent peers, per sender and on this node in all (default 100 and 10000). */
  queue?: { perSender?: number, total?: number }
}

export interface ResolvedPeerjsOptions {
  path: string
  mode: 'open' | 'token'
  key: string
  rooms: 'create' | 'existing'
  discovery: boolean
  limits: PeerjsLimits
  allowedOrigins?: string[]
  requireOrigin?: boolean
  /** The join-token secret: the key of the reclaim tokens' digests. */
  secret: string
}

const ID = new RegExp(ID_PATTERN)

/** Checks and completes the options once, at registration; throws with the option's name. */
export function resolvePeerjsOptions (options: PeerjsOptions | true, secret: string): ResolvedPeerjsOptions {
  const given = options === true ? {} : options
  const path = given.path ?? '/peerjs'
  if (!PEERJS_PATH.test(path)) throw new Error(`peerjs.path must look like /peerjs (segments of A-Z a-z 0-9 . _ ~ -, no trailing slash), got ${JSON.stringify(path)}`)
  const mode = given.mode ?? 'open'
  if (mode !== 'open' && mode !== 'token') throw new Error(`peerjs.mode must be 'open' or 'token', got ${JSON.stringify(mode)}`)
  const key = given.key ?? 'peerjs'
  if (!ID.test(key)) throw new Error(`peerjs.key names a room: 1 to 64 of A-Z a-z 0-9 _ -, got ${JSON.stringify(key)}`)
  const rooms = given.rooms ?? 'create'
  if (rooms !== 'create' && rooms !== 'existing') throw new Error(`peerjs.rooms must be 'create' or 'existing', got ${JSON.stringify(rooms)}`)
  const limits: PeerjsLimits = {
    expireTimeout: given.expireTimeout ?? DEFAULT_PEERJS_LIMITS.expireTimeout,
    aliveTimeout: given.aliveTimeout ?? DEFAULT_PEERJS_LIMITS.aliveTimeout,
    queuePerSender: given.queue?.perSender ?? DEFAULT_PEERJS_LIMITS.queuePerSender,
    queueTotal: given.queue?.total ?? DEFAULT_PEERJS_LIMITS.queueTotal
  }
  for (const [name, value, min, max] of [
    ['expireTimeout', limits.expireTimeout, 100, 600_000], ['aliveTimeout', limits.aliveTimeout, 1000, 3_600_000],
    ['queue.perSender', limits.queuePerSender, 0, 10_000], ['queue.total', limits.queueTotal, 0, 1_000_000]
  ] as const) {
    if (!Number.isInteger(value) || value < min || value > max) throw new Error(`peerjs.${name} must be an integer from ${min} to ${max}, got ${String(value)}`)
  }
  return { path, mode, key, rooms, discovery: given.discovery ?? false, limits, secret }
}

/** The room a request's key opens, and in the token mode the claims of the token it carries. */
interface Namespace { roomId: string, claims?: JoinClaims }

function looksLikeJwt (value: string | undefined): value is string {
  return value !== undefined && value.split('.').length === 3
}

function namespaceOf (app: FastifyInstance, options: ResolvedPeerjsOptions, key: string | undefined, token?: string): Namespace {
  if (options.mode === 'open') {
    if (key !== options.key) throw signallingError('UNAUTHORIZED', PeerjsErrors.INVALID_KEY)
    return { roomId: key }
  }
  // the unmodified client sends both in the URL: the join token may be either
  let failure: unknown = signallingError('UNAUTHORIZED', 'pass a join token as the key or the token')
  for (const candidate of [key, token]) {
    if (!looksLikeJwt(candidate)) continue
    try {
      const claims = app.signallingAuth.verifyJoinToken(candidate)
      if (claims.aud !== TOKEN_AUDIENCE) throw signallingError('UNAUTHORIZED', 'a resume token does not join')
      return { roomId: claims.room, claims }
    } catch (err) {
      failure = err
    }
  }
  throw failure
}

async function ensureRoom (app: FastifyInstance, options: ResolvedPeerjsOptions, roomId: string): Promise<void> {
  if (options.rooms === 'existing' || await app.signalling.relay.registry.get(roomId) !== undefined) return
  try {
    await app.signalling.createRoom({ roomId })
  } catch (err) {
    if (!isSignallingError(err) || err.code !== 'ROOM_EXISTS') throw err
  }
}

/** The reference server's CORS (`origin: true`), limited to the allowed origins when they are set. */
function allowOrigin (options: ResolvedPeerjsOptions, request: FastifyRequest, reply: FastifyReply): void {
  const origin = request.headers.origin
  if (origin === undefined) return
  if (options.allowedOrigins !== undefined && !options.allowedOrigins.includes(origin)) return
  reply.header('access-control-allow-origin', origin).header('vary', 'Origin')
}

/** A join token may be the key, in the path: these routes log the path with the key left out, and no query. */
const keyRedactedSerializers = {
  req: (request: Parameters<typeof redactedRequest>[0]) => {
    const logged = redactedRequest(request)
    return { ...logged, url: String(logged.url).replace(/\/[^/?]+\/(id|peers)(?=\?|$)/, '/[key]/$1') }
  }
}

const KEY = Type.String({ description: 'The open mode\'s key, or a join token (in the token mode)' })
const HTTP_ERRORS = {
  401: { ...ErrorReply, description: 'Wrong key or invalid join token' },
  429: { ...ErrorReply, description: 'RATE_LIMITED (`REST_RATE_LIMIT`)' }
}
const CLIENT_QUERY = Type.Object({
  ts: Type.Optional(Type.String({ description: 'Cache buster the client adds; ignored' })),
  version: Type.Optional(Type.String({ description: 'Client version; ignored' }))
})

/**
 * `GET {path}/{key}/id` and `/peers`. A join token used as the key is longer than a route parameter may be (100
 * characters): such a key falls through to a wildcard route, which answers the same.
 */
export const peerjsHttp: FastifyPluginAsyncTypebox<ResolvedPeerjsOptions> = async (app, options) => {
  const registry = app.signalling.relay.registry

  async function answer (what: string, key: string, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    allowOrigin(options, request, reply)
    const namespace = namespaceOf(app, options, key)
    if (what === 'peers') {
      if (!options.discovery) throw signallingError('UNAUTHORIZED', 'peer discovery is off')
      const peers = await registry.get(namespace.roomId) === undefined ? [] : await registry.peers(namespace.roomId)
      return await reply.type('application/json; charset=utf-8').send(JSON.stringify(peers.map((peer) => peer.peerId)))
    }
    let id = namespace.claims?.sub
    while (id === undefined || (namespace.claims === undefined && await registry.hasPeer(namespace.roomId, id))) id = randomUUID()
    // as the reference server answers it; the client reads the text
    return await reply.type('text/html; charset=utf-8').send(id)
  }

  app.get(`${options.path}/:key/id`, {
    logSerializers: keyRedactedSerializers,
    schema: {
      tags: ['peerjs'],
      summary: 'PeerJS: a fresh peer id',
      description: 'A fresh id as text, for a client created without one; in the token mode, the id the join token given as the key names.',
      params: Type.Object({ key: KEY }),
      querystring: CLIENT_QUERY,
      response: { 200: { description: 'The id, as text', type: 'string' }, ...HTTP_ERRORS }
    }
  }, async (request, reply) => await answer('id', request.params.key, request, reply))

  app.get(`${options.path}/:key/peers`, {
    logSerializers: keyRedactedSerializers,
    schema: {
      tags: ['peerjs'],
      summary: 'PeerJS: the ids of the key\'s room',
      description: 'A JSON array of the peer ids in the key\'s room, when discovery is on (`PEERJS_DISCOVERY`); 401 otherwise.',
      params: Type.Object({ key: KEY }),
      querystring: CLIENT_QUERY,
      response: { 200: Type.Array(Type.String(), { description: 'The peer ids' }), ...HTTP_ERRORS }
    }
  }, async (request, reply) => await answer('peers', request.params.key, request, reply))

  app.get(`${options.path}/*`, {
    logSerializers: keyRedactedSerializers,
    schema: { hide: true, params: Type.Object({ '*': Type.String() }) }
  }, async (request, reply) => {
    const rest = request.params['*']
    const slash = rest.lastIndexOf('/')
    const what = rest.slice(slash + 1)
    if (slash < 1 || (what !== 'id' && what !== 'peers')) throw signallingError('ROUTE_NOT_FOUND', `GET ${options.path}/${what}`)
    return await answer(what, rest.slice(0, slash), request, reply)
  })
}

interface Refusal { frame: string, reason: string }
const kAdmission = Symbol('peerjs.admission')
type Admitted = FastifyRequest & { [kAdmission]: { claims: JoinClaims } | Refusal | null }

/** Refusals the reference server answers inside the socket; the others are HTTP statuses before the upgrade. */
const IN_SOCKET = new Set(['UNAUTHORIZED', 'ROOM_FULL', 'ROOM_NOT_FOUND'])

const RECLAIM = 'peerjsReclaim'

/** The WebSocket `{path}/peerjs?key=&id=&token=&version=`. */
export const peerjsSocket: FastifyPluginAsyncTypebox<ResolvedPeerjsOptions> = async (app, options) => {
  const endpoint = new PeerjsEndpoint(options.limits)
  app.addHook('onClose', async () => { endpoint.close() })
  // keyed by the join-token secret, which every node shares, so that every node computes the same digests
  const digestKey = options.secret
  const checkOrigin = originCheck(options)
  app.decorateRequest(kAdmission, null)

  async function admit (query: { key?: string, id?: string, token?: string }): Promise<{ claims: JoinClaims } | Refusal> {
    const { key, id, token } = query
    if (id === undefined || id === '' || token === undefined || token === '' || key === undefined || key === '') {
      return { frame: errorFrame(PeerjsErrors.INVALID_WS_PARAMETERS, 'INVALID_REQUEST'), reason: 'other' }
    }
    let namespace: Namespace
    try {
      namespace = namespaceOf(app, options, key, token)
    } catch (err) {
      const detail = options.mode === 'open' ? PeerjsErrors.INVALID_KEY : `${PeerjsErrors.INVALID_TOKEN}: ${(err as Error).message}`
      return { frame: errorFrame(detail, 'UNAUTHORIZED'), reason: 'unauthorized' }
    }
    if (!isPeerId(id)) return { frame: errorFrame(`ID "${id.slice(0, 64)}" is invalid here: 1 to 64 of A-Z a-z 0-9 _ -`, 'INVALID_REQUEST'), reason: 'other' }
    if (namespace.claims !== undefined && namespace.claims.sub !== id) {
      return { frame: errorFrame(`${PeerjsErrors.INVALID_TOKEN}: it is for id "${namespace.claims.sub}"`, 'UNAUTHORIZED'), reason: 'unauthorized' }
    }
    await ensureRoom(app, options, namespace.roomId)
    const digest = reclaimDigest(digestKey, token)
    const registry = app.signalling.relay.registry
    if (await registry.hasPeer(namespace.roomId, id)) {
      // the reference hands a taken id over to a connection with the same token only
      const holder = (await registry.peers(namespace.roomId)).find((peer) => peer.peerId === id)
      const held = holder?.metadata[RECLAIM]
      if (holder !== undefined && (typeof held !== 'string' || !sameDigest(held, digest))) return { frame: ID_TAKEN_FRAME, reason: 'id_taken' }
    }
    const metadata = { ...namespace.claims?.metadata, [RECLAIM]: digest }
    const claims = namespace.claims === undefined
      ? joinClaims(namespace.roomId, id, 3600, metadata)
      : { ...namespace.claims, metadata }
    await app.signalling.relay.admit(claims)
    return { claims }
  }

  app.get(`${options.path}/peerjs`, {
    websocket: true,
    logSerializers: redactedLogSerializers,
    config: { swaggerTransform: ({ schema, url }) => ({ schema: { ...schema, hide: false }, url }) },
    schema: {
      tags: ['peerjs'],
      summary: 'PeerJS: the server connection of a peerjs 1.5 client',
      description: 'Upgrades to a WebSocket speaking the PeerJS protocol: `OPEN`, `ID-TAKEN`, `ERROR`, `EXPIRE`, and the relayed ' +
        '`OFFER`, `ANSWER`, `CANDIDATE`, `LEAVE` (with `src` set by the server); the client sends `HEARTBEAT`. A wrong key or token, a ' +
        'taken id, a full or missing room are answered inside the socket (`ERROR` or `ID-TAKEN`, then close), as the reference server does.',
      querystring: Type.Object({
        key: Type.Optional(Type.String({ description: 'The open mode\'s key, or a join token' })),
        id: Type.Optional(Type.String({ description: 'The peer id to take' })),
        token: Type.Optional(Type.String({ description: 'The client\'s reclaim token (a join token may come here instead of the key)' })),
        version: Type.Optional(Type.String({ description: 'Client version; ignored' }))
      }),
      response: {
        101: { description: 'Switching protocols: `OPEN` follows, or an `ERROR`/`ID-TAKEN` and the close', type: 'null' },
        403: { ...ErrorReply, description: 'ORIGIN_NOT_ALLOWED' },
        429: { ...ErrorReply, description: 'RATE_LIMITED: too many upgrade attempts from this address (`UPGRADE_RATE_LIMIT`)' },
        503: { ...ErrorReply, description: 'The server is restarting, or cannot reach its Redis backplane' }
      }
    },
    onRequest: checkOrigin,
    preValidation: async (request) => {
      let admission: { claims: JoinClaims } | Refusal
      try {
        admission = await admit(request.query)
      } catch (err) {
        if (!isSignallingError(err) || !IN_SOCKET.has(err.code)) throw err
        admission = { frame: errorFrame(err.code === 'ROOM_FULL' ? `${PeerjsErrors.CONNECTION_LIMIT_EXCEED}: ${err.message}` : err.message, err.code), reason: err.code.toLowerCase() }
      }
      ;(request as Admitted)[kAdmission] = admission
    },
    onError: async (_request, _reply, error) => {
      app.signalling.metrics.rejectedUpgrade(error.code === 'ORIGIN_NOT_ALLOWED' ? 'origin' : error.code === 'RATE_LIMITED' ? 'rate_limited' : error.code === 'SERVICE_UNAVAILABLE' ? 'draining' : 'other')
    }
  }, (socket, request) => {
    const admission = (request as Admitted)[kAdmission]!
    if ('frame' in admission) {
      app.signalling.metrics.rejectedUpgrade(admission.reason)
      if (admission.reason === 'room_full') app.signalling.metrics.refused('room_full')
      socket.send(admission.frame)
      socket.close()
      return
    }
    const session = endpoint.open(admission.claims.sub, {
      send: (text) => { if (socket.readyState === socket.OPEN) socket.send(text) },
      close: (code, reason) => {
        if (code === 1006) return socket.terminate()
        try {
          if (code === 1005) socket.close()
          else socket.close(code, reason)
        } catch {
          socket.terminate()
        }
      },
      bufferedAmount: () => socket.bufferedAmount
    })
    socket.on('message', (data, isBinary) => { session.fromClient(data as Buffer, isBinary) })
    socket.on('close', () => { session.end() })
    app.signalling.relay.connect(session.relaySocket.asWebSocket, admission.claims)
  })
}
