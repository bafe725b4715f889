// The rooms with peers on this node, and what this node's peers were told of the rooms' peers on other nodes.
//
// Departures, in this relay's words: *forget* = gone from this node, no word to anyone; *detach* = gone from the
// room, announced and recorded; *leave* = detach and close the socket (departures.ts).
import type { Backplane } from '../backplane.js'
import type { ServerMessage } from '../protocol.js'
import type { RoomRecord } from '../room-registry.js'
import type { LocalPeer } from './peer.js'
import type { RelayLogger } from './types.js'

type Presence = Array<{ peerId: string, metadata: Record<string, unknown> }>

/** The peers of one room on this node. `record` is kept so the room can be restored after a backplane outage. */
export interface LocalRoom {
  peers: Map<string, LocalPeer>
  record: RoomRecord | undefined
  /**
   * The room's peers on other nodes as this node's peers were told of them (id -> metadata): after an outage, the
   * difference with the registry is what they missed. Made on its first entry, so a room whose peers are all on
   * this node (every room without a backplane) never has one.
   */
  remote: Map<string, Record<string, unknown>> | undefined
}

/** The room's map of peers on other nodes, made on its first entry. */
export const remoteOf = (room: LocalRoom): Map<string, Record<string, unknown>> => (room.remote ??= new Map())

/** The room's other peers as `welcome` lists them. */
export function othersThan (peerId: string, peers: Presence): Presence {
  const others = []
  for (const p of peers) if (p.peerId !== peerId) others.push({ peerId: p.peerId, metadata: p.metadata })
  return others
}

export class LocalRooms {
  readonly #rooms = new Map<string, LocalRoom>()
  /** Joins under way, by room: the room stays subscribed until they are done. */
  readonly #opening = new Map<string, number>()
  readonly #backplane: Backplane | undefined
  readonly #log: RelayLogger

  constructor (backplane: Backplane | undefined, log: RelayLogger) {
    this.#backplane = backplane
    this.#log = log
  }

  get (roomId: string): LocalRoom | undefined {
    return this.#rooms.get(roomId)
  }

  peer (roomId: string, peerId: string): LocalPeer | undefined {
    return this.#rooms.get(roomId)?.peers.get(peerId)
  }

  /** The room, made empty if this node has none yet. */
  room (roomId: string): LocalRoom {
    let room = this.#rooms.get(roomId)
    if (room === undefined) {
      // every field from the start: a field added later would give rooms a second shape
      room = { peers: new Map(), record: undefined, remote: undefined }
      this.#rooms.set(roomId, room)
    }
    return room
  }

  /** Seats a peer: it is here now, no longer on another node, and the others in `presence` are elsewhere. */
  seat (room: LocalRoom, peer: LocalPeer, presence: Presence): void {
    room.peers.set(peer.peerId, peer)
    room.remote?.delete(peer.peerId)
    for (const { peerId, metadata } of presence) if (!room.peers.has(peerId)) remoteOf(room).set(peerId, metadata)
  }

  /**
   * Keeps `remote` in step with a presence frame another node sent to the local peers. False for a peer-joined of a
   * peer they already know (a node re-registering its peers after a failover): not news, not sent on.
   */
  notePresence (room: LocalRoom, frame: string): boolean {
    const message = JSON.parse(frame) as ServerMessage
    if (message.type === 'peer-joined' && !room.peers.has(message.peer.peerId)) {
      if (room.remote?.has(message.peer.peerId) === true) return false
      remoteOf(room).set(message.peer.peerId, message.peer.metadata)
    } else if (message.type === 'peer-left') room.remote?.delete(message.peerId)
    else if (message.type === 'peer-updated') this.noteMetadata(room, message.peer.peerId, message.peer.metadata)
    return true
  }

  /** A peer's new metadata: its session's, when it is here (for a resume or a hand-off), or as told of a peer elsewhere. */
  noteMetadata (room: LocalRoom, peerId: string, metadata: Record<string, unknown>): void {
    const here = room.peers.get(peerId)
    if (here !== undefined) here.metadata = metadata
    else if (room.remote?.has(peerId) === true) room.remote.set(peerId, metadata)
  }

  /** Marks a join of the room under way; `opened` ends it. */
  opening (roomId: string): void {
    this.#opening.set(roomId, (this.#opening.get(roomId) ?? 0) + 1)
  }

  /** Whatever the outcome of the join, a room left without peers here is let go: a failed join must not keep it subscribed. */
  opened (roomId: string): void {
    const opening = this.#opening.get(roomId)! - 1
    if (opening === 0) this.#opening.delete(roomId)
    else this.#opening.set(roomId, opening)
    const room = this.#rooms.get(roomId)
    if (room !== undefined) this.dropIfEmpty(roomId, room)
    else this.unsubscribeIfUnused(roomId)
  }

  dropIfEmpty (roomId: string, room: LocalRoom): void {
    if (room.peers.size > 0 || this.#rooms.get(roomId) !== room || this.#opening.has(roomId)) return
    this.delete(roomId)
  }

  /** Forgets the room here (its peers must be gone) and stops receiving its events. */
  delete (roomId: string): void {
    this.#rooms.delete(roomId)
    this.unsubscribeIfUnused(roomId)
  }

  /** Stops receiving the room's events, unless it has peers here or a join of it is under way. */
  unsubscribeIfUnused (roomId: string): void {
    if (this.#opening.has(roomId) || this.#rooms.has(roomId)) return
    this.#backplane?.unwatch(roomId).catch((err: unknown) => {
      this.#log.warn({ err, roomId }, 'room not unwatched; undone when the backplane is back')
    })
  }

  /** Number of peers here, connected or in their grace period. */
  get peerCount (): number {
    let count = 0
    for (const room of this.#rooms.values()) count += room.peers.size
    return count
  }

  get size (): number {
    return this.#rooms.size
  }

  values (): IterableIterator<LocalRoom> {
    return this.#rooms.values()
  }

  entries (): IterableIterator<[string, LocalRoom]> {
    return this.#rooms.entries()
  }

  /** Every peer here, in a list that departures during the walk do not change. */
  allPeers (): LocalPeer[] {
    const peers = []
    for (const room of this.#rooms.values()) for (const peer of room.peers.values()) peers.push(peer)
    return peers
  }

  clear (): void {
    this.#rooms.clear()
  }
}
