// Settings from the environment, checked once at startup with clear messages.
import { randomBytes } from 'node:crypto'
import { isIP } from 'node:net'
import { PEERJS_PATH } from './compat/peerjs.js'
import { Y_WEBRTC_PATH } from './compat/y-webrtc.js'
import type { EventType } from './events/types.js'
import { isEventType, isWebhookSecret, WEBHOOK_DEFAULTS, type WebhookOptions } from './events/webhook-options.js'
import { parseHostPort, type RedisTarget } from './redis/target.js'
import { IceConfigError, parseIceConfig, type IceConfig } from './ice-servers.js'
import { MIN_SECRET_BYTES } from './join-token.js'
import {
  DEFAULT_MAX_BUFFERED_BYTES, DEFAULT_MESSAGE_RATE, DEFAULT_REST_RATE, DEFAULT_RESUME, DEFAULT_ROOM, DEFAULT_UPGRADE_RATE, RANGES,
  type MessageRate, type Range, type RequestRate, type ResumeOptions, type RoomDefaults
} from './limits.js'

export class ConfigError extends Error {
  readonly code = 'INVALID_CONFIG'
}

/**
 * The standalone server's listen backlog. Node's default, 511, lets a burst of connections arriving while the event
 * loop is busy (a reconnect storm after a restart or a network blip) overflow the kernel's accept queue: the dropped
 * connections retry after a second, then three, then seven. The kernel caps it at `net.core.somaxconn`.
 */
export const DEFAULT_LISTEN_BACKLOG = 4096

export interface ServerConfig {
  port: number
  host: string
  /** Connections the kernel may hold, handshake done, before the server accepts them. */
  listenBacklog: number
  logLevel: string
  production: boolean
  tls?: { certFile: string, keyFile: string }
  apiKey: string
  jwtSecret: string
  heartbeatInterval: number
  ice: IceConfig
  /** The demo page and its open token route: on in development, off in production unless DEMO=true. */
  demo: boolean
  /** One of `url`, `cluster` or `sentinel` (lib/redis/connection.ts). */
  redis?: RedisTarget & { keyPrefix: string, nodeTtl: number }
  /** Fastify's `trustProxy`: which proxies' X-Forwarded-For to believe; undefined trusts none. */
  trustProxy?: true | number | string[]
  messageRate: MessageRate | false
  requestRate: { rest: RequestRate | false, upgrades: RequestRate | false, authenticated: RequestRate | false }
  maxBufferedBytes: number
  roomDefaults: RoomDefaults
  /** Resuming after a drop, in ms where the plugin's option is in ms. */
  resume: ResumeOptions
  drainTimeout: number
  allowedOrigins?: string[]
  metricsToken?: string
  /** The PeerJS endpoint, when PEERJS_MODE is `open` or `token`. */
  peerjs?: { mode: 'open' | 'token', path: string, key: string, rooms: 'create' | 'existing', discovery: boolean }
  /** The y-webrtc endpoint, when Y_WEBRTC_MODE is `open` or `token`. */
  yWebrtc?: { mode: 'open' | 'token', path: string, rooms: 'create' | 'existing' }
  /** Signed POSTs of the lifecycle events, when WEBHOOK_URLS is set (times in ms, as the plugin's option). */
  webhooks?: WebhookOptions
  /** Names of the secrets generated because they were not set (development only). */
  generated: string[]
  env: Record<string, string | undefined>
}

function oneOf<T extends string> (env: Record<string, string | undefined>, name: string, fallback: T, values: readonly T[]): T {
  const raw = env[name]
  if (raw === undefined || raw === '') return fallback
  if (!(values as readonly string[]).includes(raw)) throw new ConfigError(`${name} must be ${values.join(', ').replace(/, ([^,]*)$/, ' or $1')}, got "${raw}"`)
  return raw as T
}

/** PEERJS_*: the PeerJS endpoint, off unless PEERJS_MODE is set. */
function peerjs (env: Record<string, string | undefined>): ServerConfig['peerjs'] {
  const mode = oneOf(env, 'PEERJS_MODE', 'off', ['off', 'open', 'token'] as const)
  const path = env.PEERJS_PATH === undefined || env.PEERJS_PATH === '' ? '/peerjs' : env.PEERJS_PATH
  if (!PEERJS_PATH.test(path)) throw new ConfigError(`PEERJS_PATH must be a path such as /peerjs (not /, no trailing slash), got "${path}"`)
  const key = env.PEERJS_KEY === undefined || env.PEERJS_KEY === '' ? 'peerjs' : env.PEERJS_KEY
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(key)) throw new ConfigError(`PEERJS_KEY names a room: 1 to 64 of A-Z a-z 0-9 _ -, got "${key}"`)
  const rooms = oneOf(env, 'PEERJS_ROOMS', 'create', ['create', 'existing'] as const)
  const discovery = oneOf(env, 'PEERJS_DISCOVERY', 'false', ['true', 'false'] as const) === 'true'
  return mode === 'off' ? undefined : { mode, path, key, rooms, discovery }
}

/** Y_WEBRTC_*: the y-webrtc endpoint, off unless Y_WEBRTC_MODE is set. */
function yWebrtc (env: Record<string, string | undefined>, peerjsConfig: ServerConfig['peerjs']): ServerConfig['yWebrtc'] {
  const mode = oneOf(env, 'Y_WEBRTC_MODE', 'off', ['off', 'open', 'token'] as const)
  const path = env.Y_WEBRTC_PATH === undefined || env.Y_WEBRTC_PATH === '' ? '/yjs' : env.Y_WEBRTC_PATH
  if (!Y_WEBRTC_PATH.test(path)) throw new ConfigError(`Y_WEBRTC_PATH must be a path such as /yjs (not /, no trailing slash), got "${path}"`)
  const rooms = oneOf(env, 'Y_WEBRTC_ROOMS', 'create', ['create', 'existing'] as const)
  if (mode === 'off') return undefined
  // the other sockets' paths
  if (path === '/ws' || (peerjsConfig !== undefined && path === `${peerjsConfig.path}/peerjs`)) {
    throw new ConfigError(`Y_WEBRTC_PATH must differ from the other WebSocket paths (/ws, PEERJS_PATH/peerjs), got "${path}"`)
  }
  return { mode, path, rooms }
}

/** A list of event types (comma- or `|`-separated), each checked. */
function eventTypes (name: string, raw: string, separator: RegExp): EventType[] {
  const types = raw.split(separator).map((type) => type.trim()).filter(Boolean)
  const bad = types.find((type) => !isEventType(type))
  if (bad !== undefined) throw new ConfigError(`${name} has an unknown event type "${bad}" (room.created, room.deleted, peer.joined, peer.left, peer.metadata-updated)`)
  return types as EventType[]
}

/** WEBHOOK_*: off unless WEBHOOK_URLS is set; `URL|type|type` limits one URL to those event types. */
function webhooks (env: Record<string, string | undefined>): WebhookOptions | undefined {
  const seconds = (name: string, fallback: number, min: number, max: number): number => integer(env, name, fallback / 1000, min, max) * 1000
  const retryFor = seconds('WEBHOOK_RETRY_FOR', WEBHOOK_DEFAULTS.retryFor, 0, 30 * 86400)
  const timeout = seconds('WEBHOOK_TIMEOUT', WEBHOOK_DEFAULTS.timeout, 1, 300)
  const initial = seconds('WEBHOOK_BACKOFF_INITIAL', WEBHOOK_DEFAULTS.backoff.initial, 1, 86400)
  const max = seconds('WEBHOOK_BACKOFF_MAX', Math.max(initial, WEBHOOK_DEFAULTS.backoff.max), 1, 7 * 86400)
  if (max < initial) throw new ConfigError(`WEBHOOK_BACKOFF_MAX must be at least WEBHOOK_BACKOFF_INITIAL (${initial / 1000}), got "${max / 1000}"`)
  const queueSize = integer(env, 'WEBHOOK_QUEUE_SIZE', WEBHOOK_DEFAULTS.queueSize, 1, 10_000_000)
  const defaultEvents = env.WEBHOOK_EVENTS === undefined || env.WEBHOOK_EVENTS.trim() === '' ? undefined : eventTypes('WEBHOOK_EVENTS', env.WEBHOOK_EVENTS, /,/)
  const raw = env.WEBHOOK_URLS ?? ''
  if (raw.trim() === '') return undefined
  const endpoints = raw.split(',').map((entry) => entry.trim()).filter(Boolean).map((entry) => {
    const [url = '', ...filter] = entry.split('|')
    let parsed: URL | undefined
    try { parsed = new URL(url.trim()) } catch {}
    if (parsed === undefined || !['http:', 'https:'].includes(parsed.protocol)) throw new ConfigError(`WEBHOOK_URLS must be comma-separated http(s) URLs, got "${url}"`)
    const events = filter.length > 0 ? eventTypes('WEBHOOK_URLS', filter.join('|'), /\|/) : defaultEvents
    return events === undefined ? { url: url.trim() } : { url: url.trim(), events }
  })
  if (new Set(endpoints.map((e) => e.url)).size !== endpoints.length) throw new ConfigError('WEBHOOK_URLS lists a URL twice')
  const secret = env.WEBHOOK_SECRET ?? ''
  if (secret === '') throw new ConfigError('WEBHOOK_URLS needs WEBHOOK_SECRET (whsec_ and 24 to 64 bytes in base64) to be set')
  if (!isWebhookSecret(secret)) throw new ConfigError('WEBHOOK_SECRET must be whsec_ and 24 to 64 bytes in base64')
  return { endpoints, secret, retryFor, timeout, backoff: { initial, max }, queueSize }
}

function integer (env: Record<string, string | undefined>, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name]
  if (raw === undefined || raw === '') return fallback
  const value = Number(raw)
  if (!/^-?\d+$/.test(raw.trim()) || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be an integer from ${min} to ${max}, got "${raw}"`)
  }
  return value
}

/**
 * A setting of one of the plugin's limits, in the option's range (lib/limits.ts); `scale` turns the setting's unit into
 * the option's (1000: seconds into ms).
 */
function limit (env: Record<string, string | undefined>, name: string, fallback: number, range: Range, scale = 1): number {
  return integer(env, name, fallback / scale, Math.ceil(range.min / scale), Math.floor(range.max / scale)) * scale
}

/** A request rate: `0` turns it off. */
function requestRate (env: Record<string, string | undefined>, name: string, fallback: RequestRate | false, timeWindow: number): RequestRate | false {
  const max = integer(env, name, fallback === false ? 0 : fallback.max, 0, RANGES['requestRate.*.max'].max)
  return max === 0 ? false : { max, timeWindow }
}

/** Named ranges proxy-addr (behind Fastify's trustProxy) knows. */
const PROXY_RANGE_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal'])

function isAddressOrCidr (entry: string): boolean {
  if (PROXY_RANGE_NAMES.has(entry)) return true
  const [address = '', prefix, ...rest] = entry.split('/')
  const version = isIP(address)
  if (version === 0 || rest.length > 0) return false
  if (prefix === undefined) return true
  // a prefix length, or (IPv4) a netmask such as 255.255.255.0
  if (/^\d{1,3}$/.test(prefix)) return Number(prefix) <= (version === 4 ? 32 : 128)
  return version === 4 && isIP(prefix) === 4
}

/** TRUST_PROXY: `true`, a hop count, or addresses and CIDRs, as Fastify's `trustProxy` takes them. */
function trustProxy (raw: string | undefined): ServerConfig['trustProxy'] {
  if (raw === undefined || raw.trim() === '' || raw.trim() === 'false') return undefined
  const value = raw.trim()
  if (value === 'true') return true
  if (/^\d+$/.test(value)) {
    const hops = Number(value)
    if (hops < 1 || hops > 100) throw new ConfigError(`TRUST_PROXY as a hop count must be from 1 to 100, got "${raw}"`)
    return hops
  }
  const entries = value.split(',').map((entry) => entry.trim()).filter(Boolean)
  const bad = entries.find((entry) => !isAddressOrCidr(entry))
  if (bad !== undefined) {
    throw new ConfigError(`TRUST_PROXY must be true, a hop count, or comma-separated addresses/CIDRs, got "${bad}"`)
  }
  return entries
}

export function loadConfig (env: Record<string, string | undefined>): ServerConfig {
  const production = env.NODE_ENV === 'production'
  const generated: string[] = []
  let apiKey = env.SIGNALLING_API_KEY ?? ''
  let jwtSecret = env.SIGNALLING_JWT_SECRET ?? ''
  if (production) {
    const missing = [apiKey === '' && 'SIGNALLING_API_KEY', jwtSecret === '' && 'SIGNALLING_JWT_SECRET'].filter(Boolean)
    if (missing.length > 0) throw new ConfigError(`NODE_ENV=production needs ${missing.join(' and ')} to be set`)
  }
  // a short HMAC key is weak in development too, and the plugin refuses it anyway: say so in the config's words
  if (jwtSecret !== '' && Buffer.byteLength(jwtSecret) < MIN_SECRET_BYTES) {
    throw new ConfigError(`SIGNALLING_JWT_SECRET must be at least ${MIN_SECRET_BYTES} bytes`)
  }
  if (apiKey === '') {
    apiKey = randomBytes(24).toString('base64url')
    generated.push('SIGNALLING_API_KEY')
  }
  if (jwtSecret === '') {
    jwtSecret = randomBytes(32).toString('base64url')
    generated.push('SIGNALLING_JWT_SECRET')
  }
  const certFile = env.TLS_CERT ?? ''
  const keyFile = env.TLS_KEY ?? ''
  if ((certFile === '') !== (keyFile === '')) throw new ConfigError('TLS_CERT and TLS_KEY must be set together')
  let ice: IceConfig
  try {
    ice = parseIceConfig({
      stunUrls: env.STUN_URLS,
      turnUrls: env.TURN_URLS,
      turnSecret: env.TURN_SECRET,
      turnSecretPrevious: env.TURN_SECRET_PREVIOUS,
      turnTtl: env.TURN_TTL
    })
  } catch (err) {
    if (err instanceof IceConfigError) throw new ConfigError(err.message.replace(`(${err.setting})`, `(${ENV_NAMES[err.setting]})`))
    throw err
  }
  if (env.DEMO !== undefined && !['true', 'false', ''].includes(env.DEMO)) throw new ConfigError(`DEMO must be true or false, got "${env.DEMO}"`)
  const redisTarget = redis(env)
  const timeWindow = limit(env, 'RATE_LIMIT_WINDOW', DEFAULT_REST_RATE.timeWindow, RANGES['requestRate.*.timeWindow'], 1000)
  const perSecond = integer(env, 'PEER_MESSAGE_RATE', DEFAULT_MESSAGE_RATE.perSecond, 0, RANGES['messageRate.perSecond'].max)
  const peerjsConfig = peerjs(env)
  const messageRate = {
    perSecond,
    burst: limit(env, 'PEER_MESSAGE_BURST', DEFAULT_MESSAGE_RATE.burst, RANGES['messageRate.burst']),
    abuseSeconds: limit(env, 'PEER_ABUSE_SECONDS', DEFAULT_MESSAGE_RATE.abuseSeconds, RANGES['messageRate.abuseSeconds'])
  }
  return {
    trustProxy: trustProxy(env.TRUST_PROXY),
    messageRate: perSecond === 0 ? false : messageRate,
    requestRate: {
      rest: requestRate(env, 'REST_RATE_LIMIT', DEFAULT_REST_RATE, timeWindow),
      upgrades: requestRate(env, 'UPGRADE_RATE_LIMIT', DEFAULT_UPGRADE_RATE, timeWindow),
      authenticated: requestRate(env, 'API_KEY_RATE_LIMIT', false, timeWindow)
    },
    maxBufferedBytes: limit(env, 'MAX_BUFFERED_BYTES', DEFAULT_MAX_BUFFERED_BYTES, RANGES.maxBufferedBytes),
    roomDefaults: {
      maxPeers: limit(env, 'ROOM_MAX_PEERS', DEFAULT_ROOM.maxPeers, RANGES['roomDefaults.maxPeers']),
      emptyTimeout: limit(env, 'ROOM_EMPTY_TIMEOUT', DEFAULT_ROOM.emptyTimeout, RANGES['roomDefaults.emptyTimeout'])
    },
    resume: {
      grace: limit(env, 'RECONNECT_GRACE', DEFAULT_RESUME.grace, RANGES['resume.grace'], 1000),
      maxMessages: limit(env, 'RESUME_MAX_MESSAGES', DEFAULT_RESUME.maxMessages, RANGES['resume.maxMessages']),
      maxBytes: limit(env, 'RESUME_MAX_BYTES', DEFAULT_RESUME.maxBytes, RANGES['resume.maxBytes']),
      windowMessages: limit(env, 'RESUME_WINDOW_MESSAGES', DEFAULT_RESUME.windowMessages, RANGES['resume.windowMessages']),
      windowBytes: limit(env, 'RESUME_WINDOW_BYTES', DEFAULT_RESUME.windowBytes, RANGES['resume.windowBytes']),
      handoffTimeout: limit(env, 'RESUME_HANDOFF_TIMEOUT', DEFAULT_RESUME.handoffTimeout, RANGES['resume.handoffTimeout'], 1000)
    },
    drainTimeout: limit(env, 'DRAIN_TIMEOUT', 5000, RANGES.drainTimeout, 1000),
    allowedOrigins: env.ALLOWED_ORIGINS === undefined || env.ALLOWED_ORIGINS === '' ? undefined : env.ALLOWED_ORIGINS.split(',').map((o) => o.trim()).filter(Boolean),
    metricsToken: env.METRICS_TOKEN === '' ? undefined : env.METRICS_TOKEN,
    peerjs: peerjsConfig,
    yWebrtc: yWebrtc(env, peerjsConfig),
    webhooks: webhooks(env),
    redis: redisTarget === undefined ? undefined : { ...redisTarget, keyPrefix: env.REDIS_KEY_PREFIX ?? 'signalling:', nodeTtl: integer(env, 'REDIS_NODE_TTL', 10, 2, 3600) * 1000 },
    demo: env.DEMO === 'true' || (!production && env.DEMO !== 'false'),
    ice,
    port: integer(env, 'PORT', 8086, 0, 65535),
    host: env.HOST ?? '0.0.0.0',
    listenBacklog: integer(env, 'LISTEN_BACKLOG', DEFAULT_LISTEN_BACKLOG, 1, 65535),
    logLevel: env.LOG_LEVEL ?? 'info',
    production,
    tls: certFile === '' ? undefined : { certFile, keyFile },
    apiKey,
    jwtSecret,
    heartbeatInterval: limit(env, 'HEARTBEAT_INTERVAL', 30_000, RANGES.heartbeatInterval, 1000),
    generated,
    env
  }
}

/** REDIS_URL (one server), REDIS_CLUSTER_NODES (a cluster) or REDIS_SENTINELS with REDIS_SENTINEL_NAME: at most one. */
function redis (env: Record<string, string | undefined>): RedisTarget | undefined {
  const url = env.REDIS_URL ?? ''
  const list = (name: string): string[] => {
    const value = env[name] ?? ''
    const entries = value.split(',').map((entry) => entry.trim()).filter(Boolean)
    for (const entry of entries) {
      try {
        parseHostPort(entry, name)
      } catch {
        throw new ConfigError(`${name} must be a comma-separated list of host:port, got "${value}"`)
      }
    }
    return entries
  }
  const nodes = list('REDIS_CLUSTER_NODES')
  const sentinels = list('REDIS_SENTINELS')
  const given = [url !== '' && 'REDIS_URL', nodes.length > 0 && 'REDIS_CLUSTER_NODES', sentinels.length > 0 && 'REDIS_SENTINELS'].filter(Boolean)
  if (given.length > 1) throw new ConfigError(`set only one of REDIS_URL, REDIS_CLUSTER_NODES and REDIS_SENTINELS, got ${given.join(' and ')}`)
  const password = env.REDIS_PASSWORD === undefined || env.REDIS_PASSWORD === '' ? undefined : env.REDIS_PASSWORD
  const name = env.REDIS_SENTINEL_NAME ?? ''
  if (sentinels.length > 0 && name === '') throw new ConfigError('REDIS_SENTINEL_NAME must name the master the sentinels watch (e.g. mymaster)')
  if (sentinels.length === 0 && name !== '') throw new ConfigError('REDIS_SENTINEL_NAME is set but REDIS_SENTINELS is empty')
  if (url !== '' && !/^rediss?:\/\//.test(url)) throw new ConfigError(`REDIS_URL must start with redis:// or rediss://, got "${url}"`)
  if (url !== '') return { url }
  if (nodes.length > 0) return { cluster: { nodes, password } }
  if (sentinels.length > 0) return { sentinel: { sentinels, name, password } }
  return undefined
}

const ENV_NAMES = {
  stunUrls: 'STUN_URLS',
  turnUrls: 'TURN_URLS',
  turnSecret: 'TURN_SECRET',
  turnSecretPrevious: 'TURN_SECRET_PREVIOUS',
  turnTtl: 'TURN_TTL'
} as const
