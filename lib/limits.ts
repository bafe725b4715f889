// Every limit and default an operator can set, with its range: the plugin's options and the standalone server's
// environment are checked against the same table, so a value one accepts the other accepts too.

export interface MessageRate {
  /** Sustained messages per second (default 50). */
  perSecond: number
  /** Bucket size: how many may come at once, e.g. a trickle-ICE burst (default 200). */
  burst: number
  /** Seconds in a row with more dropped than allowed messages before the socket is closed with 4429 (default 3). */
  abuseSeconds: number
}

export interface RequestRate {
  max: number
  /** Window in ms. */
  timeWindow: number
}

export interface ResumeOptions {
  /** How long a dropped peer keeps its place, in ms (default 15000); 0 disables resuming. */
  grace: number
  /** Bounds of what is kept for a peer in its grace period; past them the resume is refused (default 1000 frames, 1 MiB). */
  maxMessages: number
  maxBytes: number
  /** Frames kept while connected, for those lost in flight when the connection drops (default the last 8, at most 16 KiB). */
  windowMessages: number
  windowBytes: number
  /** How long a node waits for another node to hand a session over (ms, default 2000). */
  handoffTimeout: number
}

export interface RoomDefaults {
  /** `maxPeers` of a room created without one (default 50). */
  maxPeers: number
  /** `emptyTimeout` in seconds of a room created without one (default 300). */
  emptyTimeout: number
}

export const DEFAULT_MESSAGE_RATE: MessageRate = { perSecond: 50, burst: 200, abuseSeconds: 3 }
export const DEFAULT_REST_RATE: RequestRate = { max: 600, timeWindow: 60_000 }
export const DEFAULT_UPGRADE_RATE: RequestRate = { max: 120, timeWindow: 60_000 }
export const DEFAULT_MAX_BUFFERED_BYTES = 1024 * 1024
export const DEFAULT_ROOM: RoomDefaults = { maxPeers: 50, emptyTimeout: 300 }
export const DEFAULT_RESUME: ResumeOptions = {
  grace: 15_000, maxMessages: 1000, maxBytes: 1024 * 1024, windowMessages: 8, windowBytes: 16 * 1024, handoffTimeout: 2000
}

export interface Range { min: number, max: number }

const MiB = 1024 * 1024

/** The integer range of each option, by its path in the plugin's options (ms where the option is in ms). */
export const RANGES = {
  'messageRate.perSecond': { min: 1, max: 1_000_000 },
  'messageRate.burst': { min: 1, max: 1_000_000 },
  'messageRate.abuseSeconds': { min: 1, max: 3600 },
  'requestRate.*.max': { min: 1, max: 10_000_000 },
  'requestRate.*.timeWindow': { min: 1000, max: 86_400_000 },
  // a frame may be 64 KiB: a smaller cap would close a peer for one large frame
  maxBufferedBytes: { min: 64 * 1024, max: 1024 * MiB },
  'roomDefaults.maxPeers': { min: 2, max: 1000 },
  'roomDefaults.emptyTimeout': { min: 0, max: 86_400 },
  'resume.grace': { min: 0, max: 3_600_000 },
  'resume.maxMessages': { min: 1, max: 1_000_000 },
  'resume.maxBytes': { min: 1024, max: 1024 * MiB },
  'resume.windowMessages': { min: 0, max: 10_000 },
  'resume.windowBytes': { min: 0, max: 64 * MiB },
  'resume.handoffTimeout': { min: 100, max: 60_000 },
  heartbeatInterval: { min: 0, max: 3_600_000 },
  drainTimeout: { min: 0, max: 300_000 }
} as const satisfies Record<string, Range>

export class LimitError extends Error {
  readonly code = 'INVALID_OPTION'
}

const inRange = (value: unknown, range: Range): value is number =>
  Number.isInteger(value) && (value as number) >= range.min && (value as number) <= range.max

/** Throws a LimitError naming the option when `value` is set and out of its range. */
export function checkOption (name: string, value: unknown, range: Range): void {
  if (value === undefined || inRange(value, range)) return
  throw new LimitError(`signalling: \`${name}\` must be an integer from ${range.min} to ${range.max}, got ${JSON.stringify(value) ?? String(value)}`)
}

/** The limits of the plugin's options, as given (any may be missing). */
export interface LimitOptions {
  messageRate?: Partial<MessageRate> | false
  requestRate?: { rest?: RequestRate | false, upgrades?: RequestRate | false, authenticated?: RequestRate | false }
  maxBufferedBytes?: number
  roomDefaults?: Partial<RoomDefaults>
  resume?: Partial<ResumeOptions>
  heartbeatInterval?: number
  drainTimeout?: number
}

/** Checks every limit the options set; throws a LimitError naming the first one out of range. */
export function checkLimits (options: LimitOptions): void {
  if (options.messageRate !== false && options.messageRate !== undefined) {
    for (const key of ['perSecond', 'burst', 'abuseSeconds'] as const) {
      checkOption(`messageRate.${key}`, options.messageRate[key], RANGES[`messageRate.${key}`])
    }
  }
  for (const kind of ['rest', 'upgrades', 'authenticated'] as const) {
    const rate = options.requestRate?.[kind]
    if (rate === undefined || rate === false) continue
    checkOption(`requestRate.${kind}.max`, rate.max ?? null, RANGES['requestRate.*.max'])
    checkOption(`requestRate.${kind}.timeWindow`, rate.timeWindow ?? null, RANGES['requestRate.*.timeWindow'])
  }
  checkOption('maxBufferedBytes', options.maxBufferedBytes, RANGES.maxBufferedBytes)
  for (const key of ['maxPeers', 'emptyTimeout'] as const) checkOption(`roomDefaults.${key}`, options.roomDefaults?.[key], RANGES[`roomDefaults.${key}`])
  for (const key of ['grace', 'maxMessages', 'maxBytes', 'windowMessages', 'windowBytes', 'handoffTimeout'] as const) {
    checkOption(`resume.${key}`, options.resume?.[key], RANGES[`resume.${key}`])
  }
  checkOption('heartbeatInterval', options.heartbeatInterval, RANGES.heartbeatInterval)
  checkOption('drainTimeout', options.drainTimeout, RANGES.drainTimeout)
}
