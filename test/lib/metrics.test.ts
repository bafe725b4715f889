import t from 'tap'
import type { Test } from 'tap'
import { MAX_LABEL_VALUES, SignallingMetrics, type BackplaneState } from '../../lib/metrics.js'

interface Sample { name: string, labels: Record<string, string>, value: number }
interface Family { name: string, type: string, help: string, samples: Sample[] }

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*'
const VALUE = '(?:NaN|[+-]Inf|[+-]?(?:\\d+\\.?\\d*|\\.\\d+)(?:[eE][+-]?\\d+)?)'
const HELP_LINE = new RegExp(`^# HELP (${NAME}) ((?:[^\\\\\\n]|\\\\[\\\\n])*)$`)
const TYPE_LINE = new RegExp(`^# TYPE (${NAME}) (counter|gauge|summary|histogram|untyped)$`)
const LABEL = '([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\\\\n]|\\\\["\\\\n])*)"'
const SAMPLE_LINE = new RegExp(`^(${NAME})(?:\\{((?:${LABEL})(?:,${LABEL})*)?\\})? (${VALUE})(?: -?\\d+)?$`)
const SUFFIXES: Record<string, string[]> = { counter: [''], gauge: [''], untyped: [''], summary: ['', '_sum', '_count'], histogram: ['_bucket', '_sum', '_count'] }

const unescape = (value: string): string => value.replace(/\\(["\\n])/g, (_m, c: string) => c === 'n' ? '\n' : c)
const parseValue = (value: string): number => value === '+Inf' ? Infinity : value === '-Inf' ? -Infinity : Number(value)

/** A strict parser of the text format 0.0.4: throws on any line that is not a comment, HELP, TYPE or a sample of a declared family. */
function parseExposition (text: string): Map<string, Family> {
  if (!text.endsWith('\n')) throw new Error('the output must end with a line feed')
  const families = new Map<string, Family>()
  const series = new Set<string>()
  let current: Family | undefined
  for (const line of text.slice(0, -1).split('\n')) {
    const help = HELP_LINE.exec(line)
    const type = TYPE_LINE.exec(line)
    const sample = SAMPLE_LINE.exec(line)
    if (help !== null) {
      if (families.has(help[1]!)) throw new Error(`HELP after the family ${help[1]} started: ${line}`)
      current = { name: help[1]!, type: 'untyped', help: unescape(help[2]!), samples: [] }
      families.set(current.name, current)
    } else if (type !== null) {
      if (current === undefined || current.name !== type[1] || current.samples.length > 0 || current.type !== 'untyped') throw new Error(`misplaced TYPE: ${line}`)
      current.type = type[2]!
    } else if (sample !== null) {
      const name = sample[1]!
      if (current === undefined || !SUFFIXES[current.type]!.some((suffix) => current!.name + suffix === name)) throw new Error(`sample outside its family: ${line}`)
      const labels: Record<string, string> = {}
      for (const [, key, value] of (sample[2] ?? '').matchAll(new RegExp(LABEL, 'g'))) {
        if (Object.hasOwn(labels, key!)) throw new Error(`duplicate label: ${line}`)
        labels[key!] = unescape(value!)
      }
      const id = `${name}${JSON.stringify(labels)}`
      if (series.has(id)) throw new Error(`duplicate series: ${line}`)
      series.add(id)
      current.samples.push({ name, labels, value: parseValue(sample.at(-1)!) })
    } else if (!line.startsWith('#')) {
      throw new Error(`not a valid exposition line: ${JSON.stringify(line)}`)
    }
  }
  return families
}

/** The value of one series, or undefined when absent. */
function valueOf (families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const family of families.values()) {
    for (const sample of family.samples) {
      if (sample.name === name && JSON.stringify(sample.labels) === JSON.stringify(labels)) return sample.value
    }
  }
  return undefined
}

function setup (t: Test, state: { peers?: number, rooms?: number, backplane?: BackplaneState } = {}): { metrics: SignallingMetrics, state: { peers: number, rooms: number, backplane: BackplaneState } } {
  const live = { peers: 0, rooms: 0, backplane: 'none' as BackplaneState, ...state }
  const metrics = new SignallingMetrics({ peers: () => live.peers, rooms: () => live.rooms, backplane: () => live.backplane })
  t.teardown(() => metrics.stop())
  return { metrics, state: live }
}

t.test('counters count each event under its label', async (t) => {
  const { metrics } = setup(t)
  metrics.relayed('offer')
  metrics.relayed('offer')
  metrics.relayed('candidate')
  metrics.error('RATE_LIMITED')
  metrics.rejectedUpgrade('origin')
  metrics.rejectedUpgrade('origin')
  metrics.rejectedUpgrade('draining')
  metrics.resumed()
  metrics.closed(1006)
  metrics.closed(1006)
  metrics.closed(1000)
  for (let i = 0; i < 3; i++) metrics.joined()

  const m = parseExposition(metrics.render())
  t.equal(valueOf(m, 'signalling_messages_relayed_total', { type: 'offer' }), 2)
  t.equal(valueOf(m, 'signalling_messages_relayed_total', { type: 'candidate' }), 1)
  t.equal(valueOf(m, 'signalling_messages_relayed_total', { type: 'answer' }), 0, 'known message types start at 0')
  t.equal(valueOf(m, 'signalling_errors_total', { code: 'RATE_LIMITED' }), 1)
  t.equal(valueOf(m, 'signalling_upgrades_rejected_total', { reason: 'origin' }), 2)
  t.equal(valueOf(m, 'signalling_upgrades_rejected_total', { reason: 'draining' }), 1)
  t.equal(valueOf(m, 'signalling_upgrades_rejected_total', { reason: 'room_full' }), 0, 'known rejection reasons start at 0')
  t.equal(valueOf(m, 'signalling_resumes_total'), 1)
  t.equal(valueOf(m, 'signalling_socket_closes_total', { code: '1006' }), 2)
  t.equal(valueOf(m, 'signalling_socket_closes_total', { code: '1000' }), 1)
  t.equal(valueOf(m, 'signalling_joins_total'), 3)
  for (const [name, type] of [
    ['signalling_messages_relayed_total', 'counter'], ['signalling_errors_total', 'counter'],
    ['signalling_upgrades_rejected_total', 'counter'], ['signalling_resumes_total', 'counter'],
    ['signalling_socket_closes_total', 'counter'], ['signalling_joins_total', 'counter'],
    ['signalling_connected_peers', 'gauge'], ['signalling_rooms', 'gauge'],
    ['signalling_event_loop_delay_seconds', 'summary'], ['process_cpu_seconds_total', 'counter'],
    ['process_resident_memory_bytes', 'gauge'], ['nodejs_heap_used_bytes', 'gauge']
  ]) {
    t.equal(m.get(name!)?.type, type, `${name} is a ${type}`)
    t.ok(m.get(name!)!.help.length > 0, `${name} has a HELP text`)
  }
})

t.test('gauges read their callbacks at each scrape; no backplane means no backplane series', async (t) => {
  const { metrics, state } = setup(t, { peers: 3, rooms: 2 })
  let m = parseExposition(metrics.render())
  t.equal(valueOf(m, 'signalling_connected_peers'), 3)
  t.equal(valueOf(m, 'signalling_rooms'), 2)
  t.notOk(m.has('signalling_backplane_up'), 'absent without a backplane')

  state.peers = 7
  state.rooms = 4
  state.backplane = 'up'
  m = parseExposition(metrics.render())
  t.equal(valueOf(m, 'signalling_connected_peers'), 7)
  t.equal(valueOf(m, 'signalling_rooms'), 4)
  t.equal(valueOf(m, 'signalling_backplane_up'), 1)
  t.equal(m.get('signalling_backplane_up')?.type, 'gauge')

  state.backplane = 'down'
  t.equal(valueOf(parseExposition(metrics.render()), 'signalling_backplane_up'), 0)
})

t.test('label values escape quotes, backslashes and line feeds', async (t) => {
  const { metrics } = setup(t)
  const nasty = 'a"b\\c\nd'
  metrics.error(nasty)
  metrics.relayed('x\\"\n')
  const text = metrics.render()
  t.ok(text.includes('signalling_errors_total{code="a\\"b\\\\c\\nd"} 1'), 'escaped in the raw text')
  const m = parseExposition(text)
  t.equal(valueOf(m, 'signalling_errors_total', { code: nasty }), 1, 'the parser reads back the original value')
  t.equal(valueOf(m, 'signalling_messages_relayed_total', { type: 'x\\"\n' }), 1)
})

t.test('a label keeps at most MAX_LABEL_VALUES values and counts the rest under other', async (t) => {
  const { metrics } = setup(t)
  for (let code = 3000; code < 3200; code++) metrics.closed(code)
  metrics.closed(3000)
  const samples = parseExposition(metrics.render()).get('signalling_socket_closes_total')!.samples
  t.equal(samples.length, MAX_LABEL_VALUES + 1)
  t.equal(samples.find((s) => s.labels.code === '3000')?.value, 2, 'a value seen before the cap keeps counting')
  t.equal(samples.find((s) => s.labels.code === 'other')?.value, 200 - MAX_LABEL_VALUES)
  t.equal(samples.reduce((sum, s) => sum + s.value, 0), 201, 'no event is lost')
})

t.test('the whole output is valid exposition text', async (t) => {
  const { metrics } = setup(t, { backplane: 'up' })
  metrics.relayed('message')
  metrics.closed(4429)
  const text = metrics.render()
  t.doesNotThrow(() => parseExposition(text))
  t.match(text, /^# HELP /, 'starts with a HELP line')
  t.ok(text.endsWith('\n'))
})

t.test('event-loop delay shows a blocked loop, in seconds, and starts a new window at each scrape', async (t) => {
  const { metrics } = setup(t)
  await new Promise((resolve) => setTimeout(resolve, 60))
  const end = Date.now() + 120
  while (Date.now() < end) { /* block the loop */ }
  await new Promise((resolve) => setTimeout(resolve, 60))

  const m = parseExposition(metrics.render())
  const p50 = valueOf(m, 'signalling_event_loop_delay_seconds', { quantile: '0.5' })!
  const p99 = valueOf(m, 'signalling_event_loop_delay_seconds', { quantile: '0.99' })!
  const max = valueOf(m, 'signalling_event_loop_delay_seconds', { quantile: '1' })!
  const sum = valueOf(m, 'signalling_event_loop_delay_seconds_sum')!
  const count = valueOf(m, 'signalling_event_loop_delay_seconds_count')!
  t.comment(`event-loop delay after a 120 ms block: p50 ${p50}s, p99 ${p99}s, max ${max}s, sum ${sum}s over ${count} samples`)
  for (const value of [p50, p99, max, sum, count]) t.ok(Number.isFinite(value) && value >= 0, `${value} is a finite number`)
  t.ok(max >= 0.08 && max < 1, `max ${max}s reflects the 120 ms block, less the 20 ms sampling interval`)
  t.ok(p99 >= 0.08, 'p99 sees it too')
  t.ok(p50 <= p99 && p99 <= max, 'the quantiles are ordered')
  t.ok(sum >= 0.08, '_sum holds the delay')
  t.ok(count >= 3)

  await new Promise((resolve) => setTimeout(resolve, 100))
  const next = parseExposition(metrics.render())
  t.ok(valueOf(next, 'signalling_event_loop_delay_seconds', { quantile: '1' })! < max, 'the block is gone from the next window')
  t.ok(valueOf(next, 'signalling_event_loop_delay_seconds_count')! > count, '_count keeps growing')
  t.ok(valueOf(next, 'signalling_event_loop_delay_seconds_sum')! >= sum, '_sum keeps growing')

  const empty = parseExposition(metrics.render())
  t.ok(Number.isNaN(valueOf(empty, 'signalling_event_loop_delay_seconds', { quantile: '0.5' })), 'an empty window reads NaN')
})

t.test('process basics are present', async (t) => {
  const { metrics } = setup(t)
  const m = parseExposition(metrics.render())
  t.ok(valueOf(m, 'process_resident_memory_bytes')! > 1e6)
  t.ok(valueOf(m, 'nodejs_heap_used_bytes')! > 1e5)
  t.ok(valueOf(m, 'process_cpu_seconds_total')! > 0)
  const start = valueOf(m, 'process_start_time_seconds')!
  t.ok(start > Date.now() / 1000 - 3600 && start <= Date.now() / 1000)
})
