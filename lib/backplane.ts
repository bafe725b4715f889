// What the relay needs from a backplane that joins several server nodes (Redis in lib/redis-backplane.ts).
import type { RoomRecord } from './room-registry.js'
import type { PeerSummary } from './schemas.js'

/** A session handed from one node to another: what the client missed, and where numbering goes on. */
export interface Handoff {
  ok: boolean
  seq: number
  frames: string[]
  metadata: Record<string, unknown>
  joinedAt: string
  /** The session may replace its own metadata (the claim of the token it joined with). */
  canUpdateMetadata?: boolean
}

/**
 * A message from another node about one room. `frame` is the exact text to send to the local peers.
 * `resume-request` also reaches the node that sent it: its echo marks where the hand-off starts.
 */
export type BackplaneEvent =
  | { kind: 'deliver', to: string, frame: string }
  | { kind: 'broadcast', except: string, frame: string }
  | { kind: 'kick', peerId: string }
  | { kind: 'replaced', peerId: string, connection: string }
  | { kind: 'close-room' }
  | { kind: 'resume-request', peerId: string, requestId: string, lastSeq: number }
  | { kind: 'resume-reply', requestId: string, reply: Handoff }

/** A peer this node hosts, as the backplane re-registers it after an outage. */
export interface HostedPeer {
  room: RoomRecord
  peer: PeerSummary
  connection: string
}

/**
 * `present`: nothing was lost. `restored`: put back after Redis lost it (no one was told it left).
 * `rejoined`: put back after another node reported it gone (announce it again). `replaced`: another connection holds it now.
 */
/** What the relay learns when the backplane is back after an outage. */
export interface Reconnection {
  /** Redis lost its data meanwhile (restarted empty, flushed): the other nodes may not have put their peers back yet. */
  storeLost: boolean
}

export type RestoreOutcome = 'present' | 'restored' | 'rejoined' | 'replaced'

export interface Backplane {
  readonly nodeId: string
  /** False while the connection to the other nodes is down. */
  readonly up: boolean
  /** Delivers a frame to a peer of the room hosted by another node; false when the room has no such peer. */
  sendToPeer: (roomId: string, peerId: string, frame: string) => Promise<boolean>
  /** Sends an event to every other node hosting peers of the room. */
  publish: (roomId: string, event: Exclude<BackplaneEvent, { kind: 'deliver' }>) => Promise<void>
  /** Starts (and stops) receiving the events of a room: only rooms with local peers are watched. */
  watch: (roomId: string) => Promise<void>
  unwatch: (roomId: string) => Promise<void>
  onEvent: (listener: (roomId: string, event: BackplaneEvent) => void) => void
  /** Peers of nodes that died without saying goodbye, removed from their rooms by this node. */
  onPeersLost: (listener: (lost: Array<{ roomId: string, peerId: string }>) => void) => void
  /**
   * After an outage of either connection: the node re-registers the peers it still hosts. A listener that rejects
   * makes the backplane try again a little later, until it succeeds.
   */
  onReconnected: (listener: (reconnection: Reconnection) => Promise<void>) => void
  restore: (hosted: HostedPeer) => Promise<RestoreOutcome>
  /** Removes records claiming this node for connections it no longer has; returns the peers removed. */
  forgetOthers: (connections: Set<string>) => Promise<Array<{ roomId: string, peerId: string }>>
}
