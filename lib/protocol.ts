// The WebSocket protocol: one TypeBox schema per message, used for run-time checks, static types and OpenAPI.
import { Type, type Static, type TSchema } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { isOneJsonValue } from './json-value.js'

export const ID_PATTERN = '^[A-Za-z0-9_-]{1,64}$'
export const MAX_FRAME_BYTES = 64 * 1024
/** Serialized size of a peer's metadata, in a token or an update. */
export const MAX_PEER_METADATA_BYTES = 1024
/**
 * The sender of messages from the app's backend (`POST /rooms/{id}/messages`). Not a peer id: ids are
 * A-Z a-z 0-9 _ - (ID_PATTERN), so no peer can take it, and `from` is always set by the server.
 */
export const SERVER_SENDER = '@server'

export const CloseCodes = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  MESSAGE_TOO_BIG: 1009,
  SERVICE_RESTART: 1012,
  TRY_AGAIN_LATER: 1013,
  RATE_LIMITED: 4429,
  KICKED: 4403,
  ROOM_CLOSED: 4404,
  REPLACED: 4409,
  SESSION_EXPIRED: 4410,
  ROOM_FULL: 4413
} as const

export const PeerId = Type.String({ pattern: ID_PATTERN, description: 'Peer id: 1 to 64 of A-Z a-z 0-9 _ -' })
export const RoomId = Type.String({ pattern: ID_PATTERN, description: 'Room id: 1 to 64 of A-Z a-z 0-9 _ -' })
export const metadataSchema = (description: string) => Type.Record(Type.String(), Type.Unknown(), { description })
export const Metadata = metadataSchema('Free-form JSON object, public to the other peers of the room')
/** An object of no own properties whose prototype is Object.prototype, as JSON.parse and `{}` make. */
export function isEmptyPlainObject (value: object): boolean {
  if (Object.getPrototypeOf(value) !== Object.prototype) return false
  for (const _ in value) return false
  return true
}

/** Empty metadata as the server keeps it: one frozen object for all peers and rooms (metadata is only read and serialised). */
export const NO_METADATA: Record<string, unknown> = Object.freeze({})

/** `metadata` to keep: the shared NO_METADATA when there is none or it is empty. */
export const keptMetadata = (metadata: Record<string, unknown> | undefined): Record<string, unknown> =>
  metadata === undefined || isEmptyPlainObject(metadata) ? NO_METADATA : metadata

export const MessageId = Type.Union([Type.String({ maxLength: 64 }), Type.Integer()], {
  description: 'Optional correlation id, echoed in an error about this message'
})

const RELAY_TYPES = ['offer', 'answer', 'candidate', 'bye'] as const
export type RelayType = typeof RELAY_TYPES[number]

function clientMessage<T extends string, P extends Record<string, TSchema>> (type: T, props: P, description: string) {
  return Type.Object({ type: Type.Literal(type), ...props, id: Type.Optional(MessageId) }, {
    title: `Client${type[0]!.toUpperCase()}${type.slice(1)}Message`,
    description,
    // unknown fields (a spoofed `from` among them) are ignored, never forwarded
    additionalProperties: true
  })
}

export const ClientOfferMessage = clientMessage('offer', { to: PeerId, data: Type.Unknown() }, 'SDP offer for peer `to`; `data` is relayed unchanged')
export const ClientAnswerMessage = clientMessage('answer', { to: PeerId, data: Type.Unknown() }, 'SDP answer for peer `to`')
export const ClientCandidateMessage = clientMessage('candidate', { to: PeerId, data: Type.Unknown() }, 'ICE candidate for peer `to`')
export const ClientByeMessage = clientMessage('bye', { to: PeerId, data: Type.Optional(Type.Unknown()) }, 'End of the call with peer `to`')
export const ClientMessageMessage = clientMessage('message', { to: Type.Optional(PeerId), data: Type.Unknown() }, 'Application message to peer `to`, or to every other peer of the room without `to`')
export const ClientLeaveMessage = clientMessage('leave', {}, 'Leave the room; the server closes the socket with 1000')
export const ClientPingMessage = clientMessage('ping', {}, 'Application-level ping, answered by `pong`')
export const ClientIceServersMessage = clientMessage('ice-servers', {}, 'Asks for fresh STUN/TURN settings (new TURN credentials) without reconnecting')
export const ClientUpdateMetadataMessage = clientMessage('update-metadata', {
  metadata: metadataSchema(`Replaces this peer's metadata, at most ${MAX_PEER_METADATA_BYTES} bytes serialized`)
}, 'Replaces this peer\'s own metadata; only with a join token issued with `canUpdateMetadata: true`, otherwise `FORBIDDEN`. Every peer of the room, this one included, gets `peer-updated`')

export const clientMessages = [
  ClientOfferMessage, ClientAnswerMessage, ClientCandidateMessage, ClientByeMessage,
  ClientMessageMessage, ClientLeaveMessage, ClientPingMessage, ClientIceServersMessage, ClientUpdateMetadataMessage
] as const

export type ClientMessage = Static<typeof clientMessages[number]>

export const PeerInfo = Type.Object({ peerId: PeerId, metadata: Metadata }, { title: 'PeerInfo' })
export type PeerInfo = Static<typeof PeerInfo>

export const LeaveReason = Type.Union(
  ['left', 'disconnected', 'kicked', 'replaced', 'timeout'].map((r) => Type.Literal(r)),
  { description: 'Why the peer left' }
)
export type LeaveReason = 'left' | 'disconnected' | 'kicked' | 'replaced' | 'timeout'

const Seq = Type.Optional(Type.Integer({ minimum: 1, description: 'Per-peer sequence number of every message after welcome; send the last one seen as `lastSeq` to resume' }))

function serverMessage<T extends string, P extends Record<string, TSchema>> (type: T, props: P, description: string) {
  return Type.Object({ type: Type.Literal(type), ...props, seq: Seq }, {
    title: `Server${type.split('-').map((w) => w[0]!.toUpperCase() + w.slice(1)).join('')}Message`,
    description,
    additionalProperties: false
  })
}

export const IceServer = Type.Object({
  urls: Type.Union([Type.String(), Type.Array(Type.String())]),
  username: Type.Optional(Type.String()),
  credential: Type.Optional(Type.String())
}, { title: 'IceServer', description: 'An RTCIceServer' })
export type IceServer = Static<typeof IceServer>

export const ServerWelcomeMessage = serverMessage('welcome', {
  peerId: PeerId,
  roomId: RoomId,
  peers: Type.Array(PeerInfo, { description: 'The other peers already in the room' }),
  iceServers: Type.Array(IceServer, { description: 'STUN/TURN servers for this peer, with short-lived TURN credentials; empty when none are configured' }),
  resumed: Type.Boolean({ description: 'True when this connection resumed a session: the missed messages follow, and no one saw the peer leave' }),
  resumeToken: Type.Optional(Type.String({ description: 'Token to resume this session with `?token=...&lastSeq=N` within the grace period, even after the join token expired' }))
}, 'First message after the upgrade')
export const ServerPeerJoinedMessage = serverMessage('peer-joined', { peer: PeerInfo }, 'Another peer joined the room')
export const ServerPeerLeftMessage = serverMessage('peer-left', { peerId: PeerId, reason: LeaveReason }, 'Another peer left the room')
export const UpdatedPeer = Type.Object({
  peerId: PeerId,
  metadata: Metadata,
  joinedAt: Type.String({ format: 'date-time' })
}, { title: 'UpdatedPeer', additionalProperties: false })
export const ServerPeerUpdatedMessage = serverMessage('peer-updated', { peer: UpdatedPeer },
  'A peer\'s metadata was replaced (by the app\'s backend, or by the peer itself): sent to every peer of the room, that one included')
const Sender = Type.String({ pattern: `^(${SERVER_SENDER}|[A-Za-z0-9_-]{1,64})$`, description: `The sender: a peer id, set by the server from the sender's token, or \`${SERVER_SENDER}\` for a message from the app's backend` })
const relayed = (type: RelayType | 'message', description: string) =>
  serverMessage(type, { from: type === 'message' ? Sender : PeerId, data: type === 'bye' ? Type.Optional(Type.Unknown()) : Type.Unknown() }, description)
export const ServerOfferMessage = relayed('offer', 'An offer from peer `from`, `data` unchanged')
export const ServerAnswerMessage = relayed('answer', 'An answer from peer `from`')
export const ServerCandidateMessage = relayed('candidate', 'An ICE candidate from peer `from`')
export const ServerByeMessage = relayed('bye', 'Peer `from` ended the call')
export const ServerMessageMessage = relayed('message', `An application message from peer \`from\`, or from the app's backend when \`from\` is \`${SERVER_SENDER}\``)
export const ServerErrorMessage = serverMessage('error', {
  code: Type.String({ description: 'Stable error code: INVALID_MESSAGE, UNKNOWN_TYPE, PEER_NOT_FOUND, ...' }),
  message: Type.String(),
  id: Type.Optional(MessageId)
}, 'A client message was refused; it was delivered to nobody and the socket stays open')
export const ServerRoomClosedMessage = serverMessage('room-closed', { roomId: RoomId }, 'The room was deleted; the socket is closed with 4404 next')
export const ServerPongMessage = serverMessage('pong', {}, 'Answer to `ping`')
export const ServerIceServersMessage = serverMessage('ice-servers', {
  iceServers: Type.Array(IceServer),
  ttl: Type.Integer({ description: 'Seconds the TURN credentials stay valid' })
}, 'Answer to `ice-servers`: fresh STUN/TURN settings for this peer')

export const serverMessages = [
  ServerWelcomeMessage, ServerPeerJoinedMessage, ServerPeerLeftMessage, ServerPeerUpdatedMessage, ServerOfferMessage, ServerAnswerMessage,
  ServerCandidateMessage, ServerByeMessage, ServerMessageMessage, ServerErrorMessage, ServerRoomClosedMessage,
  ServerPongMessage, ServerIceServersMessage
] as const

export type ServerMessage = Static<typeof serverMessages[number]>

const checkers = new Map(clientMessages.map((schema) => [
  schema.properties.type.const as string,
  TypeCompiler.Compile(schema as TSchema)
]))

export type ParseResult =
  | { ok: true, message: ClientMessage }
  | { ok: false, code: 'INVALID_MESSAGE' | 'UNKNOWN_TYPE', reason: string, id?: string | number }

const isMessageId = (id: unknown): id is string | number =>
  (typeof id === 'string' && id.length <= 64) || Number.isInteger(id)

/** A message to one peer, read by `readDirectMessage`: `data` is kept as the client's JSON text. */
export interface DirectMessage { type: RelayType | 'message', to: string, dataJson: string }

/** The types relayed to one peer: the relay types, and `message` with a `to`. */
const DIRECT_TYPES = new Set<string>([...RELAY_TYPES, 'message'])
const HEAD = '{"type":"'
const TO = '","to":"'
const DATA = '","data":'
const MAX_ID_LENGTH = 64

/** A-Z a-z 0-9 _ - (ID_PATTERN) */
function isIdChar (c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95 || c === 45
}

/**
 * The common case read without decoding and re-encoding `data`: a frame that is exactly
 * `{"type":"<relayed type>","to":"<peer id>","data":<one JSON value>}`, as the client SDK writes it. `data` is
 * checked to be one JSON value and is then relayed as sent, which spares the server a JSON.stringify of every SDP.
 * Anything else (another key order, an `id`, escapes in `type` or `to`, whitespace around the object) returns
 * undefined and goes through `parseClientMessage`, which accepts the same messages with the same meaning.
 */
export function readDirectMessage (text: string): DirectMessage | undefined {
  if (!text.startsWith(HEAD) || text.charCodeAt(text.length - 1) !== 0x7d /* } */) return undefined
  const typeEnd = text.indexOf('"', HEAD.length)
  if (typeEnd < 0 || !text.startsWith(TO, typeEnd)) return undefined
  const type = text.slice(HEAD.length, typeEnd)
  if (!DIRECT_TYPES.has(type)) return undefined
  const toStart = typeEnd + TO.length
  let toEnd = toStart
  while (toEnd < text.length && toEnd - toStart <= MAX_ID_LENGTH && isIdChar(text.charCodeAt(toEnd))) toEnd++
  if (toEnd === toStart || toEnd - toStart > MAX_ID_LENGTH || !text.startsWith(DATA, toEnd)) return undefined
  const dataJson = text.slice(toEnd + DATA.length, -1)
  // one JSON value and nothing after it: a second member (`,"from":...`) fails the check
  if (!isOneJsonValue(dataJson)) return undefined
  return { type: type as DirectMessage['type'], to: text.slice(toStart, toEnd), dataJson }
}

/** Parses and validates one text frame from a client. Never throws. */
export function parseClientMessage (text: string): ParseResult {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return { ok: false, code: 'INVALID_MESSAGE', reason: 'not valid JSON' }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, code: 'INVALID_MESSAGE', reason: 'not a JSON object' }
  }
  const record = value as Record<string, unknown>
  const id = isMessageId(record.id) ? record.id : undefined
  const type = record.type
  if (typeof type !== 'string') {
    return { ok: false, code: 'INVALID_MESSAGE', reason: '`type` must be a string', id }
  }
  const checker = checkers.get(type)
  if (checker === undefined) {
    return { ok: false, code: 'UNKNOWN_TYPE', reason: type.slice(0, 64), id }
  }
  if (!checker.Check(value)) {
    const first = checker.Errors(value).First()
    const reason = first === undefined ? 'does not match its schema' : `${first.path || '/'} ${first.message}`
    return { ok: false, code: 'INVALID_MESSAGE', reason, id }
  }
  return { ok: true, message: value as ClientMessage }
}
