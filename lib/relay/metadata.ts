// A peer's metadata replaced: in the registry, on its session wherever it is, and announced to the whole room.
import { signallingError } from '../errors.js'
import { keptMetadata, type ServerMessage } from '../protocol.js'
import type { PeerSummary } from '../schemas.js'
import type { Delivery } from './delivery.js'
import type { Departures } from './departures.js'
import type { RelayContext } from './types.js'

export class PeerUpdates {
  readonly #ctx: RelayContext
  readonly #delivery: Delivery
  readonly #departures: Departures

  constructor (ctx: RelayContext, delivery: Delivery, departures: Departures) {
    this.#ctx = ctx
    this.#delivery = delivery
    this.#departures = departures
  }

  /**
   * Replaces the (validated) metadata of a member of the room. Every peer of the room, the member included, gets
   * `peer-updated`; the host's `updated` event fires here, once. Throws ROOM_NOT_FOUND, PEER_NOT_FOUND, and
   * BACKPLANE_UNAVAILABLE when the store cannot be reached or, the update made, the other nodes were not told.
   */
  async update (roomId: string, peerId: string, metadata: Record<string, unknown>): Promise<PeerSummary> {
    const registry = this.#ctx.registry
    const peer = await registry.updatePeer(roomId, peerId, keptMetadata(metadata))
    if (peer === undefined) {
      if (await registry.get(roomId) === undefined) throw signallingError('ROOM_NOT_FOUND', roomId)
      throw signallingError('PEER_NOT_FOUND', peerId)
    }
    const room = this.#ctx.rooms.get(roomId)
    if (room !== undefined) this.#ctx.rooms.noteMetadata(room, peerId, peer.metadata)
    const frame = JSON.stringify({ type: 'peer-updated', peer } satisfies ServerMessage)
    this.#delivery.toLocal(roomId, frame, '')
    this.#departures.tell('updated', roomId, peer)
    // the other nodes keep their sessions' metadata from this frame (LocalRooms.notePresence)
    await this.#ctx.backplane?.publish(roomId, { kind: 'broadcast', except: '', frame }).catch(() => {
      throw signallingError('BACKPLANE_UNAVAILABLE', 'the metadata was replaced, but the peers on other nodes were not told')
    })
    return peer
  }
}
