// Webhook deliveries: signed (Standard Webhooks), retried with backoff and jitter, in order per (endpoint, room).
// An event for a room goes to an endpoint only once the room's previous event there succeeded or was dead-lettered.
import { randomUUID } from 'node:crypto'
import { Webhook } from 'standardwebhooks'
import type { DeadLetter } from '../schemas.js'
import type { ResolvedWebhooks } from './webhook-options.js'
import type { DeadLetterReason, SignallingEvent } from './types.js'

/** Counters of the deliveries (lib/metrics.ts implements them). */
export interface WebhookMetrics {
  delivered: () => void
  failedAttempt: () => void
  deadLettered: (reason: DeadLetterReason) => void
}

export interface DispatcherHooks {
  /** Every delivery of the entry is done (delivered or dead-lettered). */
  settled: (key: string) => void
  /** Keeps a dead letter; a rejection is retried, the delivery staying undone meanwhile. */
  deadLetter: (letter: DeadLetter) => Promise<void>
  metrics: WebhookMetrics
  log: { warn: (obj: object, msg: string) => void }
}

interface Delivery {
  key: string
  event: SignallingEvent
  body: string
  /** Failed attempts so far. */
  attempts: number
  /** Retries stop after `retryFor` from here: the event's time, or the replay's. */
  since: number
  nextAt: number
  inFlight: boolean
  lastError?: string
}

interface Endpoint {
  url: string
  accepts: (event: SignallingEvent) => boolean
  /** Per room, its deliveries in order: only the first is ever attempted. */
  rooms: Map<string, Delivery[]>
  /** Every delivery waiting, oldest first (what a full queue drops). */
  all: Set<Delivery>
  active: number
  timer: NodeJS.Timeout | undefined
  timerAt: number
}

export class WebhookDispatcher {
  readonly #options: ResolvedWebhooks
  readonly #hooks: DispatcherHooks
  readonly #webhook: Webhook
  readonly #endpoints: Endpoint[]
  /** Deliveries not yet done, per entry. */
  readonly #remaining = new Map<string, number>()
  #abort = new AbortController()
  /** In memory, a full endpoint queue drops its oldest delivery to the dead letters; with Redis the reader holds back. */
  readonly #queueSize: number

  constructor (options: ResolvedWebhooks, hooks: DispatcherHooks, queueSize = options.queueSize) {
    this.#options = options
    this.#hooks = hooks
    this.#queueSize = queueSize
    this.#webhook = new Webhook(options.secret)
    this.#endpoints = options.endpoints.map(({ url, events }) => ({
      url,
      accepts: events === undefined ? () => true : (event) => events.has(event.type),
      rooms: new Map(),
      all: new Set(),
      active: 0,
      timer: undefined,
      timerAt: Infinity
    }))
  }

  /** Entries with a delivery still to do. */
  get size (): number {
    return this.#remaining.size
  }

  /** Deliveries waiting, over every endpoint. */
  get depth (): number {
    let depth = 0
    for (const endpoint of this.#endpoints) depth += endpoint.all.size
    return depth
  }

  /** Queues the event for every endpoint that takes it, or for `onlyUrl`; `replay` starts its retry window now. */
  submit (key: string, event: SignallingEvent, onlyUrl?: string, replay = false): void {
    const targets = this.#endpoints.filter((endpoint) => onlyUrl === undefined ? endpoint.accepts(event) : endpoint.url === onlyUrl)
    if (targets.length === 0) return this.#hooks.settled(key)
    this.#remaining.set(key, (this.#remaining.get(key) ?? 0) + targets.length)
    const now = Date.now()
    const since = replay ? now : Math.min(now, Date.parse(event.timestamp) || now)
    const body = JSON.stringify(event)
    for (const endpoint of targets) {
      const delivery: Delivery = { key, event, body, attempts: 0, since, nextAt: now, inFlight: false }
      if (endpoint.all.size >= this.#queueSize) this.#dropOldest(endpoint)
      endpoint.all.add(delivery)
      const queue = endpoint.rooms.get(event.roomId)
      if (queue !== undefined) {
        queue.push(delivery)
        continue
      }
      endpoint.rooms.set(event.roomId, [delivery])
      // the room's first: it may go at once; the others wait for their room's previous one
      if (endpoint.active < this.#options.concurrency) void this.#attempt(endpoint, delivery)
    }
  }

  /** Stops every attempt and forgets what waits (with Redis, it stays in the outbox for the next deliverer). */
  stop (): void {
    this.#abort.abort()
    this.#abort = new AbortController()
    for (const endpoint of this.#endpoints) {
      clearTimeout(endpoint.timer)
      endpoint.timer = undefined
      endpoint.timerAt = Infinity
      endpoint.rooms.clear()
      endpoint.all.clear()
      endpoint.active = 0
    }
    this.#remaining.clear()
  }

  #dropOldest (endpoint: Endpoint): void {
    for (const delivery of endpoint.all) {
      if (delivery.inFlight) continue
      void this.#deadLetter(endpoint, delivery, 'queue-full')
      return
    }
  }

  /** Starts what may start: each room's first delivery when due, up to `concurrency`; wakes up for the next one due. */
  #pump (endpoint: Endpoint): void {
    const now = Date.now()
    let next = Infinity
    for (const queue of endpoint.rooms.values()) {
      const head = queue[0]!
      if (head.inFlight) continue
      if (head.nextAt > now) {
        next = Math.min(next, head.nextAt)
        continue
      }
      if (endpoint.active >= this.#options.concurrency) return
      void this.#attempt(endpoint, head)
    }
    if (next === Infinity || next >= endpoint.timerAt) return
    clearTimeout(endpoint.timer)
    endpoint.timerAt = next
    endpoint.timer = setTimeout(() => {
      endpoint.timer = undefined
      endpoint.timerAt = Infinity
      this.#pump(endpoint)
    }, next - now)
    endpoint.timer.unref()
  }

  async #attempt (endpoint: Endpoint, delivery: Delivery): Promise<void> {
    delivery.inFlight = true
    endpoint.active++
    const signal = this.#abort.signal
    let outcome: 'delivered' | 'gone' | 'failed' = 'failed'
    try {
      const sentAt = new Date()
      const response = await fetch(endpoint.url, {
        method: 'POST',
        body: delivery.body,
        redirect: 'manual',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'fastify-signalling-webhooks',
          'webhook-id': delivery.event.id,
          'webhook-timestamp': String(Math.floor(sentAt.getTime() / 1000)),
          'webhook-signature': this.#webhook.sign(delivery.event.id, sentAt, delivery.body)
        },
        signal: AbortSignal.any([signal, AbortSignal.timeout(this.#options.timeout)])
      })
      await response.body?.cancel().catch(() => {})
      if (response.status >= 200 && response.status < 300) outcome = 'delivered'
      else if (response.status === 410) outcome = 'gone'
      delivery.lastError = `HTTP ${response.status}`
    } catch (err) {
      delivery.lastError = (err as Error).name === 'TimeoutError' ? `timeout after ${this.#options.timeout} ms` : String((err as Error).cause ?? (err as Error).message)
    }
    // stopped meanwhile: what this attempt belonged to is forgotten
    if (signal.aborted) return
    endpoint.active--
    delivery.inFlight = false
    if (outcome === 'delivered') {
      this.#hooks.metrics.delivered()
      this.#done(endpoint, delivery)
    } else if (outcome === 'gone') {
      await this.#deadLetter(endpoint, delivery, 'gone')
    } else {
      this.#hooks.metrics.failedAttempt()
      delivery.attempts++
      const { initial, max } = this.#options.backoff
      const base = Math.min(max, initial * 2 ** Math.min(delivery.attempts - 1, 40))
      // equal jitter: half fixed, half random, so that endpoints coming back are not hit by every room at once
      const delay = base / 2 + Math.random() * base / 2
      const now = Date.now()
      if (now + delay - delivery.since > this.#options.retryFor) await this.#deadLetter(endpoint, delivery, 'retries-exhausted')
      else delivery.nextAt = now + delay
    }
    this.#pump(endpoint)
  }

  async #deadLetter (endpoint: Endpoint, delivery: Delivery, reason: DeadLetterReason): Promise<void> {
    delivery.inFlight = true
    const letter: DeadLetter = {
      id: `dl_${randomUUID().replaceAll('-', '')}`,
      url: endpoint.url,
      reason,
      attempts: delivery.attempts + (reason === 'gone' ? 1 : 0),
      ...(delivery.lastError === undefined ? {} : { lastError: delivery.lastError }),
      deadAt: new Date().toISOString(),
      event: delivery.event
    }
    const signal = this.#abort.signal
    for (let wait = 100; ; wait = Math.min(2 * wait, 5000)) {
      try {
        await this.#hooks.deadLetter(letter)
        break
      } catch (err) {
        this.#hooks.log.warn({ err, url: endpoint.url, eventId: delivery.event.id }, 'dead letter not kept: retrying')
        await new Promise((resolve) => setTimeout(resolve, wait).unref())
        if (signal.aborted) return
      }
    }
    if (signal.aborted) return
    delivery.inFlight = false
    this.#hooks.metrics.deadLettered(reason)
    this.#done(endpoint, delivery)
    this.#pump(endpoint)
  }

  #done (endpoint: Endpoint, delivery: Delivery): void {
    endpoint.all.delete(delivery)
    const queue = endpoint.rooms.get(delivery.event.roomId)
    if (queue !== undefined) {
      const index = queue.indexOf(delivery)
      if (index !== -1) queue.splice(index, 1)
      if (queue.length === 0) endpoint.rooms.delete(delivery.event.roomId)
    }
    const left = (this.#remaining.get(delivery.key) ?? 1) - 1
    if (left > 0) return void this.#remaining.set(delivery.key, left)
    this.#remaining.delete(delivery.key)
    this.#hooks.settled(delivery.key)
  }
}
