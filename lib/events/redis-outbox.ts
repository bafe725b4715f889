// Events on Redis: numbered per room and appended to one stream in the same script, so the stream's order is each
// room's order. Every node reads the stream in one consumer group, but only the holder of a lease delivers, so each
// event goes out from one node, in order; a new holder claims what the old one left pending (a node killed mid-way).
// Keys share the hash tag `{events}`: one slot, so the scripts stay valid on Redis Cluster.
import type { RedisOptions } from 'ioredis'
import { connectRedis, type RedisConnection } from '../redis/connection.js'
import type { RedisTarget } from '../redis/target.js'
import type { DeadLetter } from '../schemas.js'
import { numbered, type EventOutbox, type SignallingEvent, type UnnumberedEvent } from './types.js'
import { WebhookDispatcher, type DispatcherHooks } from './webhook-dispatcher.js'
import type { ResolvedWebhooks } from './webhook-options.js'

export interface RedisOutboxOptions {
  /** The deployment's Redis: one server, a cluster or Sentinel's master. */
  target: RedisTarget
  keyPrefix: string
  /** This node's name in the consumer group and in the lease. */
  nodeId: string
  /** How long the lease lasts unrenewed (ms): a dead holder's deliveries resume on another node after it. */
  lease: number
  log: DispatcherHooks['log']
}

const GROUP = 'webhooks'
/** A room's counter outlives a quiet room this long (its deletion removes it at once). */
const SEQ_TTL = 30 * 24 * 3600_000

// KEYS: seq, stream. ARGV: event (without seq), whether to append it, whether it deletes the room, the counter's TTL
const APPEND = `
local seq = redis.call('INCR', KEYS[1])
if ARGV[3] == '1' then redis.call('DEL', KEYS[1]) else redis.call('PEXPIRE', KEYS[1], ARGV[4]) end
if ARGV[2] == '1' then redis.call('XADD', KEYS[2], '*', 'seq', seq, 'event', ARGV[1]) end
return seq`

// KEYS: lease. ARGV: node, ms. 1 while this node holds it.
const LEASE = `
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if not holder then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0`

const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0`

// KEYS: dead letters, stream. ARGV: id. Moves the letter back to the stream, once.
const REPLAY = `
local letter = redis.call('HGET', KEYS[1], ARGV[1])
if not letter then return 0 end
redis.call('XADD', KEYS[2], '*', 'letter', letter)
redis.call('HDEL', KEYS[1], ARGV[1])
return 1`

type OutboxRedis = RedisConnection & {
  sigEventAppend: (seqKey: string, stream: string, event: string, append: string, deletes: string, ttl: number) => Promise<number>
  sigEventLease: (lease: string, node: string, ms: number) => Promise<number>
  sigEventRelease: (lease: string, node: string) => Promise<number>
  sigEventReplay: (dead: string, stream: string, id: string) => Promise<number>
}

type StreamEntry = [id: string, fields: string[] | null]

export class RedisOutbox implements EventOutbox {
  readonly #options: RedisOutboxOptions
  readonly #redis: OutboxRedis
  /** Blocking reads, on a connection of their own. */
  readonly #reader: RedisConnection | undefined
  readonly #dispatcher: WebhookDispatcher | undefined
  readonly #queueSize: number
  readonly #keys: { stream: string, lease: string, dead: string, seq: (roomId: string) => string }
  #timer: NodeJS.Timeout | undefined
  #leading = false
  /** Until when the lease is ours for sure (its last renewal plus its length). */
  #leaseUntil = 0
  #reading: Promise<void> = Promise.resolve()
  /** Bumped at each new lease: a read loop of an older one stops. */
  #term = 0
  #closing = false

  constructor (options: RedisOutboxOptions, webhooks: ResolvedWebhooks | undefined, hooks: Omit<DispatcherHooks, 'settled' | 'deadLetter'>) {
    this.#options = options
    const tag = `${options.keyPrefix}{events}:`
    this.#keys = { stream: `${tag}outbox`, lease: `${tag}lease`, dead: `${tag}dead-letters`, seq: (roomId) => `${tag}seq:${roomId}` }
    const common: RedisOptions = {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: (attempt) => Math.min(100 * attempt, 1000),
      connectTimeout: 2000
    }
    const redis = connectRedis(options.target, { ...common, commandTimeout: 2000, connectionName: `signalling-${options.nodeId}-outbox` })
    redis.defineCommand('sigEventAppend', { numberOfKeys: 2, lua: APPEND })
    redis.defineCommand('sigEventLease', { numberOfKeys: 1, lua: LEASE })
    redis.defineCommand('sigEventRelease', { numberOfKeys: 1, lua: RELEASE })
    redis.defineCommand('sigEventReplay', { numberOfKeys: 2, lua: REPLAY })
    this.#redis = redis as OutboxRedis
    this.#queueSize = webhooks?.queueSize ?? 0
    if (webhooks !== undefined) {
      this.#reader = connectRedis(options.target, { ...common, connectionName: `signalling-${options.nodeId}-outbox-reader` })
      this.#dispatcher = new WebhookDispatcher(webhooks, {
        ...hooks,
        settled: (key) => { void this.#ack(key) },
        deadLetter: async (letter) => { await this.#redis.hset(this.#keys.dead, letter.id, JSON.stringify(letter)) }
      }, Infinity)
    }
    for (const connection of [this.#redis, this.#reader]) {
      connection?.on('error', (err: Error) => { if (!this.#closing) options.log.warn({ err: err.message }, 'outbox redis connection error') })
    }
  }

  async start (): Promise<void> {
    await Promise.all([this.#redis.connect(), this.#reader?.connect()])
    if (this.#dispatcher === undefined) return
    await this.#redis.xgroup('CREATE', this.#keys.stream, GROUP, '0', 'MKSTREAM').catch((err: Error) => {
      if (!err.message.includes('BUSYGROUP')) throw err
    })
    await this.#renew()
    this.#timer = setInterval(() => { void this.#renew() }, Math.max(50, Math.floor(this.#options.lease / 3)))
    this.#timer.unref()
  }

  /** Whether this node is the one delivering (for /metrics and tests). */
  get leading (): boolean {
    return this.#leading
  }

  async append (event: UnnumberedEvent): Promise<SignallingEvent> {
    const seq = await this.#redis.sigEventAppend(this.#keys.seq(event.roomId), this.#keys.stream, JSON.stringify(event),
      this.#dispatcher === undefined ? '0' : '1', event.type === 'room.deleted' ? '1' : '0', SEQ_TTL)
    return numbered(event, seq)
  }

  async deadLetters (): Promise<DeadLetter[]> {
    const values = await this.#redis.hvals(this.#keys.dead)
    return values.map((value) => JSON.parse(value) as DeadLetter).sort((a, b) => a.deadAt.localeCompare(b.deadAt))
  }

  async replay (id: string): Promise<boolean> {
    if (this.#dispatcher === undefined) return false
    return await this.#redis.sigEventReplay(this.#keys.dead, this.#keys.stream, id) === 1
  }

  get depth (): number {
    return this.#dispatcher?.depth ?? 0
  }

  /** Takes or keeps the lease; loses it (and stops delivering) when it could not be renewed in time. */
  async #renew (): Promise<void> {
    if (this.#closing) return
    let held: boolean
    try {
      held = await this.#redis.sigEventLease(this.#keys.lease, this.#options.nodeId, this.#options.lease) === 1
      if (held) this.#leaseUntil = Date.now() + this.#options.lease
    } catch {
      held = this.#leading && Date.now() < this.#leaseUntil
    }
    if (held && !this.#leading) {
      this.#leading = true
      this.#options.log.warn({ node: this.#options.nodeId }, 'this node delivers the webhooks now')
      const term = ++this.#term
      this.#reading = this.#reading.then(async () => await this.#read(term))
    } else if (!held && this.#leading) {
      this.#unlead()
    }
  }

  #unlead (): void {
    this.#leading = false
    // what was read stays pending in the group, for the next holder of the lease
    this.#dispatcher!.stop()
  }

  /** Claims every pending entry, reads this node's pending ones in order, then new ones as they come. */
  async #read (term: number): Promise<void> {
    const { stream } = this.#keys
    const consumer = this.#options.nodeId
    let cursor = '0-0'
    let after = '0'
    while (this.#leading && this.#term === term && !this.#closing) {
      try {
        if (cursor !== 'done') {
          const [next] = await this.#redis.xautoclaim(stream, GROUP, consumer, 0, cursor, 'COUNT', 500, 'JUSTID') as [string, string[]]
          cursor = next === '0-0' ? 'done' : next
          continue
        }
        if (this.#dispatcher!.size >= this.#queueSize) {
          await new Promise((resolve) => setTimeout(resolve, 50))
          continue
        }
        const count = Math.min(500, this.#queueSize - this.#dispatcher!.size)
        const reply = (after === '>'
          ? await this.#reader!.xreadgroup('GROUP', GROUP, consumer, 'COUNT', count, 'BLOCK', 1000, 'STREAMS', stream, '>')
          : await this.#reader!.xreadgroup('GROUP', GROUP, consumer, 'COUNT', count, 'STREAMS', stream, after)) as Array<[string, StreamEntry[]]> | null
        const entries = reply?.[0]?.[1] ?? []
        if (after !== '>') after = entries.length === 0 ? '>' : entries.at(-1)![0]
        // the lease went while this read waited: the entries stay pending for the next holder
        if (!this.#leading || this.#term !== term) break
        for (const [id, fields] of entries) this.#submit(id, fields)
      } catch (err) {
        if (this.#closing) break
        this.#options.log.warn({ err }, 'outbox not readable: retrying')
        await new Promise((resolve) => setTimeout(resolve, 500))
      }
    }
  }

  #submit (id: string, fields: string[] | null): void {
    // an entry deleted while pending comes back without its fields
    if (fields === null) return void this.#ack(id)
    const field = (name: string): string | undefined => {
      for (let i = 0; i < fields.length; i += 2) if (fields[i] === name) return fields[i + 1]
      return undefined
    }
    try {
      const letter = field('letter')
      if (letter !== undefined) {
        const { event, url } = JSON.parse(letter) as DeadLetter
        return this.#dispatcher!.submit(id, event as SignallingEvent, url, true)
      }
      this.#dispatcher!.submit(id, numbered(JSON.parse(field('event')!) as UnnumberedEvent, Number(field('seq'))))
    } catch (err) {
      this.#options.log.warn({ err, id }, 'outbox entry unreadable: dropped')
      void this.#ack(id)
    }
  }

  async #ack (id: string): Promise<void> {
    for (let wait = 100; !this.#closing; wait = Math.min(2 * wait, 5000)) {
      try {
        await this.#redis.multi().xack(this.#keys.stream, GROUP, id).xdel(this.#keys.stream, id).exec()
        return
      } catch {
        await new Promise((resolve) => setTimeout(resolve, wait).unref())
      }
    }
  }

  /** Stops delivering and gives the lease up, so that another node takes over at once. */
  async close (): Promise<void> {
    this.#closing = true
    clearInterval(this.#timer)
    if (this.#leading) {
      this.#unlead()
      await this.#redis.sigEventRelease(this.#keys.lease, this.#options.nodeId).catch(() => {})
    }
    this.#reader?.disconnect()
    await this.#reading
    this.#redis.disconnect()
  }
}
