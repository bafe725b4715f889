// The package's main export: register it in any Fastify 5 app to get rooms, join tokens and the /ws relay.
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { TypeBoxValidatorCompiler } from '@fastify/type-provider-typebox'
import { checkLimits, DEFAULT_REST_RATE, DEFAULT_UPGRADE_RATE, type RequestRate } from './lib/limits.js'
import { MAX_FRAME_BYTES } from './lib/protocol.js'
import { registerScopedWebsocket } from './plugins/websocket.js'
import auth, { type AuthOptions } from './plugins/auth.js'
import core, { type SignallingCoreOptions } from './plugins/signalling.js'
import { limitRequests } from './plugins/rate-limit.js'
import { errorHandler } from './routes/error-handler.js'
import iceServers from './routes/ice-servers.js'
import rooms from './routes/rooms.js'
import tokens from './routes/tokens.js'
import webhooks from './routes/webhooks.js'
import ws, { type WsRouteOptions } from './routes/ws.js'
import { peerjsHttp, peerjsSocket, resolvePeerjsOptions, type PeerjsOptions } from './routes/peerjs.js'
import { resolveYWebrtcOptions, yWebrtcSocket, type YWebrtcOptions } from './routes/y-webrtc.js'

export interface SignallingOptions extends AuthOptions, SignallingCoreOptions, WsRouteOptions {
  /** Prefix of the plugin's routes, e.g. '/signalling' (default: none). */
  prefix?: string
  /**
   * Request limits, answered 429 RATE_LIMITED. `rest` and `upgrades` count per client address on this node (default
   * 600 REST requests and 120 `/ws` upgrade attempts a minute); REST requests with the API key (or passing `authorize`)
   * are not counted there but per credential, under `authenticated` (default: no limit). `false` disables either.
   */
  requestRate?: { rest?: RequestRate | false, upgrades?: RequestRate | false, authenticated?: RequestRate | false }
  /** An endpoint for unmodified PeerJS clients (off by default); `true` takes the defaults (see routes/peerjs.ts). */
  peerjs?: PeerjsOptions | boolean
  /** An endpoint for unmodified y-webrtc clients (off by default); `true` takes the defaults (see routes/y-webrtc.ts). */
  yWebrtc?: YWebrtcOptions | boolean
}

async function signalling (fastify: FastifyInstance, options: SignallingOptions): Promise<void> {
  checkLimits(options)
  const peerjs = options.peerjs === undefined || options.peerjs === false
    ? undefined
    : { ...resolvePeerjsOptions(options.peerjs, options.jwtSecret), allowedOrigins: options.allowedOrigins, requireOrigin: options.requireOrigin }
  const yWebrtc = options.yWebrtc === undefined || options.yWebrtc === false
    ? undefined
    : { ...resolveYWebrtcOptions(options.yWebrtc), allowedOrigins: options.allowedOrigins, requireOrigin: options.requireOrigin }
  await fastify.register(auth, options)
  await fastify.register(core, options)
  // the host's own @fastify/websocket, registered before the plugin, serves the plugin's /ws as well
  const hostWebsocket = fastify.hasDecorator('websocketServer')
  if (hostWebsocket) {
    // the relay still closes a frame over 64 KiB with 1009, but ws reads up to the host's maxPayload first, and
    // compression is the host's choice
    const { maxPayload = 100 * 1024 * 1024, perMessageDeflate = false } = fastify.websocketServer.options
    if (maxPayload > MAX_FRAME_BYTES || perMessageDeflate !== false) {
      fastify.log.warn({ maxPayload, perMessageDeflate: perMessageDeflate !== false }, 'signalling: @fastify/websocket was registered with a maxPayload over 64 KiB or with compression; register the signalling plugin first for the recommended settings')
    }
  }
  const rest = options.requestRate?.rest ?? DEFAULT_REST_RATE
  const upgrades = options.requestRate?.upgrades ?? DEFAULT_UPGRADE_RATE
  const authenticated = options.requestRate?.authenticated ?? false
  await fastify.register(async (scope) => {
    scope.setValidatorCompiler(TypeBoxValidatorCompiler)
    scope.setErrorHandler(errorHandler)
    await scope.register(async (restScope) => {
      await limitRequests(restScope, { perAddress: rest, addressLimit: 'rest', perCredential: authenticated, isBackend: fastify.signallingAuth.isBackend })
      await restScope.register(rooms)
      await restScope.register(tokens)
      await restScope.register(iceServers)
      await restScope.register(webhooks)
      if (peerjs !== undefined) await restScope.register(peerjsHttp, peerjs)
    })
    await scope.register(async (wsScope) => {
      if (!hostWebsocket) {
        // in this scope only, so that neither the REST routes nor the host's pay for its hooks; the host instance
        // carries its decorators, and a host registering @fastify/websocket after the plugin is told at once
        const others = [
          ...(peerjs === undefined ? [] : [`${wsScope.prefix}${peerjs.path}/peerjs`]),
          ...(yWebrtc === undefined ? [] : [`${wsScope.prefix}${yWebrtc.path}`])
        ]
        const decorators = await registerScopedWebsocket(wsScope, `${wsScope.prefix}/ws`, others)
        fastify.decorate('websocketServer', decorators.websocketServer)
        fastify.decorate('injectWS', decorators.injectWS)
      }
      await limitRequests(wsScope, { perAddress: upgrades, addressLimit: 'upgrade' })
      // only the route's own options: passing `prefix` again would apply it twice
      await wsScope.register(ws, { allowedOrigins: options.allowedOrigins, requireOrigin: options.requireOrigin })
      if (peerjs !== undefined) await wsScope.register(peerjsSocket, peerjs)
      if (yWebrtc !== undefined) await wsScope.register(yWebrtcSocket, yWebrtc)
    })
  }, { prefix: options.prefix ?? '' })
}

export default fp(signalling, { name: 'fastify-signalling', fastify: '5.x' })
export type { Signalling } from './plugins/signalling.js'
export type { AuthOptions } from './plugins/auth.js'
export type { RoomRegistry, RoomRecord } from './lib/room-registry.js'
export type { EventData, EventType, SignallingEvent } from './lib/events/types.js'
export type { WebhookEndpoint, WebhookOptions } from './lib/events/webhook-options.js'
export type { MessageRate, RequestRate, ResumeOptions, RoomDefaults } from './lib/limits.js'
export { MemoryRoomRegistry } from './lib/room-registry.js'
export { CloseCodes } from './lib/protocol.js'
export { redactUrl } from './lib/redact.js'
export type { ClientMessage, ServerMessage, IceServer, PeerInfo, LeaveReason } from './lib/protocol.js'
export type { Room, RoomDetails, TokenReply, CreateRoomBody, TokenBody } from './lib/schemas.js'
export { ErrorCodes, type ErrorCode, type SignallingError } from './lib/errors.js'
