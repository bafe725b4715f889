// What the relay is built with, and what every part of it shares.
import type { Backplane } from '../backplane.js'
import type { MessageRate, ResumeOptions } from '../limits.js'
import type { LimitName } from '../metrics.js'
import type { IceServer, LeaveReason } from '../protocol.js'
import type { RoomRegistry } from '../room-registry.js'
import type { PeerSummary } from '../schemas.js'
import type { LocalRooms } from './local-rooms.js'

export interface RelayLogger {
  info: (obj: object, msg: string) => void
  warn: (obj: object, msg: string) => void
  error: (obj: object, msg: string) => void
}

/** Counters the relay reports (lib/metrics.ts implements them). */
export interface RelayMetrics {
  relayed: (type: string) => void
  error: (code: string) => void
  joined: () => void
  resumed: () => void
  closed: (code: number) => void
  refused: (limit: LimitName) => void
}

export interface RelayOptions {
  registry: RoomRegistry
  /** Joins this node to others; without it the relay serves one node. */
  backplane?: Backplane
  /**
   * Interval of the server's WebSocket pings, in ms; a peer that sent nothing over an interval, not even the pong to
   * the previous ping, is dropped. 0 disables.
   */
  heartbeatInterval: number
  /** STUN/TURN servers for a peer, with its own TURN credentials, and how long those stay valid. */
  iceServers?: (peerId: string) => { iceServers: IceServer[], ttl: number }
  /** Signs the token a client presents to resume its session. */
  resumeToken?: (peerId: string, roomId: string, metadata: Record<string, unknown>) => string
  log?: RelayLogger
  metrics?: RelayMetrics
  /** Per-peer token bucket; `false` disables it. */
  messageRate?: Partial<MessageRate> | false
  /** A peer whose socket buffers more than this many bytes unread is closed with 1013 (default 1 MiB). */
  maxBufferedBytes?: number
  resume?: Partial<ResumeOptions>
  /** Seconds of clock difference allowed between the node that issued a token and the one that created its room (default 5). */
  clockSkew?: number
  /** Told of every join and departure on this node (a resume within the grace period is neither). */
  events?: RelayEvents
}

export interface RelayEvents {
  joined: (roomId: string, peer: PeerSummary) => void
  left: (roomId: string, peerId: string, reason: LeaveReason) => void
  /** A peer's metadata was replaced (REST, the decorator, or the peer itself with the token's claim). */
  updated?: (roomId: string, peer: PeerSummary) => void
}

/** How a client connects: fresh, or resuming after the last `seq` it saw (`resumeOnly` with a resume token). */
export interface ConnectAttempt {
  lastSeq?: number
  resumeOnly?: boolean
}

/** What every part of the relay reads: the node's stores, its local rooms, its log and counters. */
export interface RelayContext {
  readonly registry: RoomRegistry
  readonly backplane: Backplane | undefined
  readonly rooms: LocalRooms
  readonly log: RelayLogger
  readonly metrics: RelayMetrics
  readonly resume: ResumeOptions
  /** A new id unique on this node, `<node>.<n>`: connections and hand-off requests. */
  nextId: () => string
}

/** `WebSocket.OPEN`, without importing ws at run time. */
export const OPEN = 1
export const silent: RelayLogger = { info () {}, warn () {}, error () {} }
export const noMetrics: RelayMetrics = { relayed () {}, error () {}, joined () {}, resumed () {}, closed () {}, refused () {} }
