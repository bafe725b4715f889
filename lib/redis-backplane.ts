// Rooms on Redis, shared by every node, and routing of frames between nodes by room over Redis pub/sub.
// Key layout and the scripts: lib/redis/scripts.ts; the channel messages: lib/redis/codec.ts.
import { randomUUID } from 'node:crypto'
import type { RedisOptions } from 'ioredis'
import type { Backplane, BackplaneEvent, HostedPeer, Reconnection, RestoreOutcome } from './backplane.js'
import { isSignallingError, signallingError } from './errors.js'
import type { JoinResult, RoomRecord, RoomRegistry } from './room-registry.js'
import { decode, encode } from './redis/codec.js'
import { connectRedis, pubsub, type RedisConnection } from './redis/connection.js'
import { reapDeadNodes, sweepExpired } from './redis/housekeeping.js'
import { checkTarget, type RedisTarget } from './redis/target.js'
import { RedisRoomStore } from './redis/room-store.js'
import { defineScripts, KeyLayout, type Scripts } from './redis/scripts.js'
import type { PeerSummary, Room } from './schemas.js'

/** One of `url` (one server), `cluster` (Redis Cluster 7+) or `sentinel` (a master found through Sentinel). */
export interface RedisBackplaneOptions extends RedisTarget {
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


export class RedisBackplane implements RoomRegistry, Backplane {
  readonly nodeId = randomUUID().replaceAll('-', '').slice(0, 12)
  readonly #prefix: string
  readonly #nodeTtl: number
  readonly #redis: RedisConnection & Scripts
  readonly #subscriber: RedisConnection
  readonly #keys: KeyLayout
  /** On a cluster, sharded pub/sub: a room's messages stay on its shard. */
  readonly #sharded: boolean
  readonly #rooms: RedisRoomStore
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
  #retryNow: (() => void) | undefined
  #closing = false

  constructor (options: RedisBackplaneOptions) {
    checkTarget(options)
    this.#prefix = options.keyPrefix ?? 'signalling:'
    this.#sharded = options.cluster !== undefined
    if (this.#sharded && /[{}]/.test(this.#prefix)) throw new Error('redis.keyPrefix must not hold { or } on a cluster: the room\'s id is the hash tag')
    this.#keys = new KeyLayout(this.#prefix, this.#sharded)
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
    this.#redis = defineScripts(connectRedis(options, { ...common, connectionName: `signalling-${this.nodeId}-commands` }))
    // resubscribed by the recovery, not by ioredis: its own resubscription could not be caught if it failed, and
    // would bring back rooms unwatched while Redis was away
    this.#subscriber = connectRedis(options, { ...common, autoResubscribe: false, connectionName: `signalling-${this.nodeId}-events` })
    for (const connection of [this.#redis, this.#subscriber]) {
      connection.on('error', (err: Error) => { if (!this.#wasDown) this.#log.warn({ err: err.message }, 'redis connection error') })
      connection.on('close', () => { if (!this.#closing) this.#wasDown = true })
      // a cluster stays ready while one master is away: a lost or failing node is an outage of its slots
      if (this.#sharded) {
        for (const event of ['-node', 'node error', 'nodeError']) connection.on(event, () => { this.#lost() })
      }
    }
    // either connection may be the one that dropped: each coming back checks whether a resynchronisation is due
    for (const connection of [this.#redis, this.#subscriber]) connection.on('ready', () => { if (this.#wasDown) this.#recover() })
    // a cluster never stops being ready: its per-master subscribers rebuilt after a failover are the sign to retry now
    if (this.#sharded) this.#subscriber.on('subscribersReady', () => { if (this.#wasDown) this.#recover() })
    this.#rooms = new RedisRoomStore(async (operation) => await this.#store(async () => await operation(this.#redis)), this.#keys, this.nodeId)
    this.#subscriber.on(this.#sharded ? 'smessageBuffer' : 'messageBuffer', (channel: Buffer, message: Buffer) => this.#onMessage(channel.toString(), message.toString()))
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

  /**
   * Every command goes through here: at most `maxPending` wait for Redis at a time, and a command that times out
   * takes its connection down, so that the backplane reports down and what waits on it fails instead of piling up.
   */
  async #call<T> (connection: RedisConnection, operation: () => Promise<T>): Promise<T> {
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

  #stalled (connection: RedisConnection): void {
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
    await this.#call(this.#redis, async () => await Promise.all([
      this.#redis.set(this.#keys.node(this.nodeId), '1', 'PX', this.#nodeTtl),
      this.#redis.sadd(this.#keys.nodes(), this.nodeId)
    ]))
  }

  /** True when Redis lost its data since the last check (first call: false). */
  async #checkEpoch (): Promise<boolean> {
    const key = this.#keys.epoch()
    const epoch = await this.#call(this.#redis, async () => {
      await this.#redis.set(key, randomUUID(), 'NX')
      return await this.#redis.get(key)
    })
    const lost = this.#epoch !== undefined && epoch !== this.#epoch
    this.#epoch = epoch ?? undefined
    return lost
  }

  async #reapDeadNodes (): Promise<void> {
    for (const { node, lost } of await reapDeadNodes(this.#redis, this.#keys, this.nodeId, async (operation) => await this.#call(this.#redis, operation))) {
      this.#log.warn({ node, peers: lost.length }, 'node stopped refreshing its liveness key: its peers are reported gone')
      for (const listener of this.#lostListeners) listener(lost)
    }
  }

  async #sweepExpired (): Promise<void> {
    const deleted = await sweepExpired(this.#redis, this.#keys, async (operation) => await this.#call(this.#redis, operation))
    for (const roomId of deleted) for (const listener of this.#expiredListeners) listener(roomId)
  }

  /** A cluster node lost: its slots are out until a replica takes over, and the resynchronisation retries meanwhile. */
  #lost (): void {
    if (this.#closing) return
    this.#wasDown = true
    if (!this.#recovering) this.#recover()
  }

  /** Resynchronises after an outage of either connection, retrying (at most every 5 s) until it succeeds. */
  #recover (): void {
    if (this.#closing) return
    // a round waiting to retry goes at once: something just came back
    if (this.#recovering) return this.#retryNow?.()
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
          // a promoted replica may lack the last writes of its master (asynchronous replication): absence proves nothing
          const storeLost = await this.#checkEpoch() || this.#sharded
          await this.#resubscribe()
          await this.#dropStaleSubscriptions()
          this.#log.info({ node: this.nodeId, storeLost }, 'redis is back: resynchronising')
          for (const listener of this.#reconnectedListeners) await listener({ storeLost })
          retry = 100
        } catch (err) {
          this.#wasDown = true
          this.#log.warn({ err, node: this.nodeId, retryIn: retry }, 'resynchronisation with redis failed: retrying')
          await new Promise<void>((resolve) => {
            this.#retryNow = resolve
            setTimeout(resolve, retry)
          })
          this.#retryNow = undefined
          retry = Math.min(2 * retry, 5000)
        }
      }
    } finally {
      this.#recovering = false
    }
  }

  /** Subscribes to the watched rooms again (a no-op for those still subscribed, when only the other connection dropped). */
  async #resubscribe (): Promise<void> {
    // one command per room: on a cluster a subscription names channels of one slot only
    await Promise.all([...this.#watched].map(async (roomId) => await this.#subscribe(roomId)))
  }

  /** Rooms unwatched while their unsubscription could not be sent: in case they are still subscribed. */
  async #dropStaleSubscriptions (): Promise<void> {
    for (const roomId of [...this.#stale]) {
      if (this.#watched.has(roomId)) {
        this.#stale.delete(roomId)
        continue
      }
      await this.#unsubscribe(roomId)
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

  // --- RoomRegistry (lib/redis/room-store.ts)

  async create (record: RoomRecord): Promise<Room> { return await this.#rooms.create(record) }
  async exists (roomId: string): Promise<boolean> { return await this.#rooms.exists(roomId) }
  async get (roomId: string): Promise<Room | undefined> { return await this.#rooms.get(roomId) }
  async list (): Promise<Room[]> { return await this.#rooms.list() }
  async peers (roomId: string): Promise<PeerSummary[]> { return await this.#rooms.peers(roomId) }
  async hasPeer (roomId: string, peerId: string): Promise<boolean> { return await this.#rooms.hasPeer(roomId, peerId) }
  async delete (roomId: string): Promise<boolean> { return await this.#rooms.delete(roomId) }
  async join (roomId: string, peer: PeerSummary, connection: string): Promise<JoinResult> { return await this.#rooms.join(roomId, peer, connection) }
  async updatePeer (roomId: string, peerId: string, metadata: Record<string, unknown>): Promise<PeerSummary | undefined> { return await this.#rooms.updatePeer(roomId, peerId, metadata) }
  async leave (roomId: string, peerId: string, connection: string): Promise<boolean> { return await this.#rooms.leave(roomId, peerId, connection) }
  async recordKick (roomId: string, peerId: string, at: number): Promise<void> { return await this.#rooms.recordKick(roomId, peerId, at) }
  async kickedAt (roomId: string, peerId: string): Promise<number | undefined> { return await this.#rooms.kickedAt(roomId, peerId) }

  onExpired (listener: (roomId: string) => void): void {
    this.#expiredListeners.push(listener)
  }

  /** Says goodbye: the liveness key goes at once, so nothing of this node is reaped later. */
  async close (): Promise<void> {
    this.#closing = true
    for (const timer of this.#timers) clearInterval(timer)
    try {
      if (this.#redis.status === 'ready') {
        await Promise.all([this.#redis.del(this.#keys.node(this.nodeId)), this.#redis.srem(this.#keys.nodes(), this.nodeId)])
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
    const message = encode(this.nodeId, { kind: 'deliver', to: peerId, frame })
    return await this.#call(this.#redis, async () => await this.#redis.sigDeliver(this.#keys.peers(roomId), this.#keys.channel(roomId), peerId, message, this.#sharded ? 'SPUBLISH' : 'PUBLISH')) === 1
  }

  async publish (roomId: string, event: Exclude<BackplaneEvent, { kind: 'deliver' }>): Promise<void> {
    const message = encode(this.nodeId, event)
    await this.#call(this.#redis, async () => await pubsub(this.#redis, this.#sharded).publish(this.#keys.channel(roomId), message))
  }

  async #subscribe (roomId: string): Promise<void> {
    await this.#call(this.#subscriber, async () => await pubsub(this.#subscriber, this.#sharded).subscribe(this.#keys.channel(roomId)))
  }

  async #unsubscribe (roomId: string): Promise<void> {
    await this.#call(this.#subscriber, async () => await pubsub(this.#subscriber, this.#sharded).unsubscribe(this.#keys.channel(roomId)))
  }

  async watch (roomId: string): Promise<void> {
    if (this.#watched.has(roomId)) return
    if (this.#subscriber.status !== 'ready') throw signallingError('BACKPLANE_UNAVAILABLE', 'redis is not reachable')
    this.#watched.add(roomId)
    this.#stale.delete(roomId)
    try {
      await this.#subscribe(roomId)
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
      await this.#unsubscribe(roomId)
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

  async restore (hosted: HostedPeer): Promise<RestoreOutcome> {
    return await this.#call(this.#redis, async () => await this.#rooms.restore(this.#redis, hosted))
  }

  async forgetOthers (connections: Set<string>): Promise<Array<{ roomId: string, peerId: string }>> {
    const members = await this.#call(this.#redis, async () => await this.#redis.smembers(this.#keys.nodePeers(this.nodeId)))
    const forgotten: Array<{ roomId: string, peerId: string }> = []
    for (const member of members) {
      const [roomId, peerId, connection] = member.split('\n') as [string, string, string]
      if (connections.has(connection)) continue
      if (await this.leave(roomId, peerId, connection)) forgotten.push({ roomId, peerId })
    }
    return forgotten
  }

  #onMessage (channel: string, message: string): void {
    const decoded = decode(message)
    // a node ignores its own messages, except a resume request: its echo marks where the hand-off starts
    if (decoded === undefined || (decoded.origin === this.nodeId && decoded.event.kind !== 'resume-request')) return
    const roomId = this.#keys.roomOfChannel(channel)
    for (const listener of this.#eventListeners) listener(roomId, decoded.event)
  }

}
