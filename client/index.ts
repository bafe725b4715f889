// The client SDK, published as `fastify-signalling/client`: runs in browsers and in Node 20 (pass `ws`).
export { SignallingClient, RequestError, ConnectError, DEFAULT_KEEPALIVE, SERVER_SENDER } from './signalling-client.js'
export type {
  SignallingClientOptions,
  SignallingClientEvents,
  CloseEvent,
  ClientState,
  WebSocketLike,
  WebSocketConstructor,
  TokenSource,
  KeepaliveOptions
} from './signalling-client.js'
export {
  backoffDelay,
  isFatalCloseCode,
  isFatalUpgradeStatus,
  FATAL_CLOSE_CODES,
  DEFAULT_RECONNECT_OPTIONS,
  NO_ANSWER,
  SESSION_EXPIRED
} from './reconnect-policy.js'
export type { ReconnectOptions } from './reconnect-policy.js'
export { Mesh } from './mesh.js'
export type { MeshOptions, MeshEvents, MeshPeerLeftReason, RTCPeerConnectionConstructor } from './mesh.js'
export { TypedEmitter } from './typed-emitter.js'
export type { EventMap, Listener } from './typed-emitter.js'
export type * from './protocol.js'
