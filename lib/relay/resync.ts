// After a backplane outage: re-register the peers this node still hosts, drop the records of those it lost, and
// tell the local peers what they missed of the other nodes' peers.
import type { Reconnection } from '../backplane.js'
import { CloseCodes, type ServerMessage } from '../protocol.js'
import type { Delivery } from './delivery.js'
import type { Departures } from './departures.js'
import type { LocalRoom } from './local-rooms.js'
import type { RelayContext } from './types.js'

/** Rejects on failure: the backplane retries. */
export async function resync (ctx: RelayContext, delivery: Delivery, departures: Departures, { storeLost }: Reconnection): Promise<void> {
  const { backplane, rooms } = ctx
  if (backplane === undefined) return
  const connections = new Set<string>()
  for (const [roomId, room] of [...rooms.entries()]) {
    for (const peer of [...room.peers.values()]) {
      connections.add(peer.connection)
      if (room.record === undefined) continue
      const outcome = await backplane.restore({ room: room.record, peer: { peerId: peer.peerId, metadata: peer.metadata, joinedAt: peer.joinedAt }, connection: peer.connection })
      if (outcome === 'rejoined') {
        // the other nodes reported it gone while this node was cut off (or lost its record in a failover: they drop
        // the repeat); its neighbours here never saw it go
        const frame = JSON.stringify({ type: 'peer-joined', peer: { peerId: peer.peerId, metadata: peer.metadata } } satisfies ServerMessage)
        await backplane.publish(roomId, { kind: 'broadcast', except: peer.peerId, frame })
      } else if (outcome === 'replaced') {
        departures.forget(peer)
        peer.socket?.close(CloseCodes.REPLACED, 'replaced')
      }
    }
    if (rooms.get(roomId) !== room || room.peers.size === 0) {
      rooms.dropIfEmpty(roomId, room)
      continue
    }
    await catchUpPresence(ctx, delivery, roomId, room, storeLost)
  }
  // peers that left during the outage: this node's own peers were told then, the other nodes' were not
  const gone = await backplane.forgetOthers(connections)
  for (const { roomId, peerId } of gone) {
    await backplane.publish(roomId, { kind: 'broadcast', except: peerId, frame: JSON.stringify({ type: 'peer-left', peerId, reason: 'disconnected' }) })
  }
  ctx.log.info({ rooms: rooms.size, peers: connections.size, forgotten: gone.length }, 'resynchronised with the backplane')
}

/** Announces to the local peers of a room the other nodes' peers that came or went while this node was cut off. */
async function catchUpPresence (ctx: RelayContext, delivery: Delivery, roomId: string, room: LocalRoom, storeLost: boolean): Promise<void> {
  const registered = await ctx.registry.peers(roomId)
  if (ctx.rooms.get(roomId) !== room) return
  const now = new Map<string, Record<string, unknown>>()
  for (const { peerId, metadata } of registered) if (!room.peers.has(peerId)) now.set(peerId, metadata)
  // after Redis lost its data, the other nodes' peers come back as those nodes re-register them: absence proves nothing
  if (!storeLost) {
    for (const peerId of room.remote?.keys() ?? []) {
      if (!now.has(peerId)) delivery.toLocal(roomId, JSON.stringify({ type: 'peer-left', peerId, reason: 'disconnected' } satisfies ServerMessage), '')
    }
  }
  for (const [peerId, metadata] of now) {
    if (room.remote?.has(peerId) !== true) delivery.toLocal(roomId, JSON.stringify({ type: 'peer-joined', peer: { peerId, metadata } } satisfies ServerMessage), '')
  }
  if (storeLost && room.remote !== undefined) for (const [peerId, metadata] of room.remote) if (!now.has(peerId)) now.set(peerId, metadata)
  room.remote = now
}
