// The wire messages of `/ws` as the client sees them. These are types only (nothing here reaches the
// browser bundle at run time), kept free of the server's TypeBox schemas so the SDK has no dependencies.

/** Public information about a peer: its id and the metadata its token carried. */
export interface PeerInfo {
  peerId: string
  metadata: Record<string, unknown>
}

/** Why a peer left, as the server reports it in `peer-left`. */
export type PeerLeftReason = 'left' | 'disconnected' | 'kicked' | 'replaced' | 'timeout'

/** Error codes the server puts in `error` messages. */
export type ServerErrorCode = 'INVALID_MESSAGE' | 'UNKNOWN_TYPE' | 'PEER_NOT_FOUND' | 'FORBIDDEN'

/** An id a client may attach to any message; the server echoes it in an `error` about that message. */
export type MessageId = string | number

interface ServerMessageBase {
  /** Per-peer sequence number of every message after `welcome`; the client resumes from the last one seen. */
  seq?: number
}

export interface WelcomeMessage extends ServerMessageBase {
  type: 'welcome'
  peerId: string
  roomId: string
  /** The other peers already in the room. */
  peers: PeerInfo[]
  /** ICE servers (e.g. TURN with short-lived credentials) the server suggests, when it provides them. */
  iceServers?: RTCIceServer[]
  /** True when the server resumed a previous session instead of starting a new one. */
  resumed?: boolean
  /** Token for resuming this session after a drop (used by the client's reconnection). */
  resumeToken?: string
}

export interface PeerJoinedMessage extends ServerMessageBase {
  type: 'peer-joined'
  peer: PeerInfo
}

export interface PeerLeftMessage extends ServerMessageBase {
  type: 'peer-left'
  peerId: string
  reason: PeerLeftReason
}

/** A peer's metadata was replaced (by the app's backend, or by the peer itself); this peer's own updates come too. */
export interface PeerUpdatedMessage extends ServerMessageBase {
  type: 'peer-updated'
  peer: PeerInfo & { joinedAt: string }
}

/** The types the server relays from one peer to another without looking inside `data`. */
export type RelayedType = 'offer' | 'answer' | 'candidate' | 'bye' | 'message'

export interface RelayedMessage<T extends RelayedType = RelayedType> extends ServerMessageBase {
  type: T
  /**
   * The sender's peerId, set by the server from the sender's token; `@server` (SERVER_SENDER) for a `message`
   * from the app's backend, which no peer can send as.
   */
  from: string
  data: unknown
}

export interface ErrorMessage extends ServerMessageBase {
  type: 'error'
  code: ServerErrorCode | (string & {})
  message: string
  id?: MessageId
}

export interface RoomClosedMessage extends ServerMessageBase {
  type: 'room-closed'
  roomId: string
}

export interface PongMessage extends ServerMessageBase {
  type: 'pong'
}

export interface IceServersMessage extends ServerMessageBase {
  type: 'ice-servers'
  iceServers: RTCIceServer[]
  /** Seconds the TURN credentials stay valid. */
  ttl: number
}

export type ServerMessage =
  | WelcomeMessage
  | PeerJoinedMessage
  | PeerLeftMessage
  | PeerUpdatedMessage
  | RelayedMessage
  | ErrorMessage
  | RoomClosedMessage
  | PongMessage
  | IceServersMessage

/** Messages a client sends. `id` is optional on all of them. */
export type ClientMessage =
  | { type: 'offer' | 'answer' | 'candidate' | 'bye', to: string, data: unknown, id?: MessageId }
  | { type: 'message', to?: string, data: unknown, id?: MessageId }
  | { type: 'leave', id?: MessageId }
  | { type: 'ping', id?: MessageId }
  | { type: 'ice-servers', id?: MessageId }
  | { type: 'update-metadata', metadata: Record<string, unknown>, id?: MessageId }
