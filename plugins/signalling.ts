// The `signalling` decorator: rooms, tokens and kicks in code, the same operations the REST routes expose.
import { randomUUID } from 'node:crypto'
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import type { AuthOptions } from './auth.js'
import { signallingError } from '../lib/errors.js'
import { joinClaims, RESUME_AUDIENCE, RESUME_TOKEN_TTL, type JoinClaims } from '../lib/join-token.js'
import { iceServersFor, parseIceConfig, type IceConfigInput } from '../lib/ice-servers.js'
import { keptMetadata, type IceServer } from '../lib/protocol.js'
import type { RedisBackplane, RedisBackplaneOptions } from '../lib/redis-backplane.js'
import { SignallingMetrics } from '../lib/metrics.js'
import { LifecycleEvents } from '../lib/events/emitter.js'
import { MemoryOutbox } from '../lib/events/memory-outbox.js'
import type { RedisOutbox } from '../lib/events/redis-outbox.js'
import type { EventListener, EventOutbox, EventType } from '../lib/events/types.js'
import { resolveWebhooks, type WebhookOptions } from '../lib/events/webhook-options.js'
import { DEFAULT_ROOM, type MessageRate, type ResumeOptions, type RoomDefaults } from '../lib/limits.js'
import { Relay } from '../lib/relay.js'
import { MemoryRoomRegistry, type RoomRegistry } from '../lib/room-registry.js'
import {
  assertMetadataSize, assertValid, createRoomBodySchema, type CreateRoomBody, MAX_PEER_METADATA_BYTES, MAX_ROOM_METADATA_BYTES,
  MAX_SERVER_MESSAGE_BYTES, SendMessageBody, TOKEN_DEFAULTS, TokenBody, UpdatePeerBody, type DeadLetter, type PeerSummary,
  type Room, type RoomDetails, type TokenReply
} from '../lib/schemas.js'

export interface SignallingCoreOptions extends Pick<AuthOptions, 'clockSkew'> {
  /** Where rooms live; the in-memory registry by default. Ignored when `redis` is set. */
  registry?: RoomRegistry
  /** Rooms and routing on Redis, so that several nodes serve the same rooms: a URL or the full options. */
  redis?: string | Omit<RedisBackplaneOptions, 'log'>
  /** Interval of the server's WebSocket pings in ms (default 30000); 0 disables them. */
  heartbeatInterval?: number
  /** Per-peer message rate (token bucket, default 50/s with a burst of 200); `false` disables it. */
  messageRate?: Partial<MessageRate> | false
  /** A peer whose socket holds more unread bytes than this is closed with 1013 (default 1 MiB). */
  maxBufferedBytes?: number
  /** Resuming after a drop: grace period and bounds of what is kept (see lib/limits.ts `ResumeOptions`). */
  resume?: Partial<ResumeOptions>
  /** `maxPeers` and `emptyTimeout` of rooms created without them (default 50 peers, 300 s). */
  roomDefaults?: Partial<RoomDefaults>
  /** On shutdown, how long peers may take to close, and with Redis to resume on another node (ms, default 5000). */
  drainTimeout?: number
  /** STUN/TURN servers handed to peers; TURN credentials are minted per peer from `turnSecret` (TURN REST API). */
  ice?: IceConfigInput
  /** Signed POSTs of the lifecycle events (Standard Webhooks); see README "Events and webhooks". */
  webhooks?: WebhookOptions
}

export interface Signalling {
  /** Creates a room; every field is optional. Throws ROOM_EXISTS or INVALID_REQUEST. */
  createRoom: (input?: CreateRoomBody) => Promise<Room>
  /** A room with its peers; throws ROOM_NOT_FOUND. */
  room: (roomId: string) => Promise<RoomDetails>
  rooms: () => Promise<Room[]>
  /** Deletes a room and disconnects its peers (close code 4404); throws ROOM_NOT_FOUND. */
  deleteRoom: (roomId: string) => Promise<void>
  /** Issues a join token for a room; throws ROOM_NOT_FOUND or INVALID_REQUEST. */
  issueToken: (roomId: string, input?: TokenBody) => Promise<TokenReply>
  /** Disconnects a peer (close code 4403); throws ROOM_NOT_FOUND or PEER_NOT_FOUND. */
  kick: (roomId: string, peerId: string) => Promise<void>
  /**
   * Sends `{"type":"message","from":"@server","data"}` to peer `to`, or to every peer of the room, on any node.
   * Throws ROOM_NOT_FOUND, PEER_NOT_FOUND, INVALID_REQUEST (over 64 KiB serialized) or BACKPLANE_UNAVAILABLE.
   */
  send: (roomId: string, data: unknown, options?: { to?: string }) => Promise<void>
  /**
   * Replaces a peer's metadata; every peer of the room gets `peer-updated`. Throws ROOM_NOT_FOUND, PEER_NOT_FOUND,
   * INVALID_REQUEST (not an object, or over 1024 bytes serialized) or BACKPLANE_UNAVAILABLE.
   */
  updatePeer: (roomId: string, peerId: string, metadata: Record<string, unknown>) => Promise<PeerSummary>
  /** STUN/TURN settings for a peer, with fresh TURN credentials valid for `ttl` seconds. */
  iceServers: (peerId: string) => { iceServers: IceServer[], ttl: number }
  /** Verifies a join token as `/ws` does; throws UNAUTHORIZED. */
  verifyToken: (token: string) => JoinClaims
  /** Defaults of rooms created without `maxPeers` or `emptyTimeout`. */
  readonly roomDefaults: RoomDefaults
  readonly relay: Relay
  /** Prometheus metrics of this node (serve them with routes/metrics.ts or your own route). */
  readonly metrics: SignallingMetrics
  /** Listens to a lifecycle event of this node (room.created, peer.joined, ...), once it is numbered in its room. */
  on: <T extends EventType>(type: T, listener: EventListener<T>) => void
  off: <T extends EventType>(type: T, listener: EventListener<T>) => void
  /** Webhook deliveries given up (of every node, with Redis), oldest first. */
  deadLetters: () => Promise<DeadLetter[]>
  /** Queues a dead letter again for its endpoint, with the same webhook-id; throws DEAD_LETTER_NOT_FOUND. */
  replayDeadLetter: (id: string) => Promise<void>
}

declare module 'fastify' {
  interface FastifyInstance {
    signalling: Signalling
  }
}

/** Generated peer and room ids: a random UUID as 32 hex digits. */
const randomId = (): string => randomUUID().replaceAll('-', '')

async function signalling (fastify: FastifyInstance, options: SignallingCoreOptions): Promise<void> {
  const webhooks = options.webhooks === undefined ? undefined : resolveWebhooks(options.webhooks)
  let registry = options.registry ?? new MemoryRoomRegistry()
  let backplane: RedisBackplane | undefined
  const redisOptions = typeof options.redis === 'string' ? { url: options.redis } : options.redis
  if (redisOptions !== undefined) {
    // loaded only for a deployment on Redis: a node in memory does not carry ioredis in its heap, where every
    // object is marked again at each full collection
    const { RedisBackplane } = await import('../lib/redis-backplane.js')
    backplane = new RedisBackplane({ ...redisOptions, log: fastify.log })
    await backplane.start()
    registry = backplane
  }
  const roomDefaults: RoomDefaults = { ...DEFAULT_ROOM, ...options.roomDefaults }
  const createRoomBody = createRoomBodySchema(roomDefaults)
  const ice = parseIceConfig(options.ice)
  const iceServers = (peerId: string) => ({ iceServers: iceServersFor(ice, peerId), ttl: ice.turnTtl })
  // gauges are read at scrape time; `relay` exists by then
  const metrics: SignallingMetrics = new SignallingMetrics({
    peers: () => relay.localPeerCount,
    rooms: () => relay.localRoomCount,
    backplane: () => backplane === undefined ? 'none' : backplane.up ? 'up' : 'down',
    webhooks: webhooks === undefined ? undefined : () => ({ depth: outbox.depth, delivering: redisOutbox?.leading ?? true })
  })
  const outboxHooks = {
    log: fastify.log,
    metrics: {
      delivered: () => metrics.webhookDelivered(),
      failedAttempt: () => metrics.webhookFailedAttempt(),
      deadLettered: (reason: DeadLetter['reason']) => metrics.webhookDeadLettered(reason)
    }
  }
  let outbox: EventOutbox
  let redisOutbox: RedisOutbox | undefined
  if (backplane !== undefined && redisOptions !== undefined) {
    const { RedisOutbox } = await import('../lib/events/redis-outbox.js')
    redisOutbox = new RedisOutbox({
      target: redisOptions,
      keyPrefix: redisOptions.keyPrefix ?? 'signalling:',
      nodeId: backplane.nodeId,
      // a dead node's deliveries move to another node as its peers do
      lease: redisOptions.nodeTtl ?? 10_000,
      log: fastify.log
    }, webhooks, outboxHooks)
    await redisOutbox.start().catch(async (err: unknown) => {
      await backplane!.close()
      throw err
    })
    outbox = redisOutbox
  } else {
    outbox = new MemoryOutbox(webhooks, outboxHooks)
  }
  const events = new LifecycleEvents(outbox, { log: fastify.log, appendFor: webhooks?.retryFor ?? 60_000, dropped: () => metrics.eventDropped() })
  // peers as they joined, so that peer.left shows them as GET /rooms/{id} did
  const known = new Map<string, Map<string, PeerSummary>>()
  const remember = (roomId: string, peer: PeerSummary): void => {
    let peers = known.get(roomId)
    if (peers === undefined) known.set(roomId, peers = new Map())
    peers.set(peer.peerId, peer)
  }
  const departed = (roomId: string, peerId: string): PeerSummary | { peerId: string } => {
    const peers = known.get(roomId)
    const peer = peers?.get(peerId)
    peers?.delete(peerId)
    if (peers?.size === 0) known.delete(roomId)
    return peer ?? { peerId }
  }
  const relay: Relay = new Relay({
    registry,
    backplane,
    heartbeatInterval: options.heartbeatInterval ?? 30_000,
    iceServers,
    messageRate: options.messageRate,
    maxBufferedBytes: options.maxBufferedBytes,
    resume: options.resume,
    clockSkew: options.clockSkew,
    resumeToken: (peerId, roomId, metadata) =>
      fastify.signallingAuth.signJoinToken(joinClaims(roomId, peerId, RESUME_TOKEN_TTL, metadata, Date.now(), RESUME_AUDIENCE)),
    log: fastify.log,
    metrics,
    events: {
      joined: (roomId, peer) => {
        remember(roomId, peer)
        events.emit('peer.joined', roomId, { peer })
      },
      left: (roomId, peerId, reason) => events.emit('peer.left', roomId, { peer: departed(roomId, peerId), reason }),
      updated: (roomId, peer) => {
        remember(roomId, peer)
        events.emit('peer.metadata-updated', roomId, { peer })
      }
    }
  })
  const auth = fastify.signallingAuth
  // deleted by the sweep of the node that saw it expire: once, wherever the room's peers were
  registry.onExpired((roomId) => {
    known.delete(roomId)
    events.emit('room.deleted', roomId, { reason: 'empty-timeout' })
  })
  // the peers of a dead node, reported by the one node that removed them
  backplane?.onPeersLost((lost) => {
    for (const { roomId, peerId } of lost) events.emit('peer.left', roomId, { peer: departed(roomId, peerId), reason: 'disconnected' })
  })
  backplane?.onEvent((roomId, event) => { if (event.kind === 'close-room') known.delete(roomId) })

  async function existing (roomId: string): Promise<Room> {
    const room = await registry.get(roomId)
    if (room === undefined) throw signallingError('ROOM_NOT_FOUND', roomId)
    return room
  }

  fastify.decorate('signalling', {
    relay,
    metrics,
    roomDefaults,
    iceServers,
    async createRoom (input = {}) {
      const body = assertValid(createRoomBody, input, 'room')
      assertMetadataSize(body.metadata, MAX_ROOM_METADATA_BYTES, 'room metadata')
      const room = await registry.create({
        roomId: body.roomId ?? randomId(),
        maxPeers: body.maxPeers ?? roomDefaults.maxPeers,
        emptyTimeout: body.emptyTimeout ?? roomDefaults.emptyTimeout,
        metadata: keptMetadata(body.metadata),
        createdAt: new Date().toISOString()
      })
      events.emit('room.created', room.roomId, { room })
      return room
    },
    async room (roomId) {
      const room = await existing(roomId)
      return { ...room, peers: await registry.peers(roomId) }
    },
    async rooms () {
      return await registry.list()
    },
    async deleteRoom (roomId) {
      // for the event: the record as it was; a failed read only leaves it out
      const room = await registry.get(roomId).catch(() => undefined)
      await relay.closeRoom(roomId)
      known.delete(roomId)
      events.emit('room.deleted', roomId, room === undefined ? { reason: 'api' } : { room, reason: 'api' })
    },
    on (type, listener) {
      events.on(type, listener)
    },
    off (type, listener) {
      events.off(type, listener)
    },
    async deadLetters () {
      return await outbox.deadLetters()
    },
    async replayDeadLetter (id) {
      if (!await outbox.replay(id)) throw signallingError('DEAD_LETTER_NOT_FOUND', id)
    },
    async issueToken (roomId, input = {}) {
      const body = assertValid(TokenBody, input, 'token request')
      assertMetadataSize(body.metadata, MAX_PEER_METADATA_BYTES, 'peer metadata')
      await existing(roomId)
      const claims = joinClaims(roomId, body.peerId ?? randomId(), body.ttl ?? TOKEN_DEFAULTS.ttl, body.metadata ?? {}, Date.now(), undefined, body.canUpdateMetadata)
      return { token: auth.signJoinToken(claims), peerId: claims.sub, roomId, expiresAt: new Date(claims.exp * 1000).toISOString() }
    },
    async kick (roomId, peerId) {
      await relay.kick(roomId, peerId)
    },
    async send (roomId, data, options = {}) {
      // JSON has no undefined: a message without data is a mistake of the caller
      if (data === undefined) throw signallingError('INVALID_REQUEST', 'message data is required')
      const body = assertValid(SendMessageBody, options.to === undefined ? { data } : { data, to: options.to }, 'message')
      assertMetadataSize(body.data, MAX_SERVER_MESSAGE_BYTES, 'message data')
      await relay.send(roomId, body.data, body.to)
    },
    async updatePeer (roomId, peerId, metadata) {
      const body = assertValid(UpdatePeerBody, { metadata }, 'peer update')
      assertMetadataSize(body.metadata, MAX_PEER_METADATA_BYTES, 'peer metadata')
      return await relay.updatePeer(roomId, peerId, body.metadata)
    },
    verifyToken (token) {
      return auth.verifyJoinToken(token)
    }
  } satisfies Signalling)

  // registered before @fastify/websocket's own preClose, so peers get 1012 (service restart) rather than a bare close
  fastify.addHook('preClose', async () => {
    // with Fastify's default `return503OnClosing`, an upgrade that arrives while closing is answered 503 without
    // any hook running, and its socket would then keep the server open until the forced exit: cut it once the
    // answer is out. (The standalone app turns that default off, so /ws itself answers 503 SERVICE_UNAVAILABLE.)
    fastify.server.on('upgrade', (_request, socket) => {
      setTimeout(() => { socket.destroy() }, 1000).unref()
    })
    await relay.drain(options.drainTimeout)
  })
  fastify.addHook('onClose', async () => {
    metrics.stop()
    await relay.close()
    // the departures recorded by the close are events too
    await events.close(2000)
    await outbox.close()
  })
}

export default fp(signalling, {
  name: 'signalling-core',
  fastify: '5.x',
  dependencies: ['signalling-auth']
})
