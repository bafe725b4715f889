// STUN/TURN settings and short-lived TURN credentials (the TURN REST API that coturn implements with `use-auth-secret`).
import { createHmac, timingSafeEqual } from 'node:crypto'
import { isIPv4, isIPv6 } from 'node:net'

export const DEFAULT_TURN_TTL = 3600
export const MIN_TURN_TTL = 60
export const MAX_TURN_TTL = 7 * 24 * 3600

export type IceSetting = 'stunUrls' | 'turnUrls' | 'turnSecret' | 'turnSecretPrevious' | 'turnTtl'

/** Thrown by `parseIceConfig`; `setting` names the option at fault. */
export class IceConfigError extends Error {
  readonly code = 'INVALID_ICE_CONFIG' as const
  readonly setting: IceSetting

  constructor (setting: IceSetting, message: string) {
    super(`Invalid ICE configuration (${setting}): ${message}`)
    this.name = 'IceConfigError'
    this.setting = setting
  }
}

export interface IceConfig {
  stunUrls: string[]
  turnUrls: string[]
  /** Credentials are minted with this one. */
  turnSecret?: string
  /** Still accepted by `verifyTurnCredential` while a rotation is under way; never used to mint. */
  turnSecretPrevious?: string
  /** Lifetime of a minted TURN credential, in seconds. */
  turnTtl: number
}

export interface IceConfigInput {
  stunUrls?: string | string[]
  turnUrls?: string | string[]
  turnSecret?: string
  turnSecretPrevious?: string
  turnTtl?: number | string
}

/** The shape of a WebRTC `RTCIceServer`, as handed to `new RTCPeerConnection({ iceServers })`. */
export interface RTCIceServerLike {
  urls: string | string[]
  username?: string
  credential?: string
}

export interface TurnCredentials {
  /** `<expiresAt>:<peerId>` */
  username: string
  /** base64(HMAC-SHA1(secret, username)) */
  credential: string
  /** Unix time in seconds (not milliseconds) after which the TURN server refuses the credential. */
  expiresAt: number
}

export type TurnCredentialCheck =
  | { ok: true, secret: 'current' | 'previous', peerId: string, expiresAt: number }
  | { ok: false, reason: 'not-configured' | 'malformed' | 'bad-credential' | 'expired' }

/**
 * Normalises and validates the ICE settings once, at start-up.
 * URL lists may be arrays or comma-separated strings (as environment variables are); blanks are dropped.
 */
export function parseIceConfig (input: IceConfigInput = {}): IceConfig {
  const stunUrls = urlList('stunUrls', input.stunUrls, ['stun', 'stuns'])
  const turnUrls = urlList('turnUrls', input.turnUrls, ['turn', 'turns'])
  const turnSecret = secret('turnSecret', input.turnSecret)
  const turnSecretPrevious = secret('turnSecretPrevious', input.turnSecretPrevious)
  const turnTtl = ttl(input.turnTtl)

  if (turnUrls.length > 0 && turnSecret === undefined) {
    throw new IceConfigError('turnSecret', 'TURN urls are set but no TURN secret is; peers could not authenticate to the relay')
  }
  if (turnSecret !== undefined && turnUrls.length === 0) {
    throw new IceConfigError('turnUrls', 'a TURN secret is set but no TURN urls are; set both or neither')
  }
  if (turnSecretPrevious !== undefined && turnSecret === undefined) {
    throw new IceConfigError('turnSecretPrevious', 'a previous TURN secret needs a current one')
  }

  const config: IceConfig = { stunUrls, turnUrls, turnTtl }
  if (turnSecret !== undefined) config.turnSecret = turnSecret
  if (turnSecretPrevious !== undefined) config.turnSecretPrevious = turnSecretPrevious
  return config
}

/**
 * Mints a TURN REST API credential: username `<expiry unix seconds>:<peerId>`,
 * credential base64(HMAC-SHA1(secret, username)). The expiry is `floor(nowMs / 1000) + ttlSeconds`.
 */
export function turnCredentials (secret: string, peerId: string, ttlSeconds: number, nowMs: number = Date.now()): TurnCredentials {
  if (secret.length === 0) throw new RangeError('TURN secret must not be empty')
  if (peerId.length === 0) throw new RangeError('peerId must not be empty')
  if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds <= 0) throw new RangeError(`ttlSeconds must be a positive integer, got ${ttlSeconds}`)
  if (!Number.isFinite(nowMs)) throw new RangeError(`nowMs must be a finite number, got ${nowMs}`)
  const expiresAt = Math.floor(nowMs / 1000) + ttlSeconds
  const username = `${expiresAt}:${peerId}`
  return { username, credential: sign(secret, username), expiresAt }
}

/**
 * The `iceServers` for one peer: one STUN entry without credentials, one TURN entry with credentials
 * minted for `peerId` with the current secret; an empty array when nothing is configured.
 */
export function iceServersFor (config: IceConfig, peerId: string, nowMs: number = Date.now()): RTCIceServerLike[] {
  const servers: RTCIceServerLike[] = []
  if (config.stunUrls.length > 0) servers.push({ urls: [...config.stunUrls] })
  if (config.turnUrls.length > 0 && config.turnSecret !== undefined) {
    const { username, credential } = turnCredentials(config.turnSecret, peerId, config.turnTtl, nowMs)
    servers.push({ urls: [...config.turnUrls], username, credential })
  }
  return servers
}

/**
 * Checks a credential the way coturn does with `use-auth-secret`. Rotation: mint with the new secret,
 * keep the old one as `turnSecretPrevious` (and as a second `static-auth-secret` on coturn) for at
 * least `turnTtl` seconds, so credentials handed out before the switch stay valid until they expire.
 * A credential is valid up to and including its expiry second, as in coturn.
 */
export function verifyTurnCredential (config: IceConfig, username: string, credential: string, nowMs: number = Date.now()): TurnCredentialCheck {
  if (config.turnSecret === undefined) return { ok: false, reason: 'not-configured' }
  const match = /^(\d{1,15}):(.+)$/s.exec(username)
  if (match === null) return { ok: false, reason: 'malformed' }
  const expiresAt = Number(match[1])
  const peerId = match[2]!

  let secret: 'current' | 'previous' | undefined
  if (sameCredential(sign(config.turnSecret, username), credential)) {
    secret = 'current'
  } else if (config.turnSecretPrevious !== undefined && sameCredential(sign(config.turnSecretPrevious, username), credential)) {
    secret = 'previous'
  }
  if (secret === undefined) return { ok: false, reason: 'bad-credential' }
  if (Math.floor(nowMs / 1000) > expiresAt) return { ok: false, reason: 'expired' }
  return { ok: true, secret, peerId, expiresAt }
}

function sign (secret: string, username: string): string {
  return createHmac('sha1', secret).update(username).digest('base64')
}

function sameCredential (expected: string, given: string): boolean {
  const a = Buffer.from(expected)
  const b = Buffer.from(given)
  return a.length === b.length && timingSafeEqual(a, b)
}

function urlList (setting: 'stunUrls' | 'turnUrls', value: unknown, schemes: readonly string[]): string[] {
  if (value === undefined || value === null) return []
  let items: unknown[]
  if (typeof value === 'string') items = value.split(',')
  else if (Array.isArray(value)) items = value
  else throw new IceConfigError(setting, `expected a comma-separated string or an array of strings, got ${typeof value}`)

  const urls: string[] = []
  for (const item of items) {
    if (typeof item !== 'string') throw new IceConfigError(setting, `expected strings, got ${typeof item}`)
    const trimmed = item.trim()
    if (trimmed === '') continue
    const url = iceUrl(setting, trimmed, schemes)
    if (!urls.includes(url)) urls.push(url)
  }
  return urls
}

// RFC 7064 (stun:, stuns:) and RFC 7065 (turn:, turns:): scheme ":" host [ ":" port ], plus "?transport=udp|tcp" for TURN.
const ICE_URL = /^([A-Za-z]+):(\[[^\]]*\]|[^:?#/@[\]\s]+)(?::(\d{1,5}))?(?:\?(.*))?$/
const HOSTNAME = /^(?=.{1,253}\.?$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/

function iceUrl (setting: 'stunUrls' | 'turnUrls', url: string, schemes: readonly string[]): string {
  const expected = schemes.map((s) => `${s}:`).join(' or ')
  const bad = (why: string) => new IceConfigError(setting, `"${url}" ${why}`)
  const match = ICE_URL.exec(url)
  if (match === null) {
    if (!schemes.some((s) => url.toLowerCase().startsWith(`${s}:`))) throw bad(`must start with ${expected}`)
    throw bad('is not of the form scheme:host[:port]' + (setting === 'turnUrls' ? '[?transport=udp|tcp]' : ''))
  }
  const scheme = match[1]!.toLowerCase()
  const host = match[2]!
  const port = match[3]
  const query = match[4]

  if (!schemes.includes(scheme)) throw bad(`must start with ${expected}`)
  if (host.startsWith('[')) {
    if (!isIPv6(host.slice(1, -1))) throw bad('has an invalid IPv6 address')
  } else if (/^[\d.]+$/.test(host) ? !isIPv4(host) : !HOSTNAME.test(host)) {
    throw bad('has an invalid host')
  }
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) throw bad('has a port outside 1-65535')

  let suffix = ''
  if (query !== undefined) {
    if (setting === 'stunUrls') throw bad('must not have a query; only TURN urls take ?transport=')
    const transport = /^transport=(udp|tcp)$/i.exec(query)
    if (transport === null) throw bad('has an unsupported query; only ?transport=udp or ?transport=tcp is allowed')
    suffix = `?transport=${transport[1]!.toLowerCase()}`
  }
  return `${scheme}:${host}${port === undefined ? '' : `:${port}`}${suffix}`
}

function secret (setting: 'turnSecret' | 'turnSecretPrevious', value: unknown): string | undefined {
  if (value === undefined || value === null || value === '') return undefined
  if (typeof value !== 'string') throw new IceConfigError(setting, `expected a string, got ${typeof value}`)
  if (value.trim() === '') throw new IceConfigError(setting, 'must not be blank')
  return value
}

function ttl (value: unknown): number {
  if (value === undefined || value === null || value === '') return DEFAULT_TURN_TTL
  let seconds: number
  if (typeof value === 'number') {
    seconds = value
  } else if (typeof value === 'string' && /^\s*\d+\s*$/.test(value)) {
    seconds = Number(value)
  } else {
    throw new IceConfigError('turnTtl', `expected a whole number of seconds, got ${JSON.stringify(value)}`)
  }
  if (!Number.isInteger(seconds) || seconds < MIN_TURN_TTL || seconds > MAX_TURN_TTL) {
    throw new IceConfigError('turnTtl', `must be a whole number of seconds from ${MIN_TURN_TTL} to ${MAX_TURN_TTL}, got ${String(value)}`)
  }
  return seconds
}
