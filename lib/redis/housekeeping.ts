// Housekeeping shared by the nodes: dead nodes' peers removed from their rooms, empty rooms past their deadline
// deleted. Each room is handled by one script on its own slot; the node-wide sets by plain commands.
import type { RedisConnection } from './connection.js'
import type { KeyLayout, Scripts } from './scripts.js'

type Call = <T>(operation: () => Promise<T>) => Promise<T>
type Peer = { roomId: string, peerId: string }

/** The nodes found dead (liveness key expired) and the peers removed for each: another node may have beaten us to some. */
export async function reapDeadNodes (redis: RedisConnection & Scripts, keys: KeyLayout, self: string, call: Call): Promise<Array<{ node: string, lost: Peer[] }>> {
  const reaped: Array<{ node: string, lost: Peer[] }> = []
  for (const node of await call(async () => await redis.smembers(keys.nodes()))) {
    if (node === self) continue
    if (await call(async () => await redis.exists(keys.node(node))) === 1) continue
    const members = await call(async () => await redis.smembers(keys.nodePeers(node)))
    // each peer in its own room's script: a node's peers are spread over every slot
    const lost = (await Promise.all(members.map(async (member) => await reap(redis, keys, member, call)))).filter((peer) => peer !== undefined)
    await call(async () => await Promise.all([redis.del(keys.nodePeers(node)), redis.srem(keys.nodes(), node)]))
    if (lost.length > 0) reaped.push({ node, lost })
  }
  return reaped
}

/** Removes a dead node's peer if that connection still holds it; if the node comes back, it learns it was reported gone. */
async function reap (redis: RedisConnection & Scripts, keys: KeyLayout, member: string, call: Call): Promise<Peer | undefined> {
  const [roomId, peerId, connection] = member.split('\n') as [string, string, string]
  const [removed, deadline] = await call(async () => await redis.sigReap(keys.peers(roomId), keys.room(roomId), keys.reaped(roomId, connection), peerId, connection, Date.now()))
  if (deadline > 0) await call(async () => await redis.zadd(keys.expiry(), deadline, roomId))
  return removed === 1 ? { roomId, peerId } : undefined
}

/** The rooms this call deleted (at most 100 due ones per call); only the node whose script deleted a room reports it. */
export async function sweepExpired (redis: RedisConnection & Scripts, keys: KeyLayout, call: Call): Promise<string[]> {
  const due = await call(async () => await redis.zrangebyscore(keys.expiry(), '-inf', Date.now(), 'WITHSCORES', 'LIMIT', 0, 100))
  const deleted: string[] = []
  for (let i = 0; i < due.length; i += 2) {
    const roomId = due[i]!
    const score = due[i + 1]!
    const [outcome, later] = await call(async () => await redis.sigExpire(keys.room(roomId), keys.peers(roomId), Date.now()))
    if (outcome === 'later') {
      await call(async () => await redis.zadd(keys.expiry(), later!, roomId))
      continue
    }
    // unless a newer deadline was written meanwhile
    await call(async () => await redis.sigUnindex(keys.expiry(), roomId, score))
    if (outcome === 'busy') continue
    await call(async () => await redis.srem(keys.rooms(), roomId))
    if (outcome === 'deleted') deleted.push(roomId)
  }
  return deleted
}
