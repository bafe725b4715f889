// The server's Prometheus metrics: counters the relay bumps on its hot path, gauges read at scrape time,
// event-loop delay and process basics, rendered in the text exposition format 0.0.4.
// Hand-written rather than prom-client: about a dozen series, a synchronous render, and no dependency.
import { monitorEventLoopDelay, performance, type IntervalHistogram } from 'node:perf_hooks'

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'

export type BackplaneState = 'none' | 'up' | 'down'

export interface SignallingMetricsOptions {
  /** Peers connected to this node. */
  peers: () => number
  /** Rooms with at least one peer on this node. */
  rooms: () => number
  /** The backplane's state; `'none'` leaves `signalling_backplane_up` out of the output. */
  backplane: () => BackplaneState
  /** Webhook deliveries waiting on this node, and whether this node is the one delivering; absent without webhooks. */
  webhooks?: () => { depth: number, delivering: boolean }
}

/** Sampling interval of the event-loop delay monitor, in ms. */
export const EVENT_LOOP_RESOLUTION_MS = 20

/**
 * Distinct label values a counter keeps before it counts new ones under `other`: values such as close codes
 * come from clients, and an unbounded label would let one client grow the server's memory and every scrape.
 */
export const MAX_LABEL_VALUES = 64
export const OVERFLOW_LABEL = 'other'

const RELAYED_TYPES = ['offer', 'answer', 'candidate', 'bye', 'message']

/** Limits that refuse clients, as `signalling_limit_refusals_total{limit}` and `GET /ready` name them. */
export const LIMIT_NAMES = [
  'rest', 'upgrade', 'api_key', 'message_rate', 'message_abuse', 'slow_consumer', 'frame_size', 'room_full'
] as const
export type LimitName = typeof LIMIT_NAMES[number]

/** A count over the last minute, kept per second in a ring of 60. */
class LastMinute {
  readonly #counts = new Array<number>(60).fill(0)
  readonly #seconds = new Array<number>(60).fill(-Infinity)

  add (second: number): void {
    const slot = second % 60
    if (this.#seconds[slot] !== second) {
      this.#seconds[slot] = second
      this.#counts[slot] = 0
    }
    this.#counts[slot]!++
  }

  total (second: number): number {
    let sum = 0
    for (let slot = 0; slot < 60; slot++) if (second - this.#seconds[slot]! < 60) sum += this.#counts[slot]!
    return sum
  }
}

/** Whole seconds on a monotonic clock: a step of the wall clock neither empties nor fills the minute. */
const monotonicSecond = (): number => Math.floor(performance.now() / 1000)
const UPGRADE_REJECTIONS = ['unauthorized', 'room_not_found', 'room_full', 'origin', 'rate_limited', 'draining', 'backplane']

/** A counter's value for one label value; the relay bumps it in place, so an increment allocates nothing. */
interface Child { value: number }

class LabelledCounter<K extends string | number> {
  readonly #children = new Map<K | typeof OVERFLOW_LABEL, Child>()

  constructor (readonly name: string, readonly help: string, readonly label: string, preset: readonly K[] = []) {
    // known values start at 0, so rate() and absent-series alerts work before the first event
    for (const value of preset) this.#children.set(value, { value: 0 })
  }

  inc (value: K): void {
    const child = this.#children.get(value)
    if (child !== undefined) child.value++
    else this.#add(value).value++
  }

  #add (value: K): Child {
    const key = this.#children.size < MAX_LABEL_VALUES ? value : OVERFLOW_LABEL
    let child = this.#children.get(key)
    if (child === undefined) {
      child = { value: 0 }
      this.#children.set(key, child)
    }
    return child
  }

  render (out: string[]): void {
    header(out, this.name, this.help, 'counter')
    for (const [value, child] of this.#children) out.push(`${this.name}{${this.label}="${escapeLabelValue(String(value))}"} ${child.value}`)
  }
}

class Counter {
  value = 0
  constructor (readonly name: string, readonly help: string) {}

  render (out: string[]): void {
    header(out, this.name, this.help, 'counter')
    out.push(`${this.name} ${this.value}`)
  }
}

export class SignallingMetrics {
  readonly #options: SignallingMetricsOptions
  readonly #relayed = new LabelledCounter('signalling_messages_relayed_total', 'Client messages relayed, by type.', 'type', RELAYED_TYPES)
  readonly #errors = new LabelledCounter<string>('signalling_errors_total', 'Errors answered to peers, by code.', 'code')
  readonly #rejected = new LabelledCounter('signalling_upgrades_rejected_total',
    'WebSocket upgrades refused before the socket opened, by reason.', 'reason', UPGRADE_REJECTIONS)

  readonly #refusals = new LabelledCounter<LimitName>('signalling_limit_refusals_total',
    'Requests, upgrades, messages and peers refused by a limit, by limit.', 'limit', LIMIT_NAMES)

  readonly #refusedRecently = new Map<LimitName, LastMinute>(LIMIT_NAMES.map((name) => [name, new LastMinute()]))
  readonly #closes = new LabelledCounter<number>('signalling_socket_closes_total', 'Peer sockets closed, by close code.', 'code')
  readonly #joins = new Counter('signalling_joins_total', 'Peers that joined a room on this node (resumes excluded).')
  readonly #resumes = new Counter('signalling_resumes_total', 'Peers that resumed their place after a dropped connection.')
  readonly #webhooksDelivered = new Counter('signalling_webhook_deliveries_total', 'Webhook deliveries answered 2xx.')
  readonly #webhookFailures = new Counter('signalling_webhook_failed_attempts_total', 'Webhook attempts that failed (non-2xx, timeout, network) and are retried.')
  readonly #deadLettered = new LabelledCounter('signalling_webhook_dead_letters_total',
    'Webhook deliveries moved to the dead-letter list, by reason (queue-full: dropped from a full in-memory queue).', 'reason', ['retries-exhausted', 'gone', 'queue-full'])

  readonly #eventsDropped = new Counter('signalling_events_dropped_total', 'Events lost because the outbox could not keep them within the retry period.')
  readonly #loop: IntervalHistogram
  /** Summed over every scrape window, so `_sum` and `_count` only grow while the quantiles cover one window. */
  #loopSum = 0
  #loopCount = 0

  constructor (options: SignallingMetricsOptions) {
    this.#options = options
    this.#loop = monitorEventLoopDelay({ resolution: EVENT_LOOP_RESOLUTION_MS })
    this.#loop.enable()
  }

  /** One client message relayed. */
  relayed (type: string): void { this.#relayed.inc(type) }
  /** One error answered to a peer. */
  error (code: string): void { this.#errors.inc(code) }
  /** One upgrade refused before the socket opened. */
  rejectedUpgrade (reason: string): void { this.#rejected.inc(reason) }
  /** One client refused by a limit. */
  refused (limit: LimitName): void {
    this.#refusals.inc(limit)
    this.#refusedRecently.get(limit)?.add(monotonicSecond())
  }

  /** Refusals of each limit over the last minute. */
  refusedLastMinute (): Record<LimitName, number> {
    const second = monotonicSecond()
    return Object.fromEntries(LIMIT_NAMES.map((name) => [name, this.#refusedRecently.get(name)!.total(second)])) as Record<LimitName, number>
  }

  resumed (): void { this.#resumes.value++ }
  closed (code: number): void { this.#closes.inc(code) }
  joined (): void { this.#joins.value++ }
  webhookDelivered (): void { this.#webhooksDelivered.value++ }
  webhookFailedAttempt (): void { this.#webhookFailures.value++ }
  webhookDeadLettered (reason: 'retries-exhausted' | 'gone' | 'queue-full'): void { this.#deadLettered.inc(reason) }
  eventDropped (): void { this.#eventsDropped.value++ }

  /** Stops the event-loop monitor; rendering still works, with the delay frozen at its last window. */
  stop (): void { this.#loop.disable() }

  /**
   * The exposition text. The event-loop quantiles cover the time since the previous render, which then starts a
   * new window: with two scrapers, each sees part of the delay (their `_sum`/`_count` rates stay right).
   */
  render (): string {
    const out: string[] = []
    const { peers, rooms, backplane } = this.#options
    gauge(out, 'signalling_connected_peers', 'Peers connected to this node.', peers())
    gauge(out, 'signalling_rooms', 'Rooms with at least one peer on this node.', rooms())
    const state = backplane()
    // without a backplane there is nothing to be up or down: the series is absent rather than a misleading 0 or 1
    if (state !== 'none') gauge(out, 'signalling_backplane_up', 'Whether this node is connected to the Redis backplane (1) or not (0).', state === 'up' ? 1 : 0)
    this.#relayed.render(out)
    this.#errors.render(out)
    this.#rejected.render(out)
    this.#refusals.render(out)
    this.#joins.render(out)
    this.#resumes.render(out)
    this.#closes.render(out)
    const webhooks = this.#options.webhooks?.()
    if (webhooks !== undefined) {
      gauge(out, 'signalling_webhook_queue_depth', 'Webhook deliveries waiting on this node.', webhooks.depth)
      gauge(out, 'signalling_webhook_delivering', 'Whether this node delivers the webhooks (with Redis, one node at a time).', webhooks.delivering ? 1 : 0)
      this.#webhooksDelivered.render(out)
      this.#webhookFailures.render(out)
      this.#deadLettered.render(out)
    }
    this.#eventsDropped.render(out)
    this.#renderEventLoop(out)
    this.#renderProcess(out)
    return out.join('\n') + '\n'
  }

  #renderEventLoop (out: string[]): void {
    const loop = this.#loop
    const name = 'signalling_event_loop_delay_seconds'
    header(out, name, `Event-loop delay past the ${EVENT_LOOP_RESOLUTION_MS} ms sampling interval; quantiles over the time since the previous scrape, quantile 1 is the maximum.`, 'summary')
    // the monitor records the whole interval between its timer's runs, so an idle loop reads 20 ms: keep only the delay
    const base = EVENT_LOOP_RESOLUTION_MS * 1e6
    const seconds = (ns: number): number => loop.count === 0 ? NaN : Math.max(0, ns - base) / 1e9
    out.push(`${name}{quantile="0.5"} ${formatValue(seconds(loop.percentile(50)))}`)
    out.push(`${name}{quantile="0.99"} ${formatValue(seconds(loop.percentile(99)))}`)
    out.push(`${name}{quantile="1"} ${formatValue(seconds(loop.max))}`)
    if (loop.count > 0) {
      this.#loopSum += Math.max(0, loop.mean - base) * loop.count / 1e9
      this.#loopCount += loop.count
    }
    out.push(`${name}_sum ${formatValue(this.#loopSum)}`)
    out.push(`${name}_count ${this.#loopCount}`)
    loop.reset()
  }

  #renderProcess (out: string[]): void {
    const memory = process.memoryUsage()
    const cpu = process.cpuUsage()
    counter(out, 'process_cpu_seconds_total', 'User and system CPU time spent, in seconds.', (cpu.user + cpu.system) / 1e6)
    gauge(out, 'process_resident_memory_bytes', 'Resident memory size, in bytes.', memory.rss)
    gauge(out, 'process_start_time_seconds', 'Start time of the process since the Unix epoch, in seconds.', Math.round(performance.timeOrigin) / 1000)
    gauge(out, 'nodejs_heap_used_bytes', 'V8 heap in use, in bytes.', memory.heapUsed)
    gauge(out, 'nodejs_heap_total_bytes', 'V8 heap allocated, in bytes.', memory.heapTotal)
  }
}

function header (out: string[], name: string, help: string, type: 'counter' | 'gauge' | 'summary'): void {
  out.push(`# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`, `# TYPE ${name} ${type}`)
}

function gauge (out: string[], name: string, help: string, value: number): void {
  header(out, name, help, 'gauge')
  out.push(`${name} ${formatValue(value)}`)
}

function counter (out: string[], name: string, help: string, value: number): void {
  header(out, name, help, 'counter')
  out.push(`${name} ${formatValue(value)}`)
}

/** Label values escape backslash, double quote and line feed (format 0.0.4). */
export function escapeLabelValue (value: string): string {
  return value.replace(/[\\"\n]/g, (c) => c === '\n' ? '\\n' : `\\${c}`)
}

function formatValue (value: number): string {
  if (Number.isNaN(value)) return 'NaN'
  if (value === Infinity) return '+Inf'
  if (value === -Infinity) return '-Inf'
  return String(value)
}
