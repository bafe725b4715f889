// The report: targets of issue 7 checked against the baselines of the same run, and the Markdown table.
import type { HotSpot } from './cpu-profile.js'
import type { WorkloadReport } from './scenarios.js'
import type { ServerKind } from './servers.js'

export interface Check { target: string, value: number, limit: number, met: boolean, note?: string }

export interface BenchReport {
  meta: Record<string, unknown>
  workloads: Record<string, WorkloadReport>
  checks: Check[]
  profiles: Record<string, { file: string, flameGraph?: string, folded?: string, totalMs: number, idlePercent: number, hotSpots: HotSpot[] } | { error: string }>
  processes: { started: number[], leftover: number[] }
}

type Summary = WorkloadReport['summary']
const get = (s: Summary | undefined, kind: ServerKind, metric: string): number => s?.[kind]?.[metric] ?? Number.NaN
/** Unrounded: a target is judged on the exact ratio (0.597 is not 0.6), and the table of targets shows three decimals. */
const ratio = (a: number, b: number): number => Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? a / b : Number.NaN

export function checkTargets (w: Record<string, WorkloadReport>): Check[] {
  const relay = w.relayThroughput?.summary
  const soak = w.idleSoak?.summary
  const churn = w.joinChurn?.summary
  const checks: Check[] = []
  const add = (target: string, value: number, limit: number, higherIsBetter: boolean, note?: string): void => {
    const met = Number.isFinite(value) && (higherIsBetter ? value >= limit : value <= limit)
    checks.push({ target, value, limit, met, ...(note === undefined ? {} : { note }) })
  }
  const cpu = get(relay, 'signalling', 'halfLoadUsPerMessage')
  add('relay: server CPU per message ≤ 1.2 × bare ws relay', ratio(cpu, get(relay, 'ws-relay', 'halfLoadUsPerMessage')), 1.2, false)
  add('relay: server CPU per message ≤ PeerJS server', ratio(cpu, get(relay, 'peerjs', 'halfLoadUsPerMessage')), 1, false)
  add('relay: highest sustained throughput ≥ 0.9 × bare ws relay', ratio(get(relay, 'signalling', 'maxSustainedRate'), get(relay, 'ws-relay', 'maxSustainedRate')), 0.9, true,
    get(relay, 'ws-relay', 'maxSustainedClientSaturated') === 1 ? 'the generator saturated its core while stepping the bare relay: its maximum is a lower bound' : undefined)
  add('relay: p99 at half the bare relay\'s load ≤ 2 × bare ws relay', ratio(get(relay, 'signalling', 'halfLoadP99'), get(relay, 'ws-relay', 'halfLoadP99')), 2, false)
  add('memory: RSS per idle joined peer ≤ 1.3 × bare ws relay', ratio(get(soak, 'signalling', 'rssKiBPerPeer'), get(soak, 'ws-relay', 'rssKiBPerPeer')), 1.3, false)
  // the box's open-file limit holds one process below 20,000 sockets: the two-node soak counts when it ran
  const twoNodes = w.idleSoakTwoNodes
  const singleHeld = get(soak, 'signalling', 'peersHeld')
  const twoNodesHeld = twoNodes?.available === true ? get(twoNodes.summary, 'signalling', 'peersHeld') : Number.NaN
  const fromTwoNodes = Number.isFinite(twoNodesHeld) && !(singleHeld > twoNodesHeld)
  const held = fromTwoNodes ? twoNodesHeld : singleHeld
  const twoNodesNote = twoNodes === undefined ? 'the two-node soak was not run' : twoNodes.available ? `two nodes on Redis held ${fmt(twoNodesHeld)}` : `the two-node soak did not run: ${twoNodes.reason ?? 'not available'}`
  add('memory: 20,000 joined peers held', held, 20_000, true, fromTwoNodes
    ? `from the two-node soak (4b), two product nodes on Redis on this box; one process held ${fmt(singleHeld)}`
    : `from one server process (4); ${twoNodesNote}`)
  add('joins: ≥ 3,000 joins/s', get(churn, 'signalling', 'maxSustainedJoinsPerSecond'), 3000, true,
    get(churn, 'signalling', 'clientSaturated') === 1 ? 'the generator saturated its core: a lower bound' : undefined)
  const redis = w.redisCrossNode
  add('Redis mode: a cross-node hop adds ≤ 1 ms at p50 (ms)', get(redis?.summary, 'signalling', 'crossMinusSameP50'), 1, false,
    redis === undefined ? 'not run' : redis.available ? undefined : redis.reason)
  return checks
}

const fmt = (n: number): string => {
  if (!Number.isFinite(n)) return '–'
  if (Math.abs(n) >= 1000) return Math.round(n).toLocaleString('en-US')
  if (Math.abs(n) >= 10) return String(Math.round(n * 10) / 10)
  return String(Math.round(n * 100) / 100)
}

interface Row {
  workload: string
  metric: string
  key: string
  source: string
  target?: string
  saturation?: string
  /** The server in the product's column, when not the product with its defaults. */
  product?: ServerKind
}

const ROWS: Row[] = [
  { workload: '(1) relay', metric: 'highest sustained msgs/s', source: 'relayThroughput', key: 'maxSustainedRate', target: '≥ 0.9 × ws', saturation: 'maxSustainedClientSaturated' },
  { workload: '(1) relay', metric: 'lowest rate not sustained on two tries, msgs/s', source: 'relayThroughput', key: 'lowestFailedRate' },
  { workload: '(1) relay', metric: 'server CPU µs/msg at half load', source: 'relayThroughput', key: 'halfLoadUsPerMessage', target: '≤ 1.2 × ws, ≤ PeerJS', saturation: 'halfLoadClientSaturated' },
  { workload: '(1) relay', metric: 'p50 ms at half load', source: 'relayThroughput', key: 'halfLoadP50' },
  { workload: '(1) relay', metric: 'p99 ms at half load', source: 'relayThroughput', key: 'halfLoadP99', target: '≤ 2 × ws' },
  { workload: '(1) relay', metric: 'p99.9 ms at half load', source: 'relayThroughput', key: 'halfLoadP999' },
  { workload: '(1) relay, resume window off', metric: 'highest sustained msgs/s', source: 'relayThroughput', key: 'maxSustainedRate', saturation: 'maxSustainedClientSaturated', product: 'signalling-no-window' },
  { workload: '(1) relay, resume window off', metric: 'server CPU µs/msg at half load', source: 'relayThroughput', key: 'halfLoadUsPerMessage', saturation: 'halfLoadClientSaturated', product: 'signalling-no-window' },
  { workload: '(1) relay, resume window off', metric: 'p99 ms at half load', source: 'relayThroughput', key: 'halfLoadP99', product: 'signalling-no-window' },
  { workload: '(2) burst', metric: 'pairs negotiated', source: 'negotiationBurst', key: 'completedPairs', saturation: 'clientSaturated' },
  { workload: '(2) burst', metric: 'join p99 ms', source: 'negotiationBurst', key: 'joinP99' },
  { workload: '(2) burst', metric: 'negotiation p50 ms', source: 'negotiationBurst', key: 'negotiationP50' },
  { workload: '(2) burst', metric: 'negotiation p99 ms', source: 'negotiationBurst', key: 'negotiationP99' },
  { workload: '(2) burst', metric: 'server CPU ms', source: 'negotiationBurst', key: 'serverCpuMs' },
  { workload: '(3) mesh', metric: 'msgs/s delivered', source: 'meshRoom', key: 'achievedRate', saturation: 'clientSaturated' },
  { workload: '(3) mesh', metric: 'p99 ms', source: 'meshRoom', key: 'p99' },
  { workload: '(3) mesh', metric: 'server CPU µs/msg', source: 'meshRoom', key: 'serverUsPerMessage' },
  { workload: '(4) idle soak', metric: 'peers held', source: 'idleSoak', key: 'peersHeld', target: '20,000' },
  { workload: '(4) idle soak', metric: 'RSS KiB per peer', source: 'idleSoak', key: 'rssKiBPerPeer', target: '≤ 1.3 × ws' },
  { workload: '(4) idle soak', metric: 'heap KiB per peer (after gc)', source: 'idleSoak', key: 'heapKiBPerPeer' },
  { workload: '(4) idle soak', metric: 'joins/s while filling', source: 'idleSoak', key: 'joinsPerSecond', saturation: 'clientSaturated' },
  { workload: '(4) idle soak', metric: 'idle server CPU % of a core', source: 'idleSoak', key: 'idleServerCoreShare' },
  { workload: '(4b) two nodes on Redis', metric: 'peers held (both nodes)', source: 'idleSoakTwoNodes', key: 'peersHeld', target: '20,000' },
  { workload: '(4b) two nodes on Redis', metric: 'node RSS KiB per peer (both nodes)', source: 'idleSoakTwoNodes', key: 'rssKiBPerPeer' },
  { workload: '(4b) two nodes on Redis', metric: 'node heap KiB per peer (after gc)', source: 'idleSoakTwoNodes', key: 'heapKiBPerPeer' },
  { workload: '(4b) two nodes on Redis', metric: 'RSS MiB, node A', source: 'idleSoakTwoNodes', key: 'rssMiBNodeA' },
  { workload: '(4b) two nodes on Redis', metric: 'RSS MiB, node B', source: 'idleSoakTwoNodes', key: 'rssMiBNodeB' },
  { workload: '(4b) two nodes on Redis', metric: 'Redis RSS MiB', source: 'idleSoakTwoNodes', key: 'redisRssMiB' },
  { workload: '(4b) two nodes on Redis', metric: 'joins/s while filling (both nodes)', source: 'idleSoakTwoNodes', key: 'joinsPerSecond', saturation: 'clientSaturated' },
  { workload: '(5) churn', metric: 'highest sustained joins/s', source: 'joinChurn', key: 'maxSustainedJoinsPerSecond', target: '≥ 3,000', saturation: 'clientSaturated' },
  { workload: '(5) churn', metric: 'join p99 ms at that rate', source: 'joinChurn', key: 'joinP99AtMax' },
  { workload: '(5) churn', metric: 'server CPU µs/join at that rate', source: 'joinChurn', key: 'serverUsPerJoinAtMax' },
  { workload: '(5) churn', metric: 'server CPU µs/join at 2,000 joins/s (all alike)', source: 'joinChurn', key: 'serverUsPerJoinAtCompareRate' },
  { workload: '(6) REST', metric: 'POST /rooms/{id}/tokens req/s', source: 'restRates', key: 'tokensPerSecond', saturation: 'clientSaturated' },
  { workload: '(6) REST', metric: 'POST /rooms/{id}/tokens server CPU µs/req', source: 'restRates', key: 'tokensServerUsPerRequest' },
  { workload: '(6) REST', metric: 'POST /rooms req/s', source: 'restRates', key: 'roomsPerSecond' },
  { workload: '(6) REST', metric: 'GET /hello req/s', source: 'restRates', key: 'helloPerSecond', saturation: 'helloClientSaturated' },
  { workload: '(6) REST', metric: 'GET /hello server CPU µs/req', source: 'restRates', key: 'helloServerUsPerRequest' },
  { workload: '(6) REST', metric: 'bare Fastify POST (JSON body in, token-sized JSON out) req/s', source: 'restRates', key: 'postPerSecond', saturation: 'postClientSaturated' },
  { workload: '(6) REST', metric: 'bare Fastify POST server CPU µs/req', source: 'restRates', key: 'postServerUsPerRequest' },
  { workload: '(7) Redis', metric: 'same-node p50 ms (Redis mode)', source: 'redisCrossNode', key: 'sameNodeP50' },
  { workload: '(7) Redis', metric: 'cross-node p50 ms', source: 'redisCrossNode', key: 'crossNodeP50' },
  { workload: '(7) Redis', metric: 'cross-node − same-node p50 ms', source: 'redisCrossNode', key: 'crossMinusSameP50', target: '≤ 1 ms' },
  { workload: '(7) Redis', metric: 'cross-node p99 ms', source: 'redisCrossNode', key: 'crossNodeP99', saturation: 'clientSaturated' }
]

/** Rows of the bare Fastify app alone, with the route its figure is of. */
const FASTIFY_ROWS: Partial<Record<string, string>> = {
  helloPerSecond: 'Fastify GET /hello',
  helloServerUsPerRequest: 'Fastify GET /hello',
  postPerSecond: 'Fastify POST /echo-token',
  postServerUsPerRequest: 'Fastify POST /echo-token'
}
/** Product REST rows, compared with the same figure of the bare Fastify routes instead of the relays. */
const FASTIFY_RATIOS: Partial<Record<string, { hello: string, post: string }>> = {
  tokensPerSecond: { hello: 'helloPerSecond', post: 'postPerSecond' },
  tokensServerUsPerRequest: { hello: 'helloServerUsPerRequest', post: 'postServerUsPerRequest' }
}

export function markdown (report: BenchReport): string {
  const w = report.workloads
  const lines: string[] = []
  const m = report.meta
  lines.push(`## Benchmark ${String(m.timestamp)} (${String(m.mode)})`, '')
  lines.push(`Machine: ${String(m.cpuModel)}, ${String(m.cpus)} cores, ${String(m.memoryGiB)} GiB; Node ${String(m.node)}; server pinned to core 0, load generators to core 1: ${String(m.pinned)}. Commit ${String(m.commit)}.`, '')
  lines.push('| workload | metric | signalling | bare ws relay | PeerJS | ÷ ws | ÷ PeerJS | target |')
  lines.push('| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |')
  let flagged = false
  for (const row of ROWS) {
    const workload = w[row.source]
    if (workload?.available === false) {
      // one line per workload that could not run, saying why
      if (ROWS.find((r) => r.source === row.source) === row) lines.push(`| ${row.workload} | not run | ${workload.reason ?? 'not available'} | | | | | ${row.target ?? ''} |`)
      continue
    }
    const summary = workload?.summary
    const cell = (kind: ServerKind): string => {
      const value = fmt(get(summary, kind, row.key))
      const saturated = row.saturation !== undefined && get(summary, kind, row.saturation) === 1
      if (saturated) flagged = true
      const error = w[row.source]?.errors[kind]
      return error !== undefined ? 'error' : saturated ? `${value} ⚠` : value
    }
    const route = FASTIFY_ROWS[row.key]
    if (route !== undefined) {
      lines.push(`| ${row.workload} | ${row.metric} | ${cell('fastify-hello')} (${route}) | | | | | |`)
      continue
    }
    const product = row.product ?? 'signalling'
    const s = get(summary, product, row.key)
    const bare = FASTIFY_RATIOS[row.key]
    if (bare !== undefined) {
      const to = (key: string): string => fmt(ratio(s, get(summary, 'fastify-hello', key)))
      lines.push(`| ${row.workload} | ${row.metric} | ${cell('signalling')} | | | ${to(bare.hello)} (÷ /hello), ${to(bare.post)} (÷ bare POST) | | ${row.target ?? ''} |`)
      continue
    }
    lines.push(`| ${row.workload} | ${row.metric} | ${cell(product)} | ${cell('ws-relay')} | ${cell('peerjs')} | ` +
      `${fmt(ratio(s, get(summary, 'ws-relay', row.key)))} | ${fmt(ratio(s, get(summary, 'peerjs', row.key)))} | ${row.target ?? ''} |`)
  }
  lines.push('')
  if (flagged) {
    lines.push('⚠ the load generator used ≥ 90 % of its core during that measurement (REST: the server used less than 85 % of its own, since that generator polls): the figure may be the generator\'s limit, not the server\'s.', '')
  }
  lines.push('### Targets', '', '| target | value | limit | met |', '| --- | ---: | ---: | --- |')
  const fmtCheck = (n: number): string => Number.isFinite(n) && Math.abs(n) < 10 ? n.toFixed(3) : fmt(n)
  for (const check of report.checks) lines.push(`| ${check.target} | ${fmtCheck(check.value)} | ${fmt(check.limit)} | ${check.met ? 'yes' : 'no'}${check.note === undefined ? '' : ` (${check.note})`} |`)
  lines.push('')
  interface RelayTry { offeredRate: number, achievedRate: number, latency: { p50: number, p99: number, p999: number }, serverCoreShare: number, clientCoreShare: number, lost: number, sustained: boolean }
  const relay = w.relayThroughput?.details as Partial<Record<ServerKind, { steps?: Array<RelayTry & { phase?: string, tries?: RelayTry[] }> }>> | undefined
  if (relay !== undefined) {
    lines.push('### Relay steps', '', 'A step that is not sustained is tried a second time; bisection probes follow the step that failed twice.', '',
      '| server | probe | offered/s | delivered/s | p50 ms | p99 ms | p99.9 ms | lost | server core % | client core % | sustained |', '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |')
    for (const [kind, detail] of Object.entries(relay)) {
      for (const probe of detail?.steps ?? []) {
        for (const [index, s] of (probe.tries ?? [probe]).entries()) {
          lines.push(`| ${kind} | ${probe.phase ?? 'step'}${index > 0 ? ', retry' : ''} | ${fmt(s.offeredRate)} | ${fmt(s.achievedRate)} | ${fmt(s.latency.p50)} | ${fmt(s.latency.p99)} | ${fmt(s.latency.p999)} | ${s.lost} | ${fmt(s.serverCoreShare)} | ${fmt(s.clientCoreShare)}${s.clientCoreShare >= 90 ? ' ⚠' : ''} | ${s.sustained ? 'yes' : 'no'} |`)
        }
      }
    }
    lines.push('')
  }
  const churn = w.joinChurn?.details as Partial<Record<ServerKind, { steps?: Array<{ offeredRate: number, achievedRate: number, joinLatency: { p50: number, p99: number }, failed: number, skipped: number, serverCoreShare: number, clientCoreShare: number, sustained: boolean }> }>> | undefined
  if (churn !== undefined) {
    lines.push('### Churn steps', '', '| server | offered joins/s | joined/s | p50 ms | p99 ms | failed | skipped | server core % | client core % | sustained |', '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |')
    for (const [kind, detail] of Object.entries(churn)) {
      for (const s of detail?.steps ?? []) {
        lines.push(`| ${kind} | ${fmt(s.offeredRate)} | ${fmt(s.achievedRate)} | ${fmt(s.joinLatency.p50)} | ${fmt(s.joinLatency.p99)} | ${s.failed} | ${s.skipped} | ${fmt(s.serverCoreShare)} | ${fmt(s.clientCoreShare)}${s.clientCoreShare >= 90 ? ' ⚠' : ''} | ${s.sustained ? 'yes' : 'no'} |`)
      }
    }
    lines.push('')
  }
  const redis = w.redisCrossNode
  const redisSummary = redis?.summary.signalling
  if (redis?.available === true && redisSummary !== undefined) {
    const r = (key: string): string => fmt(redisSummary[key] ?? Number.NaN)
    lines.push(`### (7) Redis mode: ${fmt(redisSummary.pairs ?? Number.NaN)} pairs per placement at ${fmt(redisSummary.rate ?? Number.NaN)} msgs/s`, '',
      '| placement | p50 ms | p99 ms | p99.9 ms | server CPU µs/msg | Redis CPU µs/msg |',
      '| --- | ---: | ---: | ---: | ---: | ---: |',
      `| same node, Redis mode (A → A) | ${r('sameNodeP50')} | ${r('sameNodeP99')} | ${r('sameNodeP999')} | ${r('sameNodeServerUsPerMessage')} (A+B) | ${r('sameNodeRedisUsPerMessage')} |`,
      `| cross node (A → Redis → B, both ways) | ${r('crossNodeP50')} | ${r('crossNodeP99')} | ${r('crossNodeP999')} | ${r('crossNodeServerUsPerMessage')} (A+B) | ${r('crossNodeRedisUsPerMessage')} |`,
      `| one in-memory node, same rate | ${r('inMemoryP50')} | ${r('inMemoryP99')} | ${r('inMemoryP999')} | ${r('inMemoryServerUsPerMessage')} | |`,
      `| cross node on a 3-master Redis Cluster (C → shard → D) | ${r('clusterCrossNodeP50')} | ${r('clusterCrossNodeP99')} | | ${r('clusterCrossNodeServerUsPerMessage')} (C+D) | ${r('clusterCrossNodeRedisUsPerMessage')} |`,
      '',
      `Cross-node − same-node p50: **${r('crossMinusSameP50')} ms** (target ≤ 1 ms). During the cross-node rounds nodes A+B used ${r('crossNodeServerCoreShare')} % of a core and Redis ${r('crossNodeRedisCoreShare')} %.` +
      (redisSummary.relayHalfLoadP50 === undefined ? '' : ` In-memory p50 of workload (1) at its half load: ${r('relayHalfLoadP50')} ms.`), '')
  }
  const notes = Object.values(w).flatMap((wl) => [...wl.notes.map((n) => `${wl.title}: ${n}`), ...Object.entries(wl.errors).map(([k, e]) => `${wl.title}: ${k} failed: ${e}`)])
  if (notes.length > 0) lines.push('### Notes', '', ...notes.map((n) => `- ${n}`), '')
  for (const [name, profile] of Object.entries(report.profiles)) {
    if ('error' in profile) {
      lines.push(`### Profile: ${name}`, '', `failed: ${profile.error}`, '')
      continue
    }
    lines.push(`### Profile: ${name} (self time, ${profile.idlePercent} % idle; ${profile.file}${profile.flameGraph === undefined ? '' : `; flame graph ${profile.flameGraph}`})`, '', '| function | location | self ms | % of busy |', '| --- | --- | ---: | ---: |')
    for (const h of profile.hotSpots) lines.push(`| \`${h.function}\` | ${h.location} | ${fmt(h.selfMs)} | ${fmt(h.selfPercent)} |`)
    lines.push('')
  }
  return lines.join('\n')
}
