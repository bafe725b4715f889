// Rooms on Redis, shared by every node, and routing of frames between nodes by room over Redis pub/sub.
//
// Keys (all under `keyPrefix`): `rooms` (set of room ids), `room:<id>` (hash: the room record),
// `room:<id>:peers` (hash: peerId -> {metadata, joinedAt, conn}), `expiry` (sorted set: empty rooms by
// deadline), `nodes` (set of node ids), `node:<id>` (liveness key with a TTL), `node:<id>:peers` (set of
// "room\npeer\nconnection" this node hosts, so that a dead node's peers can be found and reported).
// Channels: `room:<id>`. A node subscribes only to the rooms it has local peers in, so a frame reaches only
// the nodes that host its recipients. Redis pub/sub is at-most-once: a frame published while a node is cut
// off is lost for that node; the sender learns nothing of it unless Redis itself was unreachable. A command that
// times out is reported as failed, but a frozen Redis that wakes up may still run it: the frame may then arrive.
import { randomUUID } from 'node:crypto'
import { Redis, type RedisOptions } from 'ioredis'
import type { Backplane, BackplaneEvent, Handoff, HostedPeer, Reconnection, RestoreOutcome } from './backplane.js'
import { isSignallingError, signallingError } from './errors.js'
import type { JoinResult, RoomRecord, RoomRegistry } from './room-registry.js'
import { DEFAULT_UNJOINED_TIMEOUT } from './room-registry.js'
import type { PeerSummary, Room } from './schemas.js'

export interface RedisBackplaneOptions {
  /** redis://[:password@]host:port[/db] */
  url: string
  /** Prefix of every key and channel, so several deployments can share one Redis (default `signalling:`). */
  keyPrefix?: string
  /** A node that has not refreshed its liveness key for this long (ms) is dead; its peers are reported gone. Default 10000. */
  nodeTtl?: number
  /** How long startup waits for Redis (ms, default 10000). */
  connectTimeout?: number
  /**
   * A command unanswered for this long (ms, default 2000) means Redis stopped answering (a paused process, a network
   * black hole): the connection is dropped and re-established, and the backplane counts as down meanwhile.
   */
  commandTimeout?: number
  /** Commands waiting for Redis at most (default 10000); past it, more fail at once with BACKPLANE_UNAVAILABLE. */
  maxPending?: number
  log?: { info: (obj: object, msg: string) => void, warn: (obj: object, msg: string) => void }
}

// Every script touches keys of one room (and this node's set): Redis as one server or with replicas, not Redis Cluster.
const CREATE = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'roomId', ARGV[1], 'maxPeers', ARGV[2], 'emptyTimeout', ARGV[3], 'metadata', ARGV[4], 'createdAt', ARGV[5])
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[6], ARGV[1])
return 1`

const JOIN = `
if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing'} end
local previous = redis.call('HGET', KEYS[2], ARGV[1])
if not previous and redis.call('HLEN', KEYS[2]) >= tonumber(redis.call('HGET', KEYS[1], 'maxPeers')) then return {'full'} end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('ZREM', KEYS[3], ARGV[3])
redis.call('SADD', KEYS[4], ARGV[3] .. '\\n' .. ARGV[1] .. '\\n' .. ARGV[4])
if previous then
  local conn = cjson.decode(previous).conn
  local node = string.match(conn, '^(.-)%.')
  redis.call('SREM', ARGV[5] .. 'node:' .. node .. ':peers', ARGV[3] .. '\\n' .. ARGV[1] .. '\\n' .. conn)
  return {'replaced', conn}
end
return {'joined'}`

// Removes the member only if the same connection still holds it; an empty room gets its deadline.
const LEAVE = `
redis.call('SREM', KEYS[4], ARGV[3] .. '\\n' .. ARGV[1] .. '\\n' .. ARGV[2])
local current = redis.call('HGET', KEYS[1], ARGV[1])
if not current or cjson.decode(current).conn ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
if redis.call('HLEN', KEYS[1]) == 0 and redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('ZADD', KEYS[2], tonumber(ARGV[4]) + 1000 * tonumber(redis.call('HGET', KEYS[3], 'emptyTimeout')), ARGV[3])
end
return 1`

const DELETE = `
local existed = redis.call('DEL', KEYS[1])
redis.call('DEL', KEYS[2])
redis.call('SREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
return existed`

const SWEEP_EXPIRED = `
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 100)
local deleted = {}
for _, id in ipairs(due) do
  redis.call('ZREM', KEYS[1], id)
  if redis.call('HLEN', ARGV[2] .. 'room:' .. id .. ':peers') == 0 then
    redis.call('DEL', ARGV[2] .. 'room:' .. id, ARGV[2] .. 'room:' .. id .. ':peers')
    redis.call('SREM', KEYS[2], id)
    table.insert(deleted, id)
  end
end
return deleted`

// Removes a dead node's peers from their rooms; returns room, peer, room, peer, ...
const REAP = `
if redis.call('EXISTS', KEYS[1]) == 1 then return {} end
local lost = {}
for _, member in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local room, peer, conn = string.match(member, '^(.-)\\n(.-)\\n(.*)$')
  local peers = ARGV[1] .. 'room:' .. room .. ':peers'
  local current = redis.call('HGET', peers, peer)
  if current and cjson.decode(current).conn == conn then
    redis.call('HDEL', peers, peer)
    -- if the node comes back after all, it learns that its peer was reported gone
    redis.call('SET', ARGV[1] .. 'reaped:' .. conn, '1', 'PX', 3600000)
    table.insert(lost, room)
    table.insert(lost, peer)
    if redis.call('HLEN', peers) == 0 and redis.call('EXISTS', ARGV[1] .. 'room:' .. room) == 1 then
      redis.call('ZADD', ARGV[1] .. 'expiry', tonumber(ARGV[2]) + 1000 * tonumber(redis.call('HGET', ARGV[1] .. 'room:' .. room, 'emptyTimeout')), room)
    end
  end
end
redis.call('DEL', KEYS[2])
redis.call('SREM', KEYS[3], ARGV[3])
return lost`

// After an outage (or a Redis restart that lost everything): put back a room and a member this node still hosts.
const RESTORE = `
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'roomId', ARGV[1], 'maxPeers', ARGV[5], 'emptyTimeout', ARGV[6], 'metadata', ARGV[7], 'createdAt', ARGV[8])
  redis.call('SADD', KEYS[3], ARGV[1])
end
local current = redis.call('HGET', KEYS[2], ARGV[2])
if current then
  if cjson.decode(current).conn == ARGV[4] then return 'present' end
  return 'replaced'
end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('SADD', KEYS[5], ARGV[1] .. '\\n' .. ARGV[2] .. '\\n' .. ARGV[4])
if redis.call('DEL', ARGV[9] .. 'reaped:' .. ARGV[4]) == 1 then return 'rejoined' end
return 'restored'`

// Kicks live in the room's own hash (field `kicked:<peerId>`), so they go with the room; never recreate a deleted room.
const KICK = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'kicked:' .. ARGV[1], ARGV[2])
return 1`

// Checks membership and publishes in one step, on the one ordered connection: per-sender order holds.
const DELIVER = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1`

interface Scripts {
  sigCreate: (...args: Array<string | number>) => Promise<number>
  sigKick: (...args: Array<string | number>) => Promise<number>
  sigJoin: (...args: Array<string | number>) => Promise<string[]>
  sigLeave: (...args: Array<string | number>) => Promise<number>
  sigDelete: (...args: Array<string | number>) => Promise<number>
  sigSweep: (...args: Array<string | number>) => Promise<string[]>
  sigReap: (...args: Array<string | number>) => Promise<string[]>
  sigRestore: (...args: Array<string | number>) => Promise<RestoreOutcome>
  sigDeliver: (...args: Array<string | number>) => Promise<number>
}

const KINDS = { d: 'deliver', b: 'broadcast', k: 'kick', r: 'replaced', c: 'close-room', q: 'resume-request', s: 'resume-reply' } as const

export class RedisBackplane implements RoomRegistry, Backplane {
  readonly nodeId = randomUUID().replaceAll('-', '').slice(0, 12)
  readonly #prefix: string
  readonly #nodeTtl: number
  readonly #redis: Redis & Scripts
  readonly #subscriber: Redis
  readonly #watched = new Set<string>()
  readonly #expiredListeners: Array<(roomId: string) => void> = []
  readonly #eventListeners: Array<(roomId: string, event: BackplaneEvent) => void> = []
  readonly #lostListeners: Array<(lost: Array<{ roomId: string, peerId: string }>) => void> = []
  readonly #reconnectedListeners: Array<(reconnection: Reconnection) => Promise<void>> = []
  readonly #timers: NodeJS.Timeout[] = []
  readonly #log: NonNullable<RedisBackplaneOptions['log']>
  readonly #connectTimeout: number
  readonly #maxPending: number
  /** Rooms unwatched while the subscriber could not say so: they may still be subscribed. */
  readonly #stale = new Set<string>()
  #pending = 0
  /** A random value kept in Redis: gone or changed after a reconnection, Redis lost its data meanwhile. */
  #epoch: string | undefined
  #wasDown = false
  #recovering = false
  #closing = false

  constructor (options: RedisBackplaneOptions) {
    this.#prefix = options.keyPrefix ?? 'signalling:'
    this.#nodeTtl = options.nodeTtl ?? 10_000
    this.#connectTimeout = options.connectTimeout ?? 10_000
    this.#log = options.log ?? { info () {}, warn () {} }
    this.#maxPending = options.maxPending ?? 10_000
    const common: RedisOptions = {
      lazyConnect: true,
      // commands fail at once while Redis is away instead of queueing without bound
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      retryStrategy: (attempt) => Math.min(100 * attempt, 1000),
      connectTimeout: 2000,
      // without it a Redis that stops answering without closing the connection goes unnoticed, and commands pile up
      commandTimeout: options.commandTimeout ?? 2000
    }
    // named, so that an operator (or a test) can tell the nodes' connections apart in CLIENT LIST
    this.#redis = new Redis(options.url, { ...common, connectionName: `signalling-${this.nodeId}-commands` }) as Redis & Scripts
    // resubscribed by the recovery, not by ioredis: its own resubscription could not be caught if it failed, and
    // would bring back rooms unwatched while Redis was away
    this.#subscriber = new Redis(options.url, { ...common, autoResubscribe: false, connectionName: `signalling-${this.nodeId}-events` })
    const scripts = { sigCreate: [3, CREATE], sigJoin: [4, JOIN], sigLeave: [4, LEAVE], sigDelete: [4, DELETE], sigSweep: [2, SWEEP_EXPIRED], sigReap: [3, REAP], sigRestore: [5, RESTORE], sigDeliver: [1, DELIVER], sigKick: [1, KICK] } as const
    for (const [name, [numberOfKeys, lua]] of Object.entries(scripts)) this.#redis.defineCommand(name, { numberOfKeys, lua })
    for (const connection of [this.#redis, this.#subscriber]) {
      connection.on('error', (err: Error) => { if (!this.#wasDown) this.#log.warn({ err: err.message }, 'redis connection error') })
      connection.on('close', () => { if (!this.#closing) this.#wasDown = true })
    }
    // either connection may be the one that dropped: each coming back checks whether a resynchronisation is due
    for (const connection of [this.#redis, this.#subscriber]) connection.on('ready', () => { if (this.#wasDown) this.#recover() })
    this.#subscriber.on('messageBuffer', (channel: Buffer, message: Buffer) => this.#onMessage(channel.toString(), message.toString()))
  }

  /** Connects both connections and starts the liveness, expiry and reaper timers. Rejects when Redis cannot be reached. */
  async start (): Promise<void> {
    const deadline = setTimeout(() => {
      this.#redis.disconnect()
      this.#subscriber.disconnect()
    }, this.#connectTimeout)
    try {
      await Promise.all([this.#redis.connect(), this.#subscriber.connect()])
    } catch (err) {
      this.#closing = true
      this.#redis.disconnect()
      this.#subscriber.disconnect()
      throw new Error(`cannot connect to Redis: ${(err as Error).message}`)
    } finally {
      clearTimeout(deadline)
    }
    this.#wasDown = false
    await this.#beat()
    await this.#checkEpoch()
    const every = (ms: number, task: () => Promise<unknown>) => {
      const timer = setInterval(() => { task().catch(() => {}) }, ms)
      timer.unref()
      this.#timers.push(timer)
    }
    every(Math.max(100, Math.floor(this.#nodeTtl / 3)), async () => await this.#beat())
    // the subscriber sends nothing of its own: a ping is how it notices that Redis stopped answering
    every(Math.max(100, Math.floor(this.#nodeTtl / 3)), async () => await this.#call(this.#subscriber, async () => await this.#subscriber.ping()))
    every(Math.max(100, Math.floor(this.#nodeTtl / 4)), async () => await this.#reapDeadNodes())
    every(500, async () => await this.#sweepExpired())
  }

  get up (): boolean {
    return this.#redis.status === 'ready' && this.#subscriber.status === 'ready'
  }

  #key (...parts: string[]): string {
    return this.#prefix + parts.join(':')
  }

  /**
   * Every command goes through here: at most `maxPending` wait for Redis at a time, and a command that times out
   * takes its connection down, so that the backplane reports down and what waits on it fails instead of piling up.
   */
  async #call<T> (connection: Redis, operation: () => Promise<T>): Promise<T> {
    if (this.#pending >= this.#maxPending) throw signallingError('BACKPLANE_UNAVAILABLE', 'too many commands waiting for redis')
    this.#pending++
    try {
      return await operation()
    } catch (err) {
      if ((err as Error).message === 'Command timed out') this.#stalled(connection)
      throw err
    } finally {
      this.#pending--
    }
  }

  #stalled (connection: Redis): void {
    if (this.#closing || connection.status !== 'ready') return
    this.#log.warn({ node: this.nodeId, connection: connection === this.#redis ? 'commands' : 'events' }, 'redis stopped answering: reconnecting')
    this.#wasDown = true
    // the commands still waiting fail at once; ioredis reconnects with the retry strategy
    connection.disconnect(true)
  }

  /** Commands in flight (for tests and metrics). */
  get pendingCommands (): number {
    return this.#pending
  }

  async #beat (): Promise<void> {
    await this.#call(this.#redis, async () => await this.#redis.multi().set(this.#key('node', this.nodeId), '1', 'PX', this.#nodeTtl).sadd(this.#key('nodes'), this.nodeId).exec())
  }

  /** True when Redis lost its data since the last check (first call: false). */
  async #checkEpoch (): Promise<boolean> {
    const key = this.#key('epoch')
    const epoch = await this.#call(this.#redis, async () => {
      await this.#redis.set(key, randomUUID(), 'NX')
      return await this.#redis.get(key)
    })
    const lost = this.#epoch !== undefined && epoch !== this.#epoch
    this.#epoch = epoch ?? undefined
    return lost
  }

  async #reapDeadNodes (): Promise<void> {
    const nodes = await this.#call(this.#redis, async () => await this.#redis.smembers(this.#key('nodes')))
    for (const node of nodes) {
      if (node === this.nodeId) continue
      const flat = await this.#call(this.#redis, async () => await this.#redis.sigReap(this.#key('node', node), this.#key('node', node, 'peers'), this.#key('nodes'), this.#prefix, Date.now(), node))
      if (flat.length === 0) continue
      const lost: Array<{ roomId: string, peerId: string }> = []
      for (let i = 0; i < flat.length; i += 2) lost.push({ roomId: flat[i]!, peerId: flat[i + 1]! })
      this.#log.warn({ node, peers: lost.length }, 'node stopped refreshing its liveness key: its peers are reported gone')
      for (const listener of this.#lostListeners) listener(lost)
    }
  }

  async #sweepExpired (): Promise<void> {
    const deleted = await this.#call(this.#redis, async () => await this.#redis.sigSweep(this.#key('expiry'), this.#key('rooms'), Date.now(), this.#prefix))
    for (const roomId of deleted) for (const listener of this.#expiredListeners) listener(roomId)
  }

  /** Resynchronises after an outage of either connection, retrying (at most every 5 s) until it succeeds. */
  #recover (): void {
    if (this.#recovering || this.#closing) return
    this.#recovering = true
    void this.#recoverLoop()
  }

  async #recoverLoop (): Promise<void> {
    let retry = 100
    try {
      // a connection dropping during a round sets #wasDown again: another round follows
      while (this.#wasDown && !this.#closing) {
        if (!this.up) {
          await new Promise((resolve) => setTimeout(resolve, 100))
          continue
        }
        this.#wasDown = false
        try {
          await this.#beat()
          const storeLost = await this.#checkEpoch()
          await this.#resubscribe()
          await this.#dropStaleSubscriptions()
          this.#log.info({ node: this.nodeId, storeLost }, 'redis is back: resynchronising')
          for (const listener of this.#reconnectedListeners) await listener({ storeLost })
          retry = 100
        } catch (err) {
          this.#wasDown = true
          this.#log.warn({ err, node: this.nodeId, retryIn: retry }, 'resynchronisation with redis failed: retrying')
          await new Promise((resolve) => setTimeout(resolve, retry))
          retry = Math.min(2 * retry, 5000)
        }
      }
    } finally {
      this.#recovering = false
    }
  }

  /** Subscribes to the watched rooms again (a no-op for those still subscribed, when only the other connection dropped). */
  async #resubscribe (): Promise<void> {
    const channels = [...this.#watched].map((roomId) => this.#key('room', roomId))
    if (channels.length > 0) await this.#call(this.#subscriber, async () => await this.#subscriber.subscribe(...channels))
  }

  /** Rooms unwatched while their unsubscription could not be sent: in case they are still subscribed. */
  async #dropStaleSubscriptions (): Promise<void> {
    for (const roomId of [...this.#stale]) {
      if (this.#watched.has(roomId)) {
        this.#stale.delete(roomId)
        continue
      }
      await this.#call(this.#subscriber, async () => await this.#subscriber.unsubscribe(this.#key('room', roomId)))
      this.#stale.delete(roomId)
    }
  }

  /** Redis errors leave as BACKPLANE_UNAVAILABLE; our own typed errors pass through. */
  async #store<T> (operation: () => Promise<T>): Promise<T> {
    try {
      return await this.#call(this.#redis, operation)
    } catch (err) {
      if (isSignallingError(err)) throw err
      throw signallingError('BACKPLANE_UNAVAILABLE', 'the room store cannot be reached')
    }
  }

  // --- RoomRegistry

  async create (record: RoomRecord): Promise<Room> {
    return await this.#store(async () => {
      const created = await this.#redis.sigCreate(
        this.#key('room', record.roomId), this.#key('rooms'), this.#key('expiry'),
        record.roomId, record.maxPeers, record.emptyTimeout, JSON.stringify(record.metadata), record.createdAt,
        Date.now() + 1000 * (record.emptyTimeout === 0 ? DEFAULT_UNJOINED_TIMEOUT : record.emptyTimeout)
      )
      if (created === 0) throw signallingError('ROOM_EXISTS', record.roomId)
      return { ...record, peerCount: 0 }
    })
  }

  async exists (roomId: string): Promise<boolean> {
    return await this.#store(async () => await this.#redis.exists(this.#key('room', roomId)) === 1)
  }

  async get (roomId: string): Promise<Room | undefined> {
    return await this.#store(async () => {
      const results = await this.#redis.multi().hgetall(this.#key('room', roomId)).hlen(this.#key('room', roomId, 'peers')).exec()
      return toRoom(results?.[0]?.[1] as Record<string, string>, results?.[1]?.[1] as number)
    })
  }

  async list (): Promise<Room[]> {
    return await this.#store(async () => {
      const ids = await this.#redis.smembers(this.#key('rooms'))
      if (ids.length === 0) return []
      const pipeline = this.#redis.pipeline()
      for (const id of ids) pipeline.hgetall(this.#key('room', id)).hlen(this.#key('room', id, 'peers'))
      const results = await pipeline.exec()
      const rooms: Room[] = []
      for (let i = 0; i < ids.length; i++) {
        const room = toRoom(results?.[2 * i]?.[1] as Record<string, string>, results?.[2 * i + 1]?.[1] as number)
        if (room !== undefined) rooms.push(room)
      }
      return rooms
    })
  }

  async peers (roomId: string): Promise<PeerSummary[]> {
    return await this.#store(async () => {
      const all = await this.#redis.hgetall(this.#key('room', roomId, 'peers'))
      return Object.entries(all).map(([peerId, json]) => {
        const { metadata, joinedAt } = JSON.parse(json) as PeerSummary
        return { peerId, metadata, joinedAt }
      })
    })
  }

  async hasPeer (roomId: string, peerId: string): Promise<boolean> {
    return await this.#store(async () => {
      return await this.#redis.hexists(this.#key('room', roomId, 'peers'), peerId) === 1
    })
  }

  async delete (roomId: string): Promise<boolean> {
    return await this.#store(async () => {
      return await this.#redis.sigDelete(this.#key('room', roomId), this.#key('room', roomId, 'peers'), this.#key('rooms'), this.#key('expiry'), roomId) === 1
    })
  }

  async join (roomId: string, peer: PeerSummary, connection: string): Promise<JoinResult> {
    return await this.#store(async () => {
      const [outcome, replacedConnection] = await this.#redis.sigJoin(
        this.#key('room', roomId), this.#key('room', roomId, 'peers'), this.#key('expiry'), this.#key('node', this.nodeId, 'peers'),
        peer.peerId, JSON.stringify({ metadata: peer.metadata, joinedAt: peer.joinedAt, conn: connection }), roomId, connection, this.#prefix
      )
      if (outcome === 'missing') throw signallingError('ROOM_NOT_FOUND', roomId)
      if (outcome === 'full') throw signallingError('ROOM_FULL', roomId)
      return outcome === 'replaced' ? { outcome, replacedConnection } : { outcome: 'joined' }
    })
  }

  async leave (roomId: string, peerId: string, connection: string): Promise<boolean> {
    return await this.#store(async () => {
      return await this.#redis.sigLeave(
        this.#key('room', roomId, 'peers'), this.#key('expiry'), this.#key('room', roomId), this.#key('node', this.nodeId, 'peers'),
        peerId, connection, roomId, Date.now()
      ) === 1
    })
  }

  async recordKick (roomId: string, peerId: string, at: number): Promise<void> {
    await this.#store(async () => await this.#redis.sigKick(this.#key('room', roomId), peerId, at))
  }

  async kickedAt (roomId: string, peerId: string): Promise<number | undefined> {
    return await this.#store(async () => {
      const at = await this.#redis.hget(this.#key('room', roomId), `kicked:${peerId}`)
      return at === null ? undefined : Number(at)
    })
  }

  onExpired (listener: (roomId: string) => void): void {
    this.#expiredListeners.push(listener)
  }

  /** Says goodbye: the liveness key goes at once, so nothing of this node is reaped later. */
  async close (): Promise<void> {
    this.#closing = true
    for (const timer of this.#timers) clearInterval(timer)
    try {
      if (this.#redis.status === 'ready') {
        await this.#redis.multi().del(this.#key('node', this.nodeId)).srem(this.#key('nodes'), this.nodeId).exec()
      }
    } catch (err) {
      // the liveness key expires by itself, and the other nodes then report this node's peers gone
      this.#log.warn({ err, node: this.nodeId }, 'goodbye not recorded in redis')
    } finally {
      this.#subscriber.disconnect()
      this.#redis.disconnect()
    }
  }

  // --- Backplane

  async sendToPeer (roomId: string, peerId: string, frame: string): Promise<boolean> {
    const message = `d\n${this.nodeId}\n${peerId}\n\n${frame}`
    return await this.#call(this.#redis, async () => await this.#redis.sigDeliver(this.#key('room', roomId, 'peers'), peerId, this.#key('room', roomId), message)) === 1
  }

  async publish (roomId: string, event: Exclude<BackplaneEvent, { kind: 'deliver' }>): Promise<void> {
    let message: string
    switch (event.kind) {
      case 'broadcast': message = `b\n${this.nodeId}\n${event.except}\n\n${event.frame}`; break
      case 'kick': message = `k\n${this.nodeId}\n${event.peerId}\n\n`; break
      case 'replaced': message = `r\n${this.nodeId}\n${event.peerId}\n${event.connection}\n`; break
      case 'close-room': message = `c\n${this.nodeId}\n\n\n`; break
      case 'resume-request': message = `q\n${this.nodeId}\n${event.peerId}\n${event.requestId}\n${event.lastSeq}`; break
      case 'resume-reply': message = `s\n${this.nodeId}\n${event.requestId}\n\n${JSON.stringify(event.reply)}`; break
    }
    await this.#call(this.#redis, async () => await this.#redis.publish(this.#key('room', roomId), message))
  }

  async watch (roomId: string): Promise<void> {
    if (this.#watched.has(roomId)) return
    if (this.#subscriber.status !== 'ready') throw signallingError('BACKPLANE_UNAVAILABLE', 'redis is not reachable')
    this.#watched.add(roomId)
    this.#stale.delete(roomId)
    try {
      await this.#call(this.#subscriber, async () => await this.#subscriber.subscribe(this.#key('room', roomId)))
    } catch (err) {
      this.#watched.delete(roomId)
      // the subscription may have gone through all the same
      this.#stale.add(roomId)
      throw err
    }
  }

  async unwatch (roomId: string): Promise<void> {
    if (!this.#watched.delete(roomId)) return
    try {
      await this.#call(this.#subscriber, async () => await this.#subscriber.unsubscribe(this.#key('room', roomId)))
    } catch (err) {
      // unsubscribed after the next reconnection, when the connection stays (or comes back) up
      this.#stale.add(roomId)
      throw err
    }
  }

  /** Rooms this node receives the events of (for tests and metrics). */
  get watchedRooms (): string[] {
    return [...this.#watched]
  }

  onEvent (listener: (roomId: string, event: BackplaneEvent) => void): void {
    this.#eventListeners.push(listener)
  }

  onPeersLost (listener: (lost: Array<{ roomId: string, peerId: string }>) => void): void {
    this.#lostListeners.push(listener)
  }

  onReconnected (listener: (reconnection: Reconnection) => Promise<void>): void {
    this.#reconnectedListeners.push(listener)
  }

  async restore ({ room, peer, connection }: HostedPeer): Promise<RestoreOutcome> {
    return await this.#call(this.#redis, async () => await this.#redis.sigRestore(
      this.#key('room', room.roomId), this.#key('room', room.roomId, 'peers'), this.#key('rooms'), this.#key('expiry'), this.#key('node', this.nodeId, 'peers'),
      room.roomId, peer.peerId, JSON.stringify({ metadata: peer.metadata, joinedAt: peer.joinedAt, conn: connection }), connection,
      room.maxPeers, room.emptyTimeout, JSON.stringify(room.metadata), room.createdAt, this.#prefix
    ))
  }

  async forgetOthers (connections: Set<string>): Promise<Array<{ roomId: string, peerId: string }>> {
    const members = await this.#call(this.#redis, async () => await this.#redis.smembers(this.#key('node', this.nodeId, 'peers')))
    const forgotten: Array<{ roomId: string, peerId: string }> = []
    for (const member of members) {
      const [roomId, peerId, connection] = member.split('\n') as [string, string, string]
      if (connections.has(connection)) continue
      if (await this.leave(roomId, peerId, connection)) forgotten.push({ roomId, peerId })
    }
    return forgotten
  }

  #onMessage (channel: string, message: string): void {
    const roomId = channel.slice(this.#prefix.length + 'room:'.length)
    const n1 = message.indexOf('\n')
    const n2 = message.indexOf('\n', n1 + 1)
    const n3 = message.indexOf('\n', n2 + 1)
    const n4 = message.indexOf('\n', n3 + 1)
    const kind = KINDS[message.slice(0, n1) as keyof typeof KINDS]
    // a node ignores its own messages, except a resume request: its echo marks where the hand-off starts
    if (n4 === -1 || (message.slice(n1 + 1, n2) === this.nodeId && kind !== 'resume-request')) return
    const a = message.slice(n2 + 1, n3)
    const b = message.slice(n3 + 1, n4)
    const frame = message.slice(n4 + 1)
    let event: BackplaneEvent
    switch (kind) {
      case 'deliver': event = { kind, to: a, frame }; break
      case 'broadcast': event = { kind, except: a, frame }; break
      case 'kick': event = { kind, peerId: a }; break
      case 'replaced': event = { kind, peerId: a, connection: b }; break
      case 'close-room': event = { kind }; break
      case 'resume-request': event = { kind, peerId: a, requestId: b, lastSeq: Number(frame) }; break
      case 'resume-reply': event = { kind, requestId: a, reply: JSON.parse(frame) as Handoff }; break
      default: return
    }
    for (const listener of this.#eventListeners) listener(roomId, event)
  }
}

function toRoom (hash: Record<string, string> | undefined, peerCount: number | undefined): Room | undefined {
  if (hash === undefined || hash.roomId === undefined) return undefined
  return {
    roomId: hash.roomId,
    maxPeers: Number(hash.maxPeers),
    emptyTimeout: Number(hash.emptyTimeout),
    metadata: JSON.parse(hash.metadata ?? '{}') as Record<string, unknown>,
    createdAt: hash.createdAt ?? '',
    peerCount: peerCount ?? 0
  }
}
