// Settings from the environment, checked once at startup with clear messages.
import { randomBytes } from 'node:crypto'
import { IceConfigError, parseIceConfig, type IceConfig } from './ice-servers.js'
import { MIN_SECRET_BYTES } from './join-token.js'

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
  redis?: { url: string, keyPrefix: string, nodeTtl: number }
  /** How long a dropped peer keeps its place, ms. */
  reconnectGrace: number
  drainTimeout: number
  allowedOrigins?: string[]
  metricsToken?: string
  /** Names of the secrets generated because they were not set (development only). */
  generated: string[]
  env: Record<string, string | undefined>
}

function integer (env: Record<string, string | undefined>, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name]
  if (raw === undefined || raw === '') return fallback
  const value = Number(raw)
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be an integer from ${min} to ${max}, got "${raw}"`)
  }
  return value
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
  const redisUrl = env.REDIS_URL ?? ''
  if (redisUrl !== '' && !/^rediss?:\/\//.test(redisUrl)) throw new ConfigError(`REDIS_URL must start with redis:// or rediss://, got "${redisUrl}"`)
  return {
    reconnectGrace: integer(env, 'RECONNECT_GRACE', 15, 0, 3600) * 1000,
    drainTimeout: integer(env, 'DRAIN_TIMEOUT', 5, 0, 300) * 1000,
    allowedOrigins: env.ALLOWED_ORIGINS === undefined || env.ALLOWED_ORIGINS === '' ? undefined : env.ALLOWED_ORIGINS.split(',').map((o) => o.trim()).filter(Boolean),
    metricsToken: env.METRICS_TOKEN === '' ? undefined : env.METRICS_TOKEN,
    redis: redisUrl === '' ? undefined : { url: redisUrl, keyPrefix: env.REDIS_KEY_PREFIX ?? 'signalling:', nodeTtl: integer(env, 'REDIS_NODE_TTL', 10, 2, 3600) * 1000 },
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
    heartbeatInterval: integer(env, 'HEARTBEAT_INTERVAL', 30, 0, 3600) * 1000,
    generated,
    env
  }
}

const ENV_NAMES = {
  stunUrls: 'STUN_URLS',
  turnUrls: 'TURN_URLS',
  turnSecret: 'TURN_SECRET',
  turnSecretPrevious: 'TURN_SECRET_PREVIOUS',
  turnTtl: 'TURN_TTL'
} as const
