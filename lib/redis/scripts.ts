// The key layout and the Lua scripts of the Redis backplane. Each script runs atomically on the keys of one room,
// which share the room's hash tag on a Redis Cluster (one slot); node-wide keys are only ever touched by plain commands.
//
// Keys (all under `keyPrefix`; `R` is the room id, `{R}` on a cluster; `N` the node id, `{N}` on a cluster):
// `room:R` (hash: the room record, its `deadline` while empty, `kicked:<peer>`), `room:R:peers` (hash: peerId ->
// {metadata, joinedAt, conn}), `room:R:reaped:<conn>` (a peer reported gone while its node was cut off),
// `rooms` (set of room ids), `expiry` (sorted set: rooms that may be due, by deadline; the room's own `deadline`
// decides), `nodes` (set of node ids), `node:N` (liveness key with a TTL), `node:N:peers` (set of
// "room\npeer\nconnection" this node hosts, so that a dead node's peers can be found and reported), `epoch`.
// Channel: `room:R` (PUBLISH on one server, SPUBLISH on a cluster: only the room's shard carries it). A node
// subscribes only to the rooms it has local peers in. Redis pub/sub is at-most-once: a frame published while a node is
// cut off is lost for that node; the sender learns nothing of it unless Redis itself was unreachable. A command that
// times out is reported as failed, but a frozen Redis that wakes up may still run it: the frame may then arrive.
import type { RestoreOutcome } from '../backplane.js'
import type { RedisConnection } from './connection.js'

/** One function per key, so that every key of a room is built (and hash-tagged) in one place. */
export class KeyLayout {
  readonly prefix: string
  readonly cluster: boolean

  constructor (prefix: string, cluster: boolean) {
    this.prefix = prefix
    this.cluster = cluster
  }

  #tag (id: string): string {
    return this.cluster ? `{${id}}` : id
  }

  room (roomId: string): string { return `${this.prefix}room:${this.#tag(roomId)}` }
  peers (roomId: string): string { return `${this.room(roomId)}:peers` }
  reaped (roomId: string, connection: string): string { return `${this.room(roomId)}:reaped:${connection}` }
  channel (roomId: string): string { return this.room(roomId) }
  rooms (): string { return `${this.prefix}rooms` }
  expiry (): string { return `${this.prefix}expiry` }
  nodes (): string { return `${this.prefix}nodes` }
  epoch (): string { return `${this.prefix}epoch` }
  node (nodeId: string): string { return `${this.prefix}node:${this.#tag(nodeId)}` }
  nodePeers (nodeId: string): string { return `${this.node(nodeId)}:peers` }

  /** The room of a channel this node subscribed to. */
  roomOfChannel (channel: string): string {
    const id = channel.slice(this.prefix.length + 'room:'.length)
    return this.cluster ? id.slice(1, -1) : id
  }
}

/** What `node:N:peers` holds for a peer. */
export function hostedMember (roomId: string, peerId: string, connection: string): string {
  return `${roomId}\n${peerId}\n${connection}`
}

// KEYS room; ARGV roomId, maxPeers, emptyTimeout, metadata, createdAt, deadline (the unjoined room's).
const CREATE = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'roomId', ARGV[1], 'maxPeers', ARGV[2], 'emptyTimeout', ARGV[3], 'metadata', ARGV[4], 'createdAt', ARGV[5], 'deadline', ARGV[6])
return 1`

// KEYS room, peers; ARGV peerId, peer json.
const JOIN = `
if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing'} end
local previous = redis.call('HGET', KEYS[2], ARGV[1])
if not previous and redis.call('HLEN', KEYS[2]) >= tonumber(redis.call('HGET', KEYS[1], 'maxPeers')) then return {'full'} end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('HDEL', KEYS[1], 'deadline')
if previous then return {'replaced', cjson.decode(previous).conn} end
return {'joined'}`

// Removes the member only if the same connection still holds it (KEYS peers, room, and for a dead node's peer the
// reaped marker); an empty room gets its deadline, returned so that the caller indexes it. Returns {removed, deadline}.
const LEAVE = `
local current = redis.call('HGET', KEYS[1], ARGV[1])
if not current or cjson.decode(current).conn ~= ARGV[2] then return {0, 0} end
redis.call('HDEL', KEYS[1], ARGV[1])
if KEYS[3] then redis.call('SET', KEYS[3], '1', 'PX', 3600000) end
if redis.call('HLEN', KEYS[1]) == 0 and redis.call('EXISTS', KEYS[2]) == 1 then
  local deadline = tonumber(ARGV[3]) + 1000 * tonumber(redis.call('HGET', KEYS[2], 'emptyTimeout'))
  redis.call('HSET', KEYS[2], 'deadline', deadline)
  return {1, deadline}
end
return {1, 0}`

// KEYS room, peers.
const DELETE = `
local existed = redis.call('DEL', KEYS[1])
redis.call('DEL', KEYS[2])
return existed`

// A room listed as due (KEYS room, peers; ARGV now): deleted if still empty and past its own deadline.
const EXPIRE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return {'gone'} end
if redis.call('HLEN', KEYS[2]) > 0 then return {'busy'} end
local deadline = redis.call('HGET', KEYS[1], 'deadline')
if not deadline then return {'busy'} end
if tonumber(deadline) > tonumber(ARGV[1]) then return {'later', deadline} end
redis.call('DEL', KEYS[1], KEYS[2])
return {'deleted'}`

// Takes a room off the expiry index unless a newer deadline was written meanwhile (KEYS expiry; ARGV roomId, score).
const UNINDEX = `
if redis.call('ZSCORE', KEYS[1], ARGV[1]) == ARGV[2] then redis.call('ZREM', KEYS[1], ARGV[1]) end
return 1`

// After an outage (or a Redis restart that lost everything): put back a room and a member this node still hosts.
// KEYS room, peers, reaped; ARGV roomId, peerId, peer json, connection, maxPeers, emptyTimeout, metadata, createdAt.
const RESTORE = `
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'roomId', ARGV[1], 'maxPeers', ARGV[5], 'emptyTimeout', ARGV[6], 'metadata', ARGV[7], 'createdAt', ARGV[8])
end
local current = redis.call('HGET', KEYS[2], ARGV[2])
if current then
  if cjson.decode(current).conn == ARGV[4] then return 'present' end
  return 'replaced'
end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('HDEL', KEYS[1], 'deadline')
if redis.call('DEL', KEYS[3]) == 1 then return 'rejoined' end
return 'restored'`

// Kicks live in the room's own hash (field `kicked:<peerId>`), so they go with the room; never recreate a deleted room.
const KICK = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'kicked:' .. ARGV[1], ARGV[2])
return 1`

// Checks membership and publishes in one step, on the one ordered connection: per-sender order holds.
// KEYS peers, channel (same slot); ARGV peerId, message, PUBLISH or SPUBLISH.
const DELIVER = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call(ARGV[3], KEYS[2], ARGV[2])
return 1`

// Replaces a member's metadata, keeping its joinedAt and connection; the metadata stays the JSON text given
// (a cjson round trip would turn [] into {}). Returns the member's joinedAt, or false when there is no such member.
const UPDATE_PEER = `
local current = redis.call('HGET', KEYS[1], ARGV[1])
if not current then return false end
local member = cjson.decode(current)
redis.call('HSET', KEYS[1], ARGV[1], '{"metadata":' .. ARGV[2] .. ',"joinedAt":' .. cjson.encode(member.joinedAt) .. ',"conn":' .. cjson.encode(member.conn) .. '}')
return member.joinedAt`

export interface Scripts {
  sigCreate: (...args: Array<string | number>) => Promise<number>
  sigKick: (...args: Array<string | number>) => Promise<number>
  sigJoin: (...args: Array<string | number>) => Promise<string[]>
  sigLeave: (...args: Array<string | number>) => Promise<[number, number]>
  sigReap: (...args: Array<string | number>) => Promise<[number, number]>
  sigDelete: (...args: Array<string | number>) => Promise<number>
  sigExpire: (...args: Array<string | number>) => Promise<string[]>
  sigUnindex: (...args: Array<string | number>) => Promise<number>
  sigRestore: (...args: Array<string | number>) => Promise<RestoreOutcome>
  sigDeliver: (...args: Array<string | number>) => Promise<number>
  sigUpdatePeer: (...args: Array<string | number>) => Promise<string | null>
}

/** Defines the scripts as commands of `redis` (ioredis loads each by its SHA, and sends it again when Redis lost it). */
export function defineScripts<C extends RedisConnection> (redis: C): C & Scripts {
  const scripts = {
    sigCreate: [1, CREATE],
    sigJoin: [2, JOIN],
    sigLeave: [2, LEAVE],
    sigReap: [3, LEAVE],
    sigDelete: [2, DELETE],
    sigExpire: [2, EXPIRE],
    sigUnindex: [1, UNINDEX],
    sigRestore: [3, RESTORE],
    sigDeliver: [2, DELIVER],
    sigKick: [1, KICK],
    sigUpdatePeer: [1, UPDATE_PEER]
  } as const
  for (const [name, [numberOfKeys, lua]] of Object.entries(scripts)) redis.defineCommand(name, { numberOfKeys, lua })
  return redis as C & Scripts
}
