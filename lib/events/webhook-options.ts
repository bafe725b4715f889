// The `webhooks` option of the plugin: endpoints, the Standard Webhooks secret, retry and queue bounds, checked once.
import { EVENT_TYPES } from '../schemas.js'
import type { EventType } from './types.js'

export interface WebhookEndpoint {
  url: string
  /** Only these event types go to this endpoint (default: every type). */
  events?: EventType[]
}

export interface WebhookOptions {
  /** Where events are POSTed: URLs, or URLs with a filter by event type. */
  endpoints: Array<string | WebhookEndpoint>
  /** The Standard Webhooks signing secret: `whsec_` and 24 to 64 bytes in base64. */
  secret: string
  /** How long a delivery is retried after its event, in ms (default 24 h); then it goes to the dead-letter list. */
  retryFor?: number
  /** Timeout of one attempt, in ms (default 15000). */
  timeout?: number
  /** Delay before the first retry and the cap of the doubling delays, in ms (default 5000 and 1 h), each with jitter. */
  backoff?: { initial?: number, max?: number }
  /** In memory: deliveries waiting per endpoint at most (default 10000); with Redis: events read from the outbox at a time. */
  queueSize?: number
  /** In memory: dead letters kept at most, the oldest dropped first (default 1000). */
  maxDeadLetters?: number
  /** Rooms delivered to at the same time, per endpoint (default 16); within a room, one at a time. */
  concurrency?: number
}

export interface ResolvedWebhooks {
  endpoints: Array<{ url: string, events: ReadonlySet<EventType> | undefined }>
  secret: string
  retryFor: number
  timeout: number
  backoff: { initial: number, max: number }
  queueSize: number
  maxDeadLetters: number
  concurrency: number
}

export const WEBHOOK_DEFAULTS = {
  retryFor: 24 * 3600_000,
  timeout: 15_000,
  backoff: { initial: 5000, max: 3600_000 },
  queueSize: 10_000,
  maxDeadLetters: 1000,
  concurrency: 16
} as const

/** `whsec_` and base64 of 24 to 64 bytes, as the Standard Webhooks specification has it. */
export function isWebhookSecret (secret: unknown): secret is string {
  if (typeof secret !== 'string' || !secret.startsWith('whsec_')) return false
  const base64 = secret.slice('whsec_'.length)
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64) || base64.length % 4 !== 0) return false
  const bytes = Buffer.from(base64, 'base64').length
  return bytes >= 24 && bytes <= 64
}

export function isEventType (value: unknown): value is EventType {
  return (EVENT_TYPES as readonly unknown[]).includes(value)
}

function bounded (name: string, value: number | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback
  if (!Number.isInteger(value) || value < min || value > max) throw new Error(`signalling: \`webhooks.${name}\` must be an integer from ${min} to ${max}`)
  return value
}

export function resolveWebhooks (options: WebhookOptions): ResolvedWebhooks {
  if (!Array.isArray(options.endpoints) || options.endpoints.length === 0) throw new Error('signalling: `webhooks.endpoints` needs at least one URL')
  if (!isWebhookSecret(options.secret)) throw new Error('signalling: `webhooks.secret` must be `whsec_` and 24 to 64 bytes in base64')
  const endpoints = options.endpoints.map((entry) => {
    const { url, events } = typeof entry === 'string' ? { url: entry, events: undefined } : entry
    let parsed: URL | undefined
    try { parsed = new URL(url) } catch {}
    if (parsed === undefined || !['http:', 'https:'].includes(parsed.protocol)) throw new Error(`signalling: webhook URL must be http(s), got "${url}"`)
    const bad = events?.find((type) => !isEventType(type))
    if (bad !== undefined) throw new Error(`signalling: unknown webhook event type "${bad}" for ${url}`)
    return { url, events: events === undefined ? undefined : new Set(events) }
  })
  if (new Set(endpoints.map((e) => e.url)).size !== endpoints.length) throw new Error('signalling: a webhook URL is listed twice')
  const initial = bounded('backoff.initial', options.backoff?.initial, WEBHOOK_DEFAULTS.backoff.initial, 1, 24 * 3600_000)
  return {
    endpoints,
    secret: options.secret,
    retryFor: bounded('retryFor', options.retryFor, WEBHOOK_DEFAULTS.retryFor, 0, 30 * 24 * 3600_000),
    timeout: bounded('timeout', options.timeout, WEBHOOK_DEFAULTS.timeout, 1, 300_000),
    backoff: { initial, max: bounded('backoff.max', options.backoff?.max, Math.max(initial, WEBHOOK_DEFAULTS.backoff.max), initial, 7 * 24 * 3600_000) },
    queueSize: bounded('queueSize', options.queueSize, WEBHOOK_DEFAULTS.queueSize, 1, 10_000_000),
    maxDeadLetters: bounded('maxDeadLetters', options.maxDeadLetters, WEBHOOK_DEFAULTS.maxDeadLetters, 1, 10_000_000),
    concurrency: bounded('concurrency', options.concurrency, WEBHOOK_DEFAULTS.concurrency, 1, 1024)
  }
}
