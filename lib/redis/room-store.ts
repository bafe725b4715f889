// The room registry on Redis: rooms, their peers and kicks, each change one script on one room's keys.
import type { Redis } from 'ioredis'
import { signallingError } from '../errors.js'
import { DEFAULT_UNJOINED_TIMEOUT, type JoinResult, type RoomRecord } from '../room-registry.js'
import type { PeerSummary, Room } from '../schemas.js'
import type { Scripts } from './scripts.js'

type Run = <T>(operation: (redis: Redis & Scripts) => Promise<T>) => Promise<T>

export class RedisRoomStore {
  readonly #run: Run
  readonly #prefix: string
  readonly #nodeId: string

  /** `run` sends the commands, and turns a Redis failure into BACKPLANE_UNAVAILABLE. */
  constructor (run: Run, prefix: string, nodeId: string) {
    this.#run = run
    this.#prefix = prefix
    this.#nodeId = nodeId
  }

  #key (...parts: string[]): string {
    return this.#prefix + parts.join(':')
  }

  async create (record: RoomRecord): Promise<Room> {
    return await this.#run(async (redis) => {
      const created = await redis.sigCreate(
        this.#key('room', record.roomId), this.#key('rooms'), this.#key('expiry'),
        record.roomId, record.maxPeers, record.emptyTimeout, JSON.stringify(record.metadata), record.createdAt,
        Date.now() + 1000 * (record.emptyTimeout === 0 ? DEFAULT_UNJOINED_TIMEOUT : record.emptyTimeout)
      )
      if (created === 0) throw signallingError('ROOM_EXISTS', record.roomId)
      return { ...record, peerCount: 0 }
    })
  }

  async exists (roomId: string): Promise<boolean> {
    return await this.#run(async (redis) => await redis.exists(this.#key('room', roomId)) === 1)
  }

  async get (roomId: string): Promise<Room | undefined> {
    return await this.#run(async (redis) => {
      const results = await redis.multi().hgetall(this.#key('room', roomId)).hlen(this.#key('room', roomId, 'peers')).exec()
      return toRoom(results?.[0]?.[1] as Record<string, string>, results?.[1]?.[1] as number)
    })
  }

  async list (): Promise<Room[]> {
    return await this.#run(async (redis) => {
      const ids = await redis.smembers(this.#key('rooms'))
      if (ids.length === 0) return []
      const pipeline = redis.pipeline()
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
    return await this.#run(async (redis) => {
      const all = await redis.hgetall(this.#key('room', roomId, 'peers'))
      return Object.entries(all).map(([peerId, json]) => {
        const { metadata, joinedAt } = JSON.parse(json) as PeerSummary
        return { peerId, metadata, joinedAt }
      })
    })
  }

  async hasPeer (roomId: string, peerId: string): Promise<boolean> {
    return await this.#run(async (redis) => {
      return await redis.hexists(this.#key('room', roomId, 'peers'), peerId) === 1
    })
  }

  async delete (roomId: string): Promise<boolean> {
    return await this.#run(async (redis) => {
      return await redis.sigDelete(this.#key('room', roomId), this.#key('room', roomId, 'peers'), this.#key('rooms'), this.#key('expiry'), roomId) === 1
    })
  }

  async join (roomId: string, peer: PeerSummary, connection: string): Promise<JoinResult> {
    return await this.#run(async (redis) => {
      const [outcome, replacedConnection] = await redis.sigJoin(
        this.#key('room', roomId), this.#key('room', roomId, 'peers'), this.#key('expiry'), this.#key('node', this.#nodeId, 'peers'),
        peer.peerId, JSON.stringify({ metadata: peer.metadata, joinedAt: peer.joinedAt, conn: connection }), roomId, connection, this.#prefix
      )
      if (outcome === 'missing') throw signallingError('ROOM_NOT_FOUND', roomId)
      if (outcome === 'full') throw signallingError('ROOM_FULL', roomId)
      return outcome === 'replaced' ? { outcome, replacedConnection } : { outcome: 'joined' }
    })
  }

  async updatePeer (roomId: string, peerId: string, metadata: Record<string, unknown>): Promise<PeerSummary | undefined> {
    return await this.#run(async (redis) => {
      const joinedAt = await redis.sigUpdatePeer(this.#key('room', roomId, 'peers'), peerId, JSON.stringify(metadata))
      return joinedAt === null ? undefined : { peerId, metadata, joinedAt }
    })
  }

  async leave (roomId: string, peerId: string, connection: string): Promise<boolean> {
    return await this.#run(async (redis) => {
      return await redis.sigLeave(
        this.#key('room', roomId, 'peers'), this.#key('expiry'), this.#key('room', roomId), this.#key('node', this.#nodeId, 'peers'),
        peerId, connection, roomId, Date.now()
      ) === 1
    })
  }

  async recordKick (roomId: string, peerId: string, at: number): Promise<void> {
    await this.#run(async (redis) => await redis.sigKick(this.#key('room', roomId), peerId, at))
  }

  async kickedAt (roomId: string, peerId: string): Promise<number | undefined> {
    return await this.#run(async (redis) => {
      const at = await redis.hget(this.#key('room', roomId), `kicked:${peerId}`)
      return at === null ? undefined : Number(at)
    })
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
