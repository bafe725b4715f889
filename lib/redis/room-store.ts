// The room registry on Redis: rooms, their peers and kicks. Each change is one script on one room's keys (one
// slot on a cluster); the node-wide indexes (`rooms`, `expiry`, `node:N:peers`) are written by separate commands,
// in an order that leaves at worst a stale entry, which the sweep and the reaper check against the room and drop.
import type { HostedPeer, RestoreOutcome } from '../backplane.js'
import { signallingError } from '../errors.js'
import { DEFAULT_UNJOINED_TIMEOUT, type JoinResult, type RoomRecord } from '../room-registry.js'
import type { PeerSummary, Room } from '../schemas.js'
import type { RedisConnection } from './connection.js'
import { hostedMember, type KeyLayout, type Scripts } from './scripts.js'

type Run = <T>(operation: (redis: RedisConnection & Scripts) => Promise<T>) => Promise<T>

export class RedisRoomStore {
  readonly #run: Run
  readonly #keys: KeyLayout
  readonly #nodeId: string

  /** `run` sends the commands, and turns a Redis failure into BACKPLANE_UNAVAILABLE. */
  constructor (run: Run, keys: KeyLayout, nodeId: string) {
    this.#run = run
    this.#keys = keys
    this.#nodeId = nodeId
  }

  async create (record: RoomRecord): Promise<Room> {
    return await this.#run(async (redis) => {
      const deadline = Date.now() + 1000 * (record.emptyTimeout === 0 ? DEFAULT_UNJOINED_TIMEOUT : record.emptyTimeout)
      // indexed first: a room never exists unlisted; an index entry without a room is dropped by the sweep
      await redis.sadd(this.#keys.rooms(), record.roomId)
      await redis.zadd(this.#keys.expiry(), 'NX', deadline, record.roomId)
      const created = await redis.sigCreate(this.#keys.room(record.roomId), record.roomId, record.maxPeers, record.emptyTimeout, JSON.stringify(record.metadata), record.createdAt, deadline)
      if (created === 0) throw signallingError('ROOM_EXISTS', record.roomId)
      return { ...record, peerCount: 0 }
    })
  }

  async exists (roomId: string): Promise<boolean> {
    return await this.#run(async (redis) => await redis.exists(this.#keys.room(roomId)) === 1)
  }

  async get (roomId: string): Promise<Room | undefined> {
    return await this.#run(async (redis) => await this.#get(redis, roomId))
  }

  async #get (redis: RedisConnection, roomId: string): Promise<Room | undefined> {
    const [hash, peerCount] = await Promise.all([redis.hgetall(this.#keys.room(roomId)), redis.hlen(this.#keys.peers(roomId))])
    return toRoom(hash, peerCount)
  }

  async list (): Promise<Room[]> {
    return await this.#run(async (redis) => {
      const ids = await redis.smembers(this.#keys.rooms())
      // sent together: on one server they leave in one write, on a cluster each to its room's shard
      const rooms = await Promise.all(ids.map(async (id) => await this.#get(redis, id)))
      return rooms.filter((room) => room !== undefined)
    })
  }

  async peers (roomId: string): Promise<PeerSummary[]> {
    return await this.#run(async (redis) => {
      const all = await redis.hgetall(this.#keys.peers(roomId))
      return Object.entries(all).map(([peerId, json]) => {
        const { metadata, joinedAt } = JSON.parse(json) as PeerSummary
        return { peerId, metadata, joinedAt }
      })
    })
  }

  async hasPeer (roomId: string, peerId: string): Promise<boolean> {
    return await this.#run(async (redis) => await redis.hexists(this.#keys.peers(roomId), peerId) === 1)
  }

  async delete (roomId: string): Promise<boolean> {
    return await this.#run(async (redis) => {
      const existed = await redis.sigDelete(this.#keys.room(roomId), this.#keys.peers(roomId)) === 1
      await Promise.all([redis.srem(this.#keys.rooms(), roomId), redis.zrem(this.#keys.expiry(), roomId)])
      return existed
    })
  }

  async join (roomId: string, peer: PeerSummary, connection: string): Promise<JoinResult> {
    return await this.#run(async (redis) => {
      // recorded first, so that a node dying right after the join still has the peer found by the reaper
      const member = hostedMember(roomId, peer.peerId, connection)
      await redis.sadd(this.#keys.nodePeers(this.#nodeId), member)
      const [outcome, replacedConnection] = await redis.sigJoin(
        this.#keys.room(roomId), this.#keys.peers(roomId),
        peer.peerId, JSON.stringify({ metadata: peer.metadata, joinedAt: peer.joinedAt, conn: connection })
      )
      if (outcome === 'missing' || outcome === 'full') {
        await redis.srem(this.#keys.nodePeers(this.#nodeId), member)
        throw signallingError(outcome === 'missing' ? 'ROOM_NOT_FOUND' : 'ROOM_FULL', roomId)
      }
      if (outcome === 'replaced' && replacedConnection !== undefined) {
        const node = replacedConnection.slice(0, replacedConnection.indexOf('.'))
        await redis.srem(this.#keys.nodePeers(node), hostedMember(roomId, peer.peerId, replacedConnection))
        return { outcome, replacedConnection }
      }
      return { outcome: 'joined' }
    })
  }

  async updatePeer (roomId: string, peerId: string, metadata: Record<string, unknown>): Promise<PeerSummary | undefined> {
    return await this.#run(async (redis) => {
      const joinedAt = await redis.sigUpdatePeer(this.#keys.peers(roomId), peerId, JSON.stringify(metadata))
      return joinedAt === null ? undefined : { peerId, metadata, joinedAt }
    })
  }

  async leave (roomId: string, peerId: string, connection: string): Promise<boolean> {
    return await this.#run(async (redis) => {
      const [removed, deadline] = await redis.sigLeave(this.#keys.peers(roomId), this.#keys.room(roomId), peerId, connection, Date.now())
      if (deadline > 0) await redis.zadd(this.#keys.expiry(), deadline, roomId)
      await redis.srem(this.#keys.nodePeers(this.#nodeId), hostedMember(roomId, peerId, connection))
      return removed === 1
    })
  }

  /** After an outage: puts back a room and a member this node still hosts (sent as is: the backplane retries). */
  async restore (redis: RedisConnection & Scripts, { room, peer, connection }: HostedPeer): Promise<RestoreOutcome> {
    const { roomId } = room
    // indexed first, as for a join: a stale entry is dropped later, a missing one would hide the peer
    await Promise.all([redis.sadd(this.#keys.rooms(), roomId), redis.sadd(this.#keys.nodePeers(this.#nodeId), hostedMember(roomId, peer.peerId, connection))])
    return await redis.sigRestore(
      this.#keys.room(roomId), this.#keys.peers(roomId), this.#keys.reaped(roomId, connection),
      roomId, peer.peerId, JSON.stringify({ metadata: peer.metadata, joinedAt: peer.joinedAt, conn: connection }), connection,
      room.maxPeers, room.emptyTimeout, JSON.stringify(room.metadata), room.createdAt
    )
  }

  async recordKick (roomId: string, peerId: string, at: number): Promise<void> {
    await this.#run(async (redis) => await redis.sigKick(this.#keys.room(roomId), peerId, at))
  }

  async kickedAt (roomId: string, peerId: string): Promise<number | undefined> {
    return await this.#run(async (redis) => {
      const at = await redis.hget(this.#keys.room(roomId), `kicked:${peerId}`)
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
