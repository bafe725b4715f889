// Where rooms and their members live. The in-memory registry is the default; other stores implement the same interface.
import { DeadlineQueue } from './deadline-queue.js'
import { signallingError } from './errors.js'
import type { PeerSummary, Room } from './schemas.js'

export interface RoomRecord {
  roomId: string
  maxPeers: number
  emptyTimeout: number
  metadata: Record<string, unknown>
  createdAt: string
}

export interface JoinResult {
  outcome: 'joined' | 'replaced'
  /** The connection that held this peerId before, when it was replaced. */
  replacedConnection?: string
}

export interface RoomRegistry {
  /** Creates the room; throws ROOM_EXISTS. */
  create (room: RoomRecord): Promise<Room>
  get (roomId: string): Promise<Room | undefined>
  /**
   * Optional: whether the room exists, answered at once when the store can (the in-memory one can). Token issuance
   * uses it rather than `get`, which builds the room's record and waits a microtask.
   */
  exists? (roomId: string): boolean | Promise<boolean>
  list (): Promise<Room[]>
  peers (roomId: string): Promise<PeerSummary[]>
  hasPeer (roomId: string, peerId: string): Promise<boolean>
  /** Deletes the room and its membership; false when it did not exist. */
  delete (roomId: string): Promise<boolean>
  /** Adds (or replaces) a member held by `connection`; throws ROOM_NOT_FOUND or ROOM_FULL. */
  join (roomId: string, peer: PeerSummary, connection: string): Promise<JoinResult>
  /** Replaces a member's metadata; the member as it is now, or undefined when the room has no such member. */
  updatePeer (roomId: string, peerId: string, metadata: Record<string, unknown>): Promise<PeerSummary | undefined>
  /** Removes a member if `connection` still holds it; an empty room starts its expiry countdown. */
  leave (roomId: string, peerId: string, connection: string): Promise<boolean>
  /** Records that `peerId` was kicked at `at` (unix seconds): tokens issued until then no longer admit it. */
  recordKick (roomId: string, peerId: string, at: number): Promise<void>
  /** When `peerId` was last kicked from the room (unix seconds), if ever; kicks go with the room. */
  kickedAt (roomId: string, peerId: string): Promise<number | undefined>
  /** Called after a room was deleted because it stayed empty for its `emptyTimeout`. */
  onExpired (listener: (roomId: string) => void): void
  close (): Promise<void>
}

interface MemoryRoom {
  record: RoomRecord
  /** Made on the first join and dropped when the room empties: most rooms in memory at a time may be empty. */
  peers: Map<string, PeerSummary & { connection: string }> | undefined
  /** The ticket of the room's pending expiry in the registry's queue; 0 when none is pending. */
  expiry: number
  kicks: Map<string, number> | undefined
}

/** A first join's result, one object for all: nobody writes to it. */
const JOINED: JoinResult = Object.freeze({ outcome: 'joined' })

/** Rooms in this process's memory: nothing to install, one node only. */
export class MemoryRoomRegistry implements RoomRegistry {
  readonly #rooms = new Map<string, MemoryRoom>()
  readonly #expiredListeners: Array<(roomId: string) => void> = []
  readonly #expiries = new DeadlineQueue<MemoryRoom>((room, ticket) => { this.#expire(room, ticket) })
  async create (record: RoomRecord): Promise<Room> {
    if (this.#rooms.has(record.roomId)) throw signallingError('ROOM_EXISTS', record.roomId)
    const room: MemoryRoom = { record, peers: undefined, expiry: 0, kicks: undefined }
    this.#rooms.set(record.roomId, room)
    // a room nobody joins yet is not deleted at once even with emptyTimeout 0: that would make its tokens useless
    this.#scheduleExpiry(room, record.emptyTimeout === 0 ? DEFAULT_UNJOINED_TIMEOUT : record.emptyTimeout)
    return toRoom(room)
  }

  exists (roomId: string): boolean {
    return this.#rooms.has(roomId)
  }

  async get (roomId: string): Promise<Room | undefined> {
    const room = this.#rooms.get(roomId)
    return room === undefined ? undefined : toRoom(room)
  }

  async list (): Promise<Room[]> {
    return [...this.#rooms.values()].map(toRoom)
  }

  async peers (roomId: string): Promise<PeerSummary[]> {
    const peers = this.#rooms.get(roomId)?.peers
    const list: PeerSummary[] = []
    if (peers !== undefined) for (const { peerId, metadata, joinedAt } of peers.values()) list.push({ peerId, metadata, joinedAt })
    return list
  }

  async hasPeer (roomId: string, peerId: string): Promise<boolean> {
    return this.#rooms.get(roomId)?.peers?.has(peerId) ?? false
  }

  async delete (roomId: string): Promise<boolean> {
    const room = this.#rooms.get(roomId)
    if (room === undefined) return false
    room.expiry = 0
    this.#rooms.delete(roomId)
    return true
  }

  async join (roomId: string, peer: PeerSummary, connection: string): Promise<JoinResult> {
    const room = this.#rooms.get(roomId)
    if (room === undefined) throw signallingError('ROOM_NOT_FOUND', roomId)
    const previous = room.peers?.get(peer.peerId)
    if (previous === undefined && (room.peers?.size ?? 0) >= room.record.maxPeers) throw signallingError('ROOM_FULL', roomId)
    room.expiry = 0
    room.peers ??= new Map()
    // a literal, not a spread: a spread at a site that sees several shapes gives every result a shape of its own
    room.peers.set(peer.peerId, { peerId: peer.peerId, metadata: peer.metadata, joinedAt: peer.joinedAt, connection })
    return previous === undefined ? JOINED : { outcome: 'replaced', replacedConnection: previous.connection }
  }

  async updatePeer (roomId: string, peerId: string, metadata: Record<string, unknown>): Promise<PeerSummary | undefined> {
    const member = this.#rooms.get(roomId)?.peers?.get(peerId)
    if (member === undefined) return undefined
    member.metadata = metadata
    return { peerId, metadata, joinedAt: member.joinedAt }
  }

  async leave (roomId: string, peerId: string, connection: string): Promise<boolean> {
    const room = this.#rooms.get(roomId)
    if (room?.peers?.get(peerId)?.connection !== connection) return false
    room.peers.delete(peerId)
    if (room.peers.size === 0) {
      room.peers = undefined
      this.#scheduleExpiry(room, room.record.emptyTimeout)
    }
    return true
  }

  async recordKick (roomId: string, peerId: string, at: number): Promise<void> {
    const room = this.#rooms.get(roomId)
    if (room === undefined) return
    room.kicks ??= new Map()
    room.kicks.set(peerId, at)
  }

  async kickedAt (roomId: string, peerId: string): Promise<number | undefined> {
    return this.#rooms.get(roomId)?.kicks?.get(peerId)
  }

  onExpired (listener: (roomId: string) => void): void {
    this.#expiredListeners.push(listener)
  }

  async close (): Promise<void> {
    this.#expiries.clear()
    this.#rooms.clear()
  }

  #scheduleExpiry (room: MemoryRoom, seconds: number): void {
    room.expiry = this.#expiries.schedule(room, seconds * 1000)
  }

  /** A room's expiry came due: an older ticket (the room was joined, deleted or emptied again since) is ignored. */
  #expire (room: MemoryRoom, ticket: number): void {
    if (room.expiry !== ticket || this.#rooms.get(room.record.roomId) !== room) return
    room.expiry = 0
    this.#rooms.delete(room.record.roomId)
    for (const listener of this.#expiredListeners) listener(room.record.roomId)
  }
}

/** How long a room created with `emptyTimeout: 0` waits for its first peer. */
export const DEFAULT_UNJOINED_TIMEOUT = 300

function toRoom (room: MemoryRoom): Room {
  const { roomId, maxPeers, emptyTimeout, metadata, createdAt } = room.record
  return { roomId, maxPeers, emptyTimeout, metadata, createdAt, peerCount: room.peers?.size ?? 0 }
}
