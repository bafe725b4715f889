// @fastify/websocket inside the plugin's own scope. Registered on the host, its `onRequest` and `onResponse` hooks
// and the wrapper it puts around every route handler reach every route of the app, and its `onResponse` hook makes
// Fastify attach response listeners to every reply; in the `/ws` route's scope they reach `/ws` alone. It then hears
// upgrades from an emitter of ours instead of the HTTP server: an upgrade to the `/ws` path goes on to it, and any
// other is answered by its route over HTTP, on a socket closed once the answer is out.
import { EventEmitter } from 'node:events'
import { ServerResponse, type IncomingMessage, type Server } from 'node:http'
import type { Duplex } from 'node:stream'
import websocket from '@fastify/websocket'
import type { FastifyInstance, onRequestHookHandler } from 'fastify'
import { signallingError } from '../lib/errors.js'
import { MAX_FRAME_BYTES } from '../lib/protocol.js'

function destroy (this: Duplex): void {
  this.destroy()
}

/**
 * Registers @fastify/websocket in `scope`, for upgrades to `path` (the `/ws` route, under any prefix) and to the
 * `others` (the compatible endpoints' sockets). Returns what
 * it decorated `scope` with, for the host instance to carry.
 */
export async function registerScopedWebsocket (scope: FastifyInstance, path: string, others: readonly string[] = []): Promise<Pick<FastifyInstance, 'websocketServer' | 'injectWS'>> {
  const upgrades = new EventEmitter()
  await scope.register(websocket, {
    // compression stays off: it costs CPU and memory per socket for small JSON frames, and compressed
    // frames mixing secrets with attacker-chosen text invite CRIME/BREACH-style length attacks
    options: { maxPayload: MAX_FRAME_BYTES, perMessageDeflate: false, server: upgrades as unknown as Server }
  })

  /** An upgrade @fastify/websocket does not take: its route answers over HTTP, and the socket closes after. */
  function answerOverHttp (request: IncomingMessage, socket: Duplex): void {
    // Node removes its own error listener from the socket before it emits 'upgrade'
    socket.on('error', destroy)
    const response = new ServerResponse(request)
    response.shouldKeepAlive = false
    response.assignSocket(socket as never)
    response.once('finish', () => { socket.destroy() })
    scope.routing(request, response)
  }

  // an upgrade answered over HTTP (401, 429, ...) ends its connection: @fastify/websocket destroys the socket after
  // the answer, and a proxy that kept the connection for its next request would see it reset
  scope.addHook('onSend', (request, reply, payload, done) => {
    if (request.ws) reply.header('connection', 'close')
    done(null, payload)
  })

  const paths = new Set([path, ...others])
  const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const url = request.url ?? ''
    const query = url.indexOf('?')
    // @fastify/websocket stops listening when the app starts to close; /ws then answers over HTTP (503 while draining)
    if (paths.has(query < 0 ? url : url.slice(0, query)) && upgrades.listenerCount('upgrade') > 0) {
      upgrades.emit('upgrade', request, socket, head)
    } else {
      answerOverHttp(request, socket)
    }
  }
  scope.server.on('upgrade', onUpgrade)
  scope.addHook('onClose', (_instance, done) => {
    scope.server.removeListener('upgrade', onUpgrade)
    done()
  })
  return { websocketServer: scope.websocketServer, injectWS: scope.injectWS }
}

/** Which browser origins may open a socket: exact matches (any when unset), and whether a missing `Origin` is refused. */
export interface OriginOptions {
  allowedOrigins?: string[]
  requireOrigin?: boolean
}

/**
 * The `onRequest` hook of every upgrade route: against cross-site WebSocket hijacking, a page of another origin must
 * not open sockets with a user's token.
 */
export function originCheck (options: OriginOptions): onRequestHookHandler {
  const allowed = options.allowedOrigins === undefined ? undefined : new Set(options.allowedOrigins)
  return (request, _reply, done) => {
    const origin = request.headers.origin
    if (origin === undefined ? options.requireOrigin === true : allowed !== undefined && !allowed.has(origin)) {
      done(signallingError('ORIGIN_NOT_ALLOWED', origin ?? 'no Origin header'))
    } else {
      done()
    }
  }
}
