// The lifecycle events: what happened to rooms and peers, as the app's backend receives them in code and by webhook.
import { randomUUID } from 'node:crypto'
import type { LeaveReason } from '../protocol.js'
import type { DeadLetter, PeerSummary, Room } from '../schemas.js'

export type RoomDeletedReason = 'api' | 'empty-timeout'

/** Every event's `data`, by type. */
export interface EventData {
  'room.created': { room: Room }
  /** `room` is there when the node that deleted the room still had its record (a deletion by API). */
  'room.deleted': { room?: Room, reason: RoomDeletedReason }
  'peer.joined': { peer: PeerSummary }
  /** `peer` is as it joined; only `peerId` for a peer this node never hosted (one lost with a dead node). */
  'peer.left': { peer: { peerId: string, metadata?: Record<string, unknown>, joinedAt?: string }, reason: LeaveReason }
  'peer.metadata-updated': { peer: PeerSummary }
}

export type EventType = keyof EventData

export interface SignallingEvent<T extends EventType = EventType> {
  /** `evt_` and 32 hex digits: unique, and the `webhook-id` of every delivery of this event. */
  id: string
  type: T
  /** When it happened (ISO 8601). */
  timestamp: string
  roomId: string
  /** Per room, one more than the room's previous event (from 1; a room created again starts again). */
  seq: number
  data: EventData[T]
}

/** An event before the room's sequence gives it its number. */
export type UnnumberedEvent = Omit<SignallingEvent, 'seq'>

export type EventListener<T extends EventType> = (event: SignallingEvent<T>) => void

export function newEvent<T extends EventType> (type: T, roomId: string, data: EventData[T]): UnnumberedEvent {
  return { id: `evt_${randomUUID().replaceAll('-', '')}`, type, timestamp: new Date().toISOString(), roomId, data }
}

/** The event in the order of its documented fields, numbered. */
export function numbered (event: UnnumberedEvent, seq: number): SignallingEvent {
  return { id: event.id, type: event.type, timestamp: event.timestamp, roomId: event.roomId, seq, data: event.data }
}

export type DeadLetterReason = DeadLetter['reason']

/**
 * Where events wait for their webhook deliveries: in memory (one node) or a Redis Stream (several). `append`
 * numbers the event in its room and resolves once it is kept; the listeners in process are told after that.
 */
export interface EventOutbox {
  append: (event: UnnumberedEvent) => Promise<SignallingEvent>
  deadLetters: () => Promise<DeadLetter[]>
  /** Queues a dead letter again for its endpoint (fresh attempts, same webhook-id); false when there is no such id. */
  replay: (id: string) => Promise<boolean>
  /** Deliveries waiting on this node (the queue depth in /metrics). */
  readonly depth: number
  close: () => Promise<void>
}
