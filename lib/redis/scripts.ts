// The Lua scripts of the Redis backplane: each runs atomically, on the keys of one room (and of this node).
//
// Keys (all under `keyPrefix`): `rooms` (set of room ids), `room:<id>` (hash: the room record),
// `room:<id>:peers` (hash: peerId -> {metadata, joinedAt, conn}), `expiry` (sorted set: empty rooms by
// deadline), `nodes` (set of node ids), `node:<id>` (liveness key with a TTL), `node:<id>:peers` (set of
// "room\npeer\nconnection" this node hosts, so that a dead node's peers can be found and reported).
// Channels: `room:<id>`. A node subscribes only to the rooms it has local peers in, so a frame reaches only
// the nodes that host its recipients. Redis pub/sub is at-most-once: a frame published while a node is cut
// off is lost for that node; the sender learns nothing of it unless Redis itself was unreachable. A command that
// times out is reported as failed, but a frozen Redis that wakes up may still run it: the frame may then arrive.
import type { Redis } from 'ioredis'
import type { RestoreOutcome } from '../backplane.js'

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
  sigLeave: (...args: Array<string | number>) => Promise<number>
  sigDelete: (...args: Array<string | number>) => Promise<number>
  sigSweep: (...args: Array<string | number>) => Promise<string[]>
  sigReap: (...args: Array<string | number>) => Promise<string[]>
  sigRestore: (...args: Array<string | number>) => Promise<RestoreOutcome>
  sigDeliver: (...args: Array<string | number>) => Promise<number>
  sigUpdatePeer: (...args: Array<string | number>) => Promise<string | null>
}


/** Defines the scripts as commands of `redis` (ioredis loads each by its SHA, and sends it again when Redis lost it). */
export function defineScripts (redis: Redis): Redis & Scripts {
  const scripts = { sigCreate: [3, CREATE], sigJoin: [4, JOIN], sigLeave: [4, LEAVE], sigDelete: [4, DELETE], sigSweep: [2, SWEEP_EXPIRED], sigReap: [3, REAP], sigRestore: [5, RESTORE], sigDeliver: [1, DELIVER], sigKick: [1, KICK], sigUpdatePeer: [1, UPDATE_PEER] } as const
  for (const [name, [numberOfKeys, lua]] of Object.entries(scripts)) redis.defineCommand(name, { numberOfKeys, lua })
  return redis as Redis & Scripts
}
