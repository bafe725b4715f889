// REST bodies and replies. The same schemas validate requests, type the code and produce openapi.yaml.
import { Type, type Static, type TSchema } from '@sinclair/typebox'
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler'
import { ErrorCodes, signallingError } from './errors.js'
import { DEFAULT_ROOM, RANGES, type RoomDefaults } from './limits.js'
import { MAX_FRAME_BYTES, MAX_PEER_METADATA_BYTES, Metadata, metadataSchema, PeerId, RoomId } from './protocol.js'

export const TOKEN_DEFAULTS = { ttl: 3600 } as const
export const MAX_ROOM_METADATA_BYTES = 4096
export { MAX_PEER_METADATA_BYTES }

const MAX_PEERS = RANGES['roomDefaults.maxPeers']
const EMPTY_TIMEOUT = RANGES['roomDefaults.emptyTimeout']

/** The body of `POST /rooms`; its document shows the defaults this server gives rooms (`roomDefaults`). */
export function createRoomBodySchema (defaults: RoomDefaults) {
  return Type.Object({
    roomId: Type.Optional(RoomId),
    maxPeers: Type.Optional(Type.Integer({ minimum: MAX_PEERS.min, maximum: MAX_PEERS.max, default: defaults.maxPeers })),
    emptyTimeout: Type.Optional(Type.Integer({
      minimum: EMPTY_TIMEOUT.min,
      maximum: EMPTY_TIMEOUT.max,
      default: defaults.emptyTimeout,
      description: 'Seconds an empty room is kept before it is deleted'
    })),
    metadata: Type.Optional(metadataSchema(`Free-form JSON object, at most ${MAX_ROOM_METADATA_BYTES} bytes serialized`))
  }, { title: 'CreateRoomBody', additionalProperties: false })
}

export const CreateRoomBody = createRoomBodySchema(DEFAULT_ROOM)
export type CreateRoomBody = Static<typeof CreateRoomBody>

export const Room = Type.Object({
  roomId: RoomId,
  maxPeers: Type.Integer(),
  emptyTimeout: Type.Integer(),
  metadata: Metadata,
  createdAt: Type.String({ format: 'date-time' }),
  peerCount: Type.Integer({ minimum: 0 })
}, { title: 'Room', additionalProperties: false })
export type Room = Static<typeof Room>

export const PeerSummary = Type.Object({
  peerId: PeerId,
  metadata: Metadata,
  joinedAt: Type.String({ format: 'date-time' })
}, { title: 'PeerSummary', additionalProperties: false })
export type PeerSummary = Static<typeof PeerSummary>

export const RoomDetails = Type.Object({
  ...Room.properties,
  peers: Type.Array(PeerSummary)
}, { title: 'RoomDetails', additionalProperties: false })
export type RoomDetails = Static<typeof RoomDetails>

export const RoomList = Type.Object({ rooms: Type.Array(Room) }, { title: 'RoomList', additionalProperties: false })

export const RoomParams = Type.Object({ roomId: RoomId }, { additionalProperties: false })
export const PeerParams = Type.Object({ roomId: RoomId, peerId: PeerId }, { additionalProperties: false })

export const TokenBody = Type.Object({
  peerId: Type.Optional(PeerId),
  ttl: Type.Optional(Type.Integer({ minimum: 10, maximum: 86400, default: TOKEN_DEFAULTS.ttl, description: 'Seconds until the token expires' })),
  metadata: Type.Optional(metadataSchema(`Public peer info (e.g. a display name), at most ${MAX_PEER_METADATA_BYTES} bytes serialized`)),
  canUpdateMetadata: Type.Optional(Type.Boolean({
    default: false,
    description: 'Whether the peer may replace its own metadata over the socket (`update-metadata`); without it the server answers `FORBIDDEN`'
  }))
}, { title: 'TokenBody', additionalProperties: false })
export type TokenBody = Static<typeof TokenBody>

/** Largest `data` of a message from the backend, serialized: a peer's frame may be no larger (MAX_FRAME_BYTES). */
export const MAX_SERVER_MESSAGE_BYTES = MAX_FRAME_BYTES

export const SendMessageBody = Type.Object({
  data: Type.Unknown({ description: `Any JSON value, at most ${MAX_SERVER_MESSAGE_BYTES} bytes serialized; delivered as \`data\` unchanged` }),
  to: Type.Optional(PeerId)
}, { title: 'SendMessageBody', additionalProperties: false, description: 'Without `to`, to every peer of the room' })
export type SendMessageBody = Static<typeof SendMessageBody>

export const UpdatePeerBody = Type.Object({
  metadata: metadataSchema(`Replaces the peer's metadata; at most ${MAX_PEER_METADATA_BYTES} bytes serialized`)
}, { title: 'UpdatePeerBody', additionalProperties: false })
export type UpdatePeerBody = Static<typeof UpdatePeerBody>

export const TokenReply = Type.Object({
  token: Type.String({ description: 'HS256 JWT for /ws' }),
  peerId: PeerId,
  roomId: RoomId,
  expiresAt: Type.String({ format: 'date-time' })
}, { title: 'TokenReply', additionalProperties: false })
export type TokenReply = Static<typeof TokenReply>

export const ErrorReply = Type.Object({
  statusCode: Type.Integer(),
  code: Type.Union(Object.keys(ErrorCodes).map((c) => Type.Literal(c))),
  error: Type.String(),
  message: Type.String()
}, { title: 'ErrorReply', additionalProperties: false })

export const RateLimitedReply = Type.Object(ErrorReply.properties, {
  additionalProperties: false,
  description: 'RATE_LIMITED: too many requests from this address (`REST_RATE_LIMIT`), or from this backend credential (`API_KEY_RATE_LIMIT`); see Retry-After'
})

const compiled = new WeakMap<TSchema, TypeCheck<TSchema>>()

/** Validates input given in code (the plugin's decorator) with the same schema the REST route uses. */
export function assertValid<T extends TSchema> (schema: T, value: unknown, what: string): Static<T> {
  let check = compiled.get(schema)
  if (check === undefined) {
    check = TypeCompiler.Compile(schema)
    compiled.set(schema, check)
  }
  if (!check.Check(value)) {
    const first = check.Errors(value).First()
    throw signallingError('INVALID_REQUEST', `${what}${first?.path ?? ''} ${first?.message ?? 'is invalid'}`)
  }
  return value as Static<T>
}

/** Metadata limits are on the serialized size, which JSON Schema cannot express. */
export function assertMetadataSize (metadata: unknown, maxBytes: number, what: string): void {
  if (metadata === undefined) return
  let serialized: string
  try {
    serialized = JSON.stringify(metadata)
  } catch (err) {
    // nesting deep enough to exhaust the stack fits in a small body; it is the client's mistake, not a 500
    if (err instanceof RangeError) throw signallingError('INVALID_REQUEST', `${what} is nested too deeply`)
    throw err
  }
  if (Buffer.byteLength(serialized) > maxBytes) {
    throw signallingError('INVALID_REQUEST', `${what} exceeds ${maxBytes} bytes serialized`)
  }
}

// --- lifecycle events and their webhook deliveries (lib/events/)

export const EVENT_TYPES = ['room.created', 'room.deleted', 'peer.joined', 'peer.left', 'peer.metadata-updated'] as const
export const EventType = Type.Union(EVENT_TYPES.map((type) => Type.Literal(type)), { title: 'EventType' })

/** A departed peer: as the REST API showed it while it was here, or only its id when this node never knew more. */
export const DepartedPeer = Type.Object({
  peerId: PeerId,
  metadata: Type.Optional(Metadata),
  joinedAt: Type.Optional(Type.String({ format: 'date-time' }))
}, { title: 'DepartedPeer', additionalProperties: false })

export const SignallingEvent = Type.Object({
  id: Type.String({ description: '`evt_` and 32 hex digits; the `webhook-id` of every delivery of the event' }),
  type: EventType,
  timestamp: Type.String({ format: 'date-time', description: 'When it happened' }),
  roomId: RoomId,
  seq: Type.Integer({ minimum: 1, description: 'Per room, one more than the room\'s previous event' }),
  data: Type.Object({
    room: Type.Optional(Room),
    peer: Type.Optional(Type.Union([PeerSummary, DepartedPeer])),
    reason: Type.Optional(Type.String({ description: 'room.deleted: `api` or `empty-timeout`; peer.left: the reason of `peer-left`' }))
  }, { additionalProperties: false })
}, { title: 'SignallingEvent', additionalProperties: false })

export const DeadLetter = Type.Object({
  id: Type.String({ description: 'The dead letter\'s own id (`dl_…`), for replay' }),
  url: Type.String({ description: 'The endpoint it was for' }),
  reason: Type.Union([Type.Literal('retries-exhausted'), Type.Literal('gone'), Type.Literal('queue-full')]),
  attempts: Type.Integer({ minimum: 0 }),
  lastError: Type.Optional(Type.String({ description: 'The last attempt\'s HTTP status or network error' })),
  deadAt: Type.String({ format: 'date-time' }),
  event: SignallingEvent
}, { title: 'DeadLetter', additionalProperties: false })
export type DeadLetter = Static<typeof DeadLetter>

export const DeadLetterList = Type.Object({ deadLetters: Type.Array(DeadLetter) }, { title: 'DeadLetterList', additionalProperties: false })
export const DeadLetterParams = Type.Object({ id: Type.String({ pattern: '^dl_[0-9a-f]{32}$' }) }, { additionalProperties: false })
