// The seven workloads of the benchmark, each run against the product and its baselines in fresh processes.
import type { BenchConfig } from './bench-config.js'
import { launch, type Launched, type LaunchOptions } from './child-processes.js'
import type { RelayKind } from './clients/protocol-clients.js'
import { round3, type LatencySummary } from './latency-histogram.js'
import { cpuSample, cpuSince, rssBytes, type FileLimit } from './process-stats.js'
import { decidedProbes, searchMaxRate, type DecidedProbe, type RateSearchResult } from './rate-search.js'
import { redisAvailable, redisClusterAvailable, startBenchRedis, startBenchRedisCluster, type BenchRedis } from './redis-server.js'
import { BENCH_API_KEY, BENCH_REDIS_PREFIX, type ServerKind } from './servers.js'
import { CLIENT_CORE, CLIENT_SATURATED, measureCall, SERVER_CORE, serverMemory, withSession, type MemoryReading, type Measured, type Session } from './sessions.js'
import type { BurstResult } from './workloads/negotiation-burst.js'
import type { ChurnStepResult } from './workloads/join-churn.js'
import type { RelayStepResult } from './workloads/relay-flows.js'
import { SERVER_BOUND, type RestResult } from './workloads/rest-rate.js'
import type { SoakJoinResult, SoakParams } from './workloads/idle-soak.js'

export const RELAY_KINDS: RelayKind[] = ['signalling', 'ws-relay', 'peerjs']
/** Workload (1) also runs the product with its resume window off (nothing kept while connected): what the window costs. */
const RELAY_THROUGHPUT_KINDS: ServerKind[] = ['ws-relay', 'signalling', 'signalling-no-window', 'peerjs']
const protocolOf = (kind: ServerKind): RelayKind => kind === 'signalling-no-window' ? 'signalling' : kind as RelayKind

export type Metrics = Record<string, number>

export interface WorkloadReport {
  title: string
  available: boolean
  /** Why the workload could not run, when it could not. */
  reason?: string
  /** Flat numeric metrics per server, the source of the table. */
  summary: Partial<Record<ServerKind, Metrics>>
  /** Everything measured, per server. */
  details: Partial<Record<ServerKind, unknown>>
  errors: Partial<Record<ServerKind, string>>
  notes: string[]
}

const log = (line: string): void => { process.stderr.write(`[bench] ${line}\n`) }
const pct = (share: number): number => Math.round(share * 1000) / 10
const perUnitUs = (cpuSeconds: number, units: number): number => units > 0 ? Math.round(cpuSeconds / units * 1e7) / 10 : Number.NaN

function newReport (title: string): WorkloadReport {
  return { title, available: true, summary: {}, details: {}, errors: {}, notes: [] }
}

async function forEachKind (report: WorkloadReport, kinds: ServerKind[], run: (kind: ServerKind) => Promise<void>): Promise<void> {
  for (const kind of kinds) {
    try {
      await run(kind)
    } catch (err) {
      report.errors[kind] = (err as Error).message
      log(`${report.title} / ${kind}: ${(err as Error).message}`)
    }
  }
}

type LaunchChild = <Info>(options: LaunchOptions) => Promise<Launched<Info>>

/** Runs `run` with a `launch` that records each child; every child it started is stopped afterwards, last first. */
async function withChildren<T> (run: (launchChild: LaunchChild) => Promise<T>): Promise<T> {
  const started: Array<Launched<unknown>> = []
  try {
    return await run(async <Info>(options: LaunchOptions) => {
      const child = await launch<Info>(options)
      started.push(child)
      return child
    })
  } finally {
    // generators are started after the servers, so they stop first: the servers see their clients leave
    for (const child of started.reverse()) await child.stop()
  }
}

/**
 * A workload on the bench's own redis-server (pinned with the servers), with children as `withChildren` starts
 * them; Redis stops last, so that the nodes can say goodbye to it. Without redis-server the report says so.
 */
async function onBenchRedis (report: WorkloadReport, run: (redis: BenchRedis, launchChild: LaunchChild) => Promise<void>): Promise<WorkloadReport> {
  if (!redisAvailable()) {
    report.available = false
    report.reason = 'not available: redis-server not found'
    return report
  }
  const redis = await startBenchRedis(SERVER_CORE)
  log(`redis-server ${redis.version} pid ${redis.pid} on ${redis.url}${redis.pinned ? ` pinned to core ${SERVER_CORE}` : ''}`)
  try {
    await withChildren(async (launchChild) => { await run(redis, launchChild) })
    return report
  } finally {
    await redis.stop()
  }
}

/**
 * Runs the calls given to it one at a time, in the order given, whatever the callers await: searches of several
 * servers that run "at once" then take turns step by step.
 */
function takingTurns (): <T>(run: () => Promise<T>) => Promise<T> {
  let turn: Promise<unknown> = Promise.resolve()
  return async (run) => {
    const mine = turn.then(run)
    turn = mine.catch(() => {})
    return await mine
  }
}

/** The CPU of several measurements of one server and generator, added up; saturated if any of them was. */
function cpuAddedUp (list: Array<Measured<unknown>>): Omit<Measured<unknown>, 'result'> {
  const added = (side: 'server' | 'client'): Measured<unknown>['server'] => {
    const cpuSeconds = list.reduce((a, m) => a + m[side].cpuSeconds, 0)
    const wallSeconds = list.reduce((a, m) => a + m[side].wallSeconds, 0)
    return { cpuSeconds, wallSeconds, coreShare: wallSeconds > 0 ? cpuSeconds / wallSeconds : 0 }
  }
  return { server: added('server'), client: added('client'), clientSaturated: list.some((m) => m.clientSaturated) }
}

function cpuOf<T> (m: Measured<T>): { serverCoreShare: number, clientCoreShare: number, clientSaturated: boolean } {
  return { serverCoreShare: pct(m.server.coreShare), clientCoreShare: pct(m.client.coreShare), clientSaturated: m.clientSaturated }
}

// (1) relay throughput ------------------------------------------------------------------------------------------

interface RelayStepReport extends RelayStepResult {
  serverCpuSeconds: number
  serverUsPerMessage: number
  serverCoreShare: number
  clientCoreShare: number
  clientSaturated: boolean
  sustained: boolean
}

function relayStepReport (m: Measured<RelayStepResult>, p99Limit: number): RelayStepReport {
  const r = m.result
  const sustained = r.lost === 0 && r.achievedRate >= 0.95 * r.offeredRate && r.latency.p99 <= p99Limit
  return { ...r, serverCpuSeconds: m.server.cpuSeconds, serverUsPerMessage: perUnitUs(m.server.cpuSeconds, r.received), ...cpuOf(m), sustained }
}

type RelayProbeReport = DecidedProbe<RelayStepReport>

export async function relayThroughput (config: BenchConfig): Promise<WorkloadReport> {
  const c = config.relay
  const report = newReport(`(1) Relay throughput: ${c.rooms} rooms of 2 peers, SDP and candidate mix`)
  const probes: Partial<Record<ServerKind, RelayProbeReport[]>> = {}
  const searches: Partial<Record<ServerKind, Omit<RateSearchResult<RelayStepReport>, 'probes' | 'best'> & { seconds: number }>> = {}
  const maxSustained: Partial<Record<ServerKind, RelayProbeReport | undefined>> = {}
  const half: Partial<Record<ServerKind, HalfLoadReport>> = {}
  // the same absolute load for all: half of the bare relay's highest sustained rate
  const halfRate = (): number => Math.max(100, Math.round((maxSustained['ws-relay']?.offeredRate ?? c.steps[0]!) / 2))
  await withRelayServers(config, report, async (kinds, step) => {
    // stepped up to the first step that is not sustained (loss, rate below 95 % of offered, or p99 over the limit)
    // on two tries, then bisected; every server gets the same rule. The searches take turns, one step at a time,
    // so that a slow spell of the shared machine falls on all of them rather than on whichever ran then
    const inTurn = takingTurns()
    const t0 = performance.now()
    await Promise.all(kinds.map(async (kind) => {
      try {
        const search = await searchMaxRate<RelayStepReport>(
          // each step waits for the other servers' turns: the budget is per server
          { steps: c.steps, bisectRounds: c.bisectRounds, roundTo: c.roundTo, retryPauseMs: c.retryPauseMs, deadline: t0 + c.searchBudgetMs * kinds.length },
          async (rate, phase, attempt) => await inTurn(async () => {
            const result = relayStepReport(await step(kind, rate, c.stepMs, false), c.sustainedP99Ms)
            log(`relay ${kind} ${phase} ${rate}/s${attempt > 1 ? ' (retry)' : ''}: got ${result.achievedRate}/s p99 ${result.latency.p99} ms lost ${result.lost} server ${result.serverCoreShare}% client ${result.clientCoreShare}%`)
            return result
          }))
        const { rows, best } = decidedProbes(search)
        probes[kind] = rows
        maxSustained[kind] = best
        searches[kind] = { failedAt: search.failedAt, bisectCutShort: search.bisectCutShort, seconds: Math.round((performance.now() - t0) / 100) / 10 }
        if (search.bisectCutShort) report.notes.push(`${kind}: the bisection stopped early, ${c.searchBudgetMs * kinds.length / 1000} s into the searches`)
      } catch (err) {
        report.errors[kind] = (err as Error).message
        log(`${report.title} / ${kind}: ${(err as Error).message}`)
      }
    }))
    // CPU per message and latency at half the bare relay's highest rate, in rounds that rotate between the servers
    await halfLoadRounds(config, halfRate(), kinds.filter((kind) => report.errors[kind] === undefined), step, half, report)
  })

  for (const kind of RELAY_THROUGHPUT_KINDS) {
    const list = probes[kind]
    const h = half[kind]
    report.details[kind] = { steps: list, halfLoad: h, maxSustained: maxSustained[kind], search: searches[kind] }
    if (list === undefined || h === undefined) continue
    const top = maxSustained[kind]
    // the highest rate offered: the step that failed, or the last step when none did
    const highest = list.reduce((a, b) => b.offeredRate > a.offeredRate ? b : a)
    const failedAt = searches[kind]?.failedAt
    report.summary[kind] = {
      maxSustainedRate: top?.achievedRate ?? 0,
      maxSustainedClientSaturated: Number(list.some((p) => p.tries.some((t) => t.clientSaturated))),
      maxStepServerCoreShare: highest.serverCoreShare,
      maxStepClientCoreShare: highest.clientCoreShare,
      ...(failedAt === undefined ? {} : { lowestFailedRate: failedAt }),
      retriedProbes: list.filter((p) => p.tries.length > 1).length,
      rescuedByRetry: list.filter((p) => p.tries.length > 1 && p.sustained).length,
      halfLoadRate: h.offeredRate,
      halfLoadUsPerMessage: h.serverUsPerMessage,
      halfLoadP50: h.latency.p50,
      halfLoadP99: h.latency.p99,
      halfLoadP999: h.latency.p999,
      halfLoadLost: h.lost,
      halfLoadClientSaturated: Number(h.clientSaturated)
    }
  }
  if (Object.values(searches).some((search) => search !== undefined && search.failedAt === undefined)) {
    report.notes.push(`a server sustained every step up to ${c.steps.at(-1)} msgs/s: its maximum is at least that`)
  }
  report.notes.push(`the servers run side by side on the server core, with one load generator on the other; their searches take turns step by step, ` +
    `and a step that is not sustained is retried once after at least ${c.retryPauseMs} ms (the others' turns come in between) and counts if the retry is; ` +
    `then ${c.bisectRounds} bisection round${c.bisectRounds === 1 ? '' : 's'} between the last sustained step and the failed one, in multiples of ${c.roundTo} msgs/s`)
  return report
}

interface HalfLoadReport extends RelayStepReport {
  rounds: number
  /** Server µs per message of each round, in order. */
  roundUsPerMessage: number[]
}

/** Loads one server of workload (1) at `rate` for `durationMs`, the others idle; `accumulate` as in RelayStep. */
type RelayStepRunner = (kind: ServerKind, rate: number, durationMs: number, accumulate: boolean) => Promise<Measured<RelayStepResult>>

/**
 * The servers of workload (1), started at once on the server core with one load generator on the other, their
 * flows set up and warmed, so that the JIT has settled before anything is measured. `run` gets the servers that
 * started (a server that fails to start or to take its peers is reported and left out) and a step runner.
 */
async function withRelayServers (config: BenchConfig, report: WorkloadReport, run: (kinds: ServerKind[], step: RelayStepRunner) => Promise<void>): Promise<void> {
  const c = config.relay
  await withChildren(async (launchChild) => {
    const servers: Partial<Record<ServerKind, Launched<{ port: number }>>> = {}
    for (const kind of RELAY_THROUGHPUT_KINDS) {
      try {
        servers[kind] = await launchChild<{ port: number }>({ name: `${kind} server`, entry: './server-host.ts', args: [kind], core: SERVER_CORE, nodeFlags: ['--expose-gc'] })
      } catch (err) {
        report.errors[kind] = (err as Error).message
      }
    }
    const generator = await launchChild<{ pid: number }>({ name: 'relay load generator', entry: './load-generator.ts', core: CLIENT_CORE })
    const kinds: ServerKind[] = []
    for (const kind of RELAY_THROUGHPUT_KINDS) {
      if (servers[kind] === undefined) continue
      try {
        const done = await generator.rpc.call<{ bytesPerMessage: number }>('relaySetup', { name: kind, kind: protocolOf(kind), port: servers[kind].info.port, rooms: c.rooms, peersPerRoom: 2 }, 120_000)
        report.notes[0] = `mean frame ${done.bytesPerMessage} B (1 offer, 1 answer, 8 candidates per 10 messages)`
        kinds.push(kind)
      } catch (err) {
        report.errors[kind] = (err as Error).message
      }
    }
    const step: RelayStepRunner = async (kind, rate, durationMs, accumulate) =>
      await measureCall<RelayStepResult>(servers[kind]!.pid, generator, 'relayStep', { name: kind, rate, durationMs, drainMs: c.drainMs, accumulate }, durationMs + c.drainMs + 60_000)
    for (const kind of kinds) await step(kind, c.steps[0]!, Math.min(1000, c.stepMs), false)
    await run(kinds, step)
  })
}

/**
 * Each round loads one server at a time for `halfLoadStepMs`, and the order rotates from round to round. CPU per
 * message is the total over a server's rounds divided by the messages it delivered; latencies come from all its
 * rounds together.
 */
async function halfLoadRounds (config: BenchConfig, rate: number, kinds: ServerKind[], step: RelayStepRunner, half: Partial<Record<ServerKind, HalfLoadReport>>, report: WorkloadReport): Promise<void> {
  const c = config.relay
  const rounds: Partial<Record<ServerKind, Array<Measured<RelayStepResult>>>> = {}
  // a first round at the half rate, not counted: the searches ended at loads far from it
  for (let round = 0; round <= c.halfLoadRounds; round++) {
    const order = kinds.map((_, i) => kinds[(i + round) % kinds.length]!)
    for (const kind of order) {
      const m = await step(kind, rate, round === 0 ? Math.min(1000, c.halfLoadStepMs) : c.halfLoadStepMs, round > 1)
      if (round === 0) continue
      ;(rounds[kind] ??= []).push(m)
      log(`relay half load ${kind} ${rate}/s round ${round}: p50 ${m.result.latency.p50} p99 ${m.result.latency.p99} ms, ${perUnitUs(m.server.cpuSeconds, m.result.received)} us/msg`)
    }
  }
  for (const kind of kinds) {
    const list = rounds[kind] ?? []
    if (list.length === 0) continue
    const sum = (f: (m: Measured<RelayStepResult>) => number): number => list.reduce((a, m) => a + f(m), 0)
    const last = list.at(-1)!
    const merged: Measured<RelayStepResult> = {
      result: {
        ...last.result,
        durationMs: sum((m) => m.result.durationMs),
        sent: sum((m) => m.result.sent),
        received: sum((m) => m.result.received),
        lost: sum((m) => m.result.lost),
        achievedRate: Math.round(sum((m) => m.result.achievedRate) / list.length),
        maxSendLagMs: Math.max(...list.map((m) => m.result.maxSendLagMs)),
        meanSendLagMs: round3(sum((m) => m.result.meanSendLagMs) / list.length),
        latency: last.result.cumulativeLatency
      },
      ...cpuAddedUp(list)
    }
    half[kind] = {
      ...relayStepReport(merged, c.sustainedP99Ms),
      rounds: list.length,
      roundUsPerMessage: list.map((m) => perUnitUs(m.server.cpuSeconds, m.result.received))
    }
  }
  report.notes.push(`half load: ${rate} msgs/s, ${c.halfLoadRounds} round${c.halfLoadRounds === 1 ? '' : 's'} of ` +
    `${c.halfLoadStepMs / 1000} s each in rotating order, after one uncounted; CPU per message over all rounds, latencies over all rounds together`)
}

// (2) negotiation burst -----------------------------------------------------------------------------------------

export async function negotiationBurst (config: BenchConfig): Promise<WorkloadReport> {
  const c = config.burst
  const report = newReport(`(2) Negotiation burst: ${c.pairs} pairs join within ${c.windowMs} ms, offer + answer + ${c.candidates} candidates per side`)
  await forEachKind(report, RELAY_KINDS, async (kind) => {
    await withSession(kind, {}, async (session) => {
      const m = await session.measure<BurstResult>('burst', { kind, port: session.port, ...c }, c.windowMs + c.timeoutMs + 30_000)
      const r = m.result
      report.details[kind] = { ...r, ...cpuOf(m), serverCpuSeconds: m.server.cpuSeconds }
      report.summary[kind] = {
        completedPairs: r.completedPairs,
        joinP50: r.joinLatency.p50,
        joinP99: r.joinLatency.p99,
        negotiationP50: r.negotiation.p50,
        negotiationP99: r.negotiation.p99,
        relayP99: r.relayLatency.p99,
        serverCpuMs: Math.round(m.server.cpuSeconds * 1000),
        clientSaturated: Number(m.clientSaturated)
      }
      log(`burst ${kind}: ${r.completedPairs}/${r.pairs} pairs, negotiation p99 ${r.negotiation.p99} ms`)
    })
  })
  return report
}

// (3) 8-peer mesh room ------------------------------------------------------------------------------------------

export async function meshRoom (config: BenchConfig): Promise<WorkloadReport> {
  const c = config.mesh
  const report = newReport(`(3) Mesh room: ${c.peers} peers in one room, ${c.rate} msgs/s over its ${c.peers * (c.peers - 1)} directed pairs`)
  await forEachKind(report, RELAY_KINDS, async (kind) => {
    await withSession(kind, {}, async (session) => {
      await session.call('relaySetup', { kind, port: session.port, rooms: 1, peersPerRoom: c.peers })
      await session.call('relayStep', { rate: c.rate, durationMs: Math.min(500, c.durationMs), drainMs: 1000 })
      const m = await session.measure<RelayStepResult>('relayStep', { rate: c.rate, durationMs: c.durationMs, drainMs: 2000 })
      const step = relayStepReport(m, Number.POSITIVE_INFINITY)
      report.details[kind] = step
      report.summary[kind] = {
        achievedRate: step.achievedRate,
        lost: step.lost,
        p50: step.latency.p50,
        p99: step.latency.p99,
        p999: step.latency.p999,
        serverUsPerMessage: step.serverUsPerMessage,
        clientSaturated: Number(step.clientSaturated)
      }
    })
  })
  return report
}

// (4) idle soak -------------------------------------------------------------------------------------------------

export async function idleSoak (config: BenchConfig, limit: FileLimit): Promise<WorkloadReport> {
  const c = config.soak
  // each side needs one descriptor per peer plus its own few dozen
  const peers = Math.min(c.peers, (limit.soft - 150) - ((limit.soft - 150) % 2))
  const report = newReport(`(4) Idle soak: ${peers} joined peers in rooms of 2, held ${Math.round(c.holdMs / 1000)} s`)
  if (peers < c.peers) {
    report.notes.push(`asked for ${c.peers} peers, ran ${peers}: ${limit.note ?? `open-file limit ${limit.soft}`}; a server process cannot hold more sockets than that here`)
  }
  await forEachKind(report, RELAY_KINDS, async (kind) => {
    await withSession(kind, { limitPrefix: limit.prefix }, async (session) => {
      const before = await session.memory()
      const joined = await session.measure<SoakJoinResult>('soakJoin', { kind, port: session.port, peers, localAddresses: c.localAddresses, concurrency: c.concurrency }, 600_000)
      const afterJoin = await session.memory()
      const hold0 = session.serverCpu()
      await new Promise((resolve) => setTimeout(resolve, c.holdMs))
      const holdCpu = (session.serverCpu().cpuSeconds - hold0.cpuSeconds) / ((performance.now() - hold0.wallMs) / 1000)
      const held = await session.call<{ open: number, closed: number }>('soakCheck', {})
      const afterHold = await session.memory()
      const r = joined.result
      const n = Math.max(1, r.joined)
      report.details[kind] = { join: r, ...cpuOf(joined), before, afterJoin, afterHold, held, idleServerCoreShare: pct(holdCpu) }
      report.summary[kind] = {
        peersHeld: held.open,
        joinFailures: r.failed,
        rssKiBPerPeer: Math.round((afterJoin.rss - before.rss) / n / 102.4) / 10,
        heapKiBPerPeer: Math.round((afterJoin.heapUsed - before.heapUsed) / n / 102.4) / 10,
        rssMiBTotal: Math.round(afterHold.rss / 1048576),
        joinsPerSecond: r.joinsPerSecond,
        idleServerCoreShare: pct(holdCpu),
        clientSaturated: Number(joined.clientSaturated)
      }
      log(`soak ${kind}: ${held.open}/${peers} held, ${report.summary[kind]!.rssKiBPerPeer} KiB RSS/peer, ${r.joinsPerSecond} joins/s`)
    })
  })
  return report
}

// (4b) idle soak over two nodes on Redis -----------------------------------------------------------------------

interface NodeSoak {
  name: string
  port: number
  before: MemoryReading
  afterJoin?: MemoryReading
  afterHold?: MemoryReading
  join?: SoakJoinResult
  held?: { open: number, closed: number }
}

/**
 * The box's hard open-file limit holds one server process below 20,000 sockets, so the product's own way past it is
 * measured: two nodes on the bench's redis-server (nodes and Redis on the server core), each with half of the peers,
 * joined by a load generator of its own (both on the client core), rooms and tokens made on the node a peer joins.
 */
export async function idleSoakTwoNodes (config: BenchConfig, limit: FileLimit): Promise<WorkloadReport> {
  const c = config.soak
  // each node and each generator needs one descriptor per peer plus its own few dozen
  const perNode = Math.min(Math.ceil(c.peers / 2), (limit.soft - 150) - ((limit.soft - 150) % 2))
  const peers = 2 * perNode
  const report = newReport(`(4b) Idle soak on one box: ${peers} joined peers over two nodes on Redis, rooms of 2, held ${Math.round(c.holdMs / 1000)} s`)
  if (peers < c.peers) report.notes.push(`asked for ${c.peers} peers, ran ${peers}: ${limit.note ?? `open-file limit ${limit.soft}`}`)
  return await onBenchRedis(report, async (redis, launchChild) => {
    const node = async (name: string): Promise<Launched<{ port: number }>> =>
      await launchChild<{ port: number }>({ name, entry: './server-host.ts', args: ['signalling', redis.url], core: SERVER_CORE, nodeFlags: ['--expose-gc'], limitPrefix: limit.prefix })
    const generator = async (name: string): Promise<Launched<{ pid: number }>> =>
      await launchChild<{ pid: number }>({ name, entry: './load-generator.ts', core: CLIENT_CORE, limitPrefix: limit.prefix })
    // settled, not raced: every child that starts is recorded before a failed one is reported
    const launched = await Promise.allSettled([node('soak node A'), node('soak node B'), generator('soak generator A'), generator('soak generator B')])
    const value = <T>(l: PromiseSettledResult<T>): T => {
      if (l.status === 'rejected') throw l.reason as Error
      return l.value
    }
    const pairs = [
      { name: 'A', node: value(launched[0]), generator: value(launched[2]) },
      { name: 'B', node: value(launched[1]), generator: value(launched[3]) }
    ]
    const params = (p: typeof pairs[number]): SoakParams => ({
      kind: 'signalling', port: p.node.info.port, peers: perNode, localAddresses: c.localAddresses, concurrency: c.concurrency, roomPrefix: `soak${p.name}`
    })
    const nodes: NodeSoak[] = await Promise.all(pairs.map(async (p) => ({ name: p.name, port: p.node.info.port, before: await serverMemory(p.node) })))
    const redisBefore = rssBytes(redis.pid)
    await Promise.all(pairs.map(async (p) => await p.generator.rpc.call('soakPrepare', params(p), 600_000)))

    // the two generators join at once: the join rate is that of the box, over the time both take
    const serverPids = [...pairs.map((p) => p.node.pid), redis.pid]
    const joinServer0 = serverPids.map((pid) => cpuSample(pid))
    const joinClient0 = pairs.map((p) => cpuSample(p.generator.pid))
    const joins = await Promise.all(pairs.map(async (p) => await p.generator.rpc.call<SoakJoinResult>('soakConnect', params(p), 600_000)))
    const joinServer = serverPids.map((pid, i) => cpuSince(pid, joinServer0[i]!))
    const joinClient = pairs.map((p, i) => cpuSince(p.generator.pid, joinClient0[i]!))
    const joinWallSeconds = joinClient[0]!.wallSeconds
    const clientCoreShare = joinClient.reduce((sum, use) => sum + use.coreShare, 0)

    const redisAfterJoin = rssBytes(redis.pid)
    for (const [i, p] of pairs.entries()) {
      nodes[i]!.join = joins[i]
      nodes[i]!.afterJoin = await serverMemory(p.node)
    }
    const hold0 = serverPids.map((pid) => cpuSample(pid))
    await new Promise((resolve) => setTimeout(resolve, c.holdMs))
    const hold = serverPids.map((pid, i) => cpuSince(pid, hold0[i]!))
    for (const [i, p] of pairs.entries()) {
      nodes[i]!.held = await p.generator.rpc.call<{ open: number, closed: number }>('soakCheck', {})
      nodes[i]!.afterHold = await serverMemory(p.node)
    }
    const redisAfterHold = rssBytes(redis.pid)

    const sum = (f: (n: NodeSoak) => number): number => nodes.reduce((total, n) => total + f(n), 0)
    const joined = sum((n) => n.join?.joined ?? 0)
    const per = Math.max(1, joined)
    const kiB = (bytes: number): number => Math.round(bytes / per / 102.4) / 10
    const miB = (bytes: number): number => Math.round(bytes / 104857.6) / 10
    const nodeCoreShare = (uses: typeof hold): number => pct(uses[0]!.coreShare + uses[1]!.coreShare)
    report.summary.signalling = {
      peersHeld: sum((n) => n.held?.open ?? 0),
      joinFailures: sum((n) => n.join?.failed ?? 0),
      rssKiBPerPeer: kiB(sum((n) => n.afterJoin!.rss - n.before.rss)),
      heapKiBPerPeer: kiB(sum((n) => n.afterJoin!.heapUsed - n.before.heapUsed)),
      rssMiBNodeA: miB(nodes[0]!.afterHold!.rss),
      rssMiBNodeB: miB(nodes[1]!.afterHold!.rss),
      redisRssMiB: miB(redisAfterHold),
      redisRssKiBPerPeer: kiB(redisAfterJoin - redisBefore),
      joinsPerSecond: Math.round(joined / joinWallSeconds),
      serverUsPerJoin: perUnitUs(joinServer[0]!.cpuSeconds + joinServer[1]!.cpuSeconds, joined),
      redisUsPerJoin: perUnitUs(joinServer[2]!.cpuSeconds, joined),
      idleServerCoreShare: nodeCoreShare(hold),
      idleRedisCoreShare: pct(hold[2]!.coreShare),
      clientSaturated: Number(clientCoreShare >= CLIENT_SATURATED)
    }
    report.details.signalling = {
      nodes,
      redis: { version: redis.version, pid: redis.pid, pinned: redis.pinned, keyPrefix: BENCH_REDIS_PREFIX, rss: { before: redisBefore, afterJoin: redisAfterJoin, afterHold: redisAfterHold } },
      join: { wallSeconds: joinWallSeconds, serverCoreShare: nodeCoreShare(joinServer), redisCoreShare: pct(joinServer[2]!.coreShare), clientCoreShare: pct(clientCoreShare) },
      hold: { nodesCoreShare: nodeCoreShare(hold), redisCoreShare: pct(hold[2]!.coreShare) }
    }
    report.notes.push(`${perNode} peers per node; nodes A and B and redis-server ${redis.version} share the server core, the two generators the client core; ` +
      'RSS and heap per peer are summed over both nodes, Redis\'s own RSS is apart')
    const firstError = nodes.map((n) => n.join?.firstError).find((e) => e !== undefined)
    if (firstError !== undefined) report.notes.push(`first join error: ${firstError}`)
    log(`soak on two nodes: ${report.summary.signalling.peersHeld}/${peers} held, ${report.summary.signalling.rssKiBPerPeer} KiB RSS/peer (nodes), ` +
      `Redis ${report.summary.signalling.redisRssMiB} MiB, ${report.summary.signalling.joinsPerSecond} joins/s`)
  })
}

// (5) join/leave churn ------------------------------------------------------------------------------------------

interface ChurnStepReport extends ChurnStepResult { serverUsPerJoin: number, serverCoreShare: number, clientCoreShare: number, clientSaturated: boolean, sustained: boolean }

export async function joinChurn (config: BenchConfig): Promise<WorkloadReport> {
  const c = config.churn
  const report = newReport(`(5) Join/leave churn: ${c.rooms} rooms each with a resident peer; joins stepped in rate, each joiner leaves at once`)
  await withChildren(async (launchChild) => {
    // every server up at once on the server core, each with its own generator and residents on the other, so that
    // the searches can take turns step by step as the relay's do: a slow spell of the shared machine (or the
    // sockets the soak before left closing) then falls on all of them rather than on whichever ran first
    const sides: Array<{ kind: RelayKind, server: Launched<{ port: number }>, generator: Launched<{ pid: number }> }> = []
    for (const kind of RELAY_KINDS) {
      try {
        const server = await launchChild<{ port: number }>({ name: `${kind} server`, entry: './server-host.ts', args: [kind], core: SERVER_CORE, nodeFlags: ['--expose-gc'] })
        const generator = await launchChild<{ pid: number }>({ name: `${kind} load generator`, entry: './load-generator.ts', core: CLIENT_CORE })
        await generator.rpc.call('churnSetup', { kind, port: server.info.port, rooms: c.rooms }, 120_000)
        sides.push({ kind, server, generator })
      } catch (err) {
        report.errors[kind] = (err as Error).message
        log(`${report.title} / ${kind}: ${(err as Error).message}`)
      }
    }
    const inTurn = takingTurns()
    await Promise.all(sides.map(async ({ kind, server, generator }) => {
      try {
        // stepped up, a failed step retried once, then bisected, as the relay's throughput is (bench/rate-search.ts)
        const search = await searchMaxRate<ChurnStepReport>(
          { steps: c.steps, bisectRounds: c.bisectRounds, roundTo: c.roundTo, retryPauseMs: c.retryPauseMs },
          async (rate, phase, attempt) => await inTurn(async () => {
            const m = await measureCall<ChurnStepResult>(server.pid, generator, 'churnStep', { rate, durationMs: c.stepMs, drainMs: c.drainMs }, 120_000)
            const r = m.result
            const total = Math.round(rate * c.stepMs / 1000)
            const sustained = r.failed === 0 && r.skipped === 0 && r.joined >= 0.95 * total && r.joinLatency.p99 <= c.sustainedP99Ms
            log(`churn ${kind} ${phase} ${rate}/s${attempt > 1 ? ' (retry)' : ''}: ${r.achievedRate}/s p99 ${r.joinLatency.p99} ms failed ${r.failed} skipped ${r.skipped} server ${pct(m.server.coreShare)}% client ${pct(m.client.coreShare)}%`)
            return { ...r, serverUsPerJoin: perUnitUs(m.server.cpuSeconds, r.joined), ...cpuOf(m), sustained }
          }))
        const { rows: list, best: top } = decidedProbes(search)
        // with no sustained step, the latency and cost columns show the first (lowest) step
        const shown = top ?? list[0]!
        // CPU per join at one rate every server sustains, so that the servers compare at the same load
        const common = list.find((p) => p.offeredRate === c.compareRate && p.sustained)
        report.details[kind] = { steps: list, failedAt: search.failedAt }
        report.summary[kind] = {
          maxSustainedJoinsPerSecond: top?.achievedRate ?? 0,
          joinP50AtMax: shown.joinLatency.p50,
          joinP99AtMax: shown.joinLatency.p99,
          serverUsPerJoinAtMax: shown.serverUsPerJoin,
          serverUsPerJoinAtCompareRate: common?.serverUsPerJoin ?? Number.NaN,
          ...(search.failedAt === undefined ? {} : { lowestFailedJoinRate: search.failedAt }),
          clientSaturated: Number(list.some((p) => p.tries.some((t) => t.clientSaturated)))
        }
      } catch (err) {
        report.errors[kind] = (err as Error).message
        log(`${report.title} / ${kind}: ${(err as Error).message}`)
      }
    }))
  })
  report.notes.push('the servers run side by side on the server core, each with its own load generator and residents on the other; ' +
    'their searches take turns step by step, with the same retry and bisection as the relay\'s')
  return report
}

// (6) REST rates ------------------------------------------------------------------------------------------------

export async function restRates (config: BenchConfig): Promise<WorkloadReport> {
  const c = config.rest
  const report = newReport(`(6) REST rates: ${c.connections} keep-alive connections, closed loop, ${c.rounds} rounds of ${c.roundMs / 1000} s per route, the routes taking turns`)
  const auth = { Authorization: `Bearer ${BENCH_API_KEY}` }
  // the REST generator polls, so its own core share is always high: a run is flagged when its server was not busy
  const serverBound = (m: Measured<RestResult>): boolean => m.server.coreShare >= SERVER_BOUND
  const routes: RestRoute[] = [
    { name: 'tokens', params: { method: 'POST', path: '/rooms/rest/tokens', headers: auth, body: '{}', expectStatus: 201 } },
    { name: 'rooms', params: { method: 'POST', path: '/rooms', headers: auth, body: '{}', expectStatus: 201 } },
    { name: 'hello', params: { method: 'GET', path: '/hello', headers: {}, expectStatus: 200 } },
    // the same request as the token route's, Authorization header included (unread), so that only the server differs
    { name: 'post', params: { method: 'POST', path: '/echo-token', headers: auth, body: '{}', expectStatus: 201 } }
  ]
  const measured: Partial<Record<RestRoute['name'], Array<Measured<RestResult>>>> = {}
  try {
    // the room route gets a server of its own: the rooms its rounds create (hundreds of thousands) stay in memory, and
    // a server holding them spends more on garbage collection per token than a fresh one (2 % more, 7 % before rooms
    // were made lighter), as the bare app, which keeps nothing, would not
    await withSession('signalling', {}, async (product) => {
      await product.call('createRoom', { port: product.port, roomId: 'rest' })
      await withSession('signalling', {}, async (roomsProduct) => {
        await withSession('fastify-hello', {}, async (hello) => {
          const sessions: Record<RestRoute['name'], Session> = { tokens: product, rooms: roomsProduct, hello, post: hello }
          const run = async (route: RestRoute, durationMs: number): Promise<Measured<RestResult>> => {
            const session = sessions[route.name]
            const m = await session.measure<RestResult>('rest', { port: session.port, connections: c.connections, warmupMs: 0, durationMs, ...route.params }, 60_000)
            if (m.result.unexpected > 0) throw new Error(`${route.name}: ${m.result.unexpected} unexpected answers, first: ${m.result.firstUnexpected}`)
            return m
          }
          // a warm-up per route, not counted; then the routes take turns, in rotating order, so that a slow spell of the
          // shared machine falls on all of them rather than on whichever route ran then (the routes used to be measured
          // one after another, once each)
          for (const route of routes) await run(route, c.warmupMs)
          for (let round = 0; round < c.rounds; round++) {
            for (const route of routes.map((_, i) => routes[(i + round) % routes.length]!)) {
              const m = await run(route, c.roundMs)
              ;(measured[route.name] ??= []).push(m)
              log(`rest ${route.name} round ${round + 1}: ${m.result.requestsPerSecond} req/s, ${perUnitUs(m.server.cpuSeconds, m.result.requests)} us/req, server ${pct(m.server.coreShare)}%`)
            }
          }
        })
      })
    })
  } catch (err) {
    for (const kind of ['signalling', 'fastify-hello'] as const) report.errors[kind] = (err as Error).message
    log(`${report.title}: ${(err as Error).message}`)
    return report
  }
  const merged = Object.fromEntries(Object.entries(measured).map(([name, list]) => [name, mergeRestRounds(list, c.roundMs)])) as Record<RestRoute['name'], MergedRest>
  const { tokens, rooms, hello, post } = merged
  report.details.signalling = { tokens: restDetails(tokens), rooms: restDetails(rooms) }
  report.summary.signalling = {
    tokensPerSecond: tokens.requestsPerSecond,
    tokensP99: tokens.p99,
    tokensServerUsPerRequest: perUnitUs(tokens.measured.server.cpuSeconds, tokens.requests),
    roomsPerSecond: rooms.requestsPerSecond,
    roomsP99: rooms.p99,
    clientSaturated: Number(!serverBound(tokens.measured) || !serverBound(rooms.measured))
  }
  report.details['fastify-hello'] = { hello: restDetails(hello), post: restDetails(post) }
  report.summary['fastify-hello'] = {
    helloPerSecond: hello.requestsPerSecond,
    helloP99: hello.p99,
    helloServerUsPerRequest: perUnitUs(hello.measured.server.cpuSeconds, hello.requests),
    postPerSecond: post.requestsPerSecond,
    postP99: post.p99,
    postServerUsPerRequest: perUnitUs(post.measured.server.cpuSeconds, post.requests),
    helloClientSaturated: Number(!serverBound(hello.measured)),
    postClientSaturated: Number(!serverBound(post.measured)),
    clientSaturated: Number(!serverBound(hello.measured) || !serverBound(post.measured))
  }
  report.notes.push(`each route warmed up for ${c.warmupMs / 1000} s, then ${c.rounds} rounds of ${c.roundMs / 1000} s per route in rotating order; ` +
    'rates and CPU per request over all rounds, p99 the highest of the rounds; the token route and POST /rooms on two servers of their own, ' +
    '/hello and the bare POST on the bare app')
  return report
}

interface RestRoute {
  name: 'tokens' | 'rooms' | 'hello' | 'post'
  params: { method: string, path: string, headers: Record<string, string>, body?: string, expectStatus: number }
}

interface MergedRest {
  requests: number
  requestsPerSecond: number
  p99: number
  roundRequestsPerSecond: number[]
  /** The rounds' CPU added up. */
  measured: Measured<RestResult>
}

function mergeRestRounds (list: Array<Measured<RestResult>>, roundMs: number): MergedRest {
  const requests = list.reduce((a, m) => a + m.result.requests, 0)
  const seconds = list.length * roundMs / 1000
  const worst = list.reduce((a, m) => m.result.latency.p99 > a.result.latency.p99 ? m : a)
  return {
    requests,
    requestsPerSecond: Math.round(requests / seconds),
    p99: worst.result.latency.p99,
    roundRequestsPerSecond: list.map((m) => m.result.requestsPerSecond),
    measured: {
      result: { ...worst.result, requests, requestsPerSecond: Math.round(requests / seconds) },
      ...cpuAddedUp(list)
    }
  }
}

const restDetails = (m: MergedRest): object => ({ ...m.measured.result, roundRequestsPerSecond: m.roundRequestsPerSecond, ...cpuOf(m.measured) })

// (7) Redis cross-node hop --------------------------------------------------------------------------------------

type Placement = 'sameNode' | 'crossNode' | 'inMemory' | 'crossNodeCluster'

interface PlacementTotals {
  placement: Placement
  description: string
  rounds: number
  sent: number
  received: number
  lost: number
  wallSeconds: number
  maxSendLagMs: number
  /** Mean over the rounds of each round's mean send lag. */
  meanSendLagMs: number
  /** CPU seconds over the measured rounds. */
  cpu: { nodeA: number, nodeB: number, inMemory: number, redis: number, generator: number, nodeC: number, nodeD: number, cluster: number }
  roundP50s: number[]
  latency?: LatencySummary
}

/**
 * Two product nodes A and B on the bench's own redis-server, plus an in-memory node for context, all on the server
 * core; one load generator on the other core. The same rate of candidate-size frames, in turn, through pairs with both
 * peers on A (same-node hop, Redis mode on), pairs with one peer on A and one on B (cross-node hop: A → Redis → B and
 * back), and pairs on the in-memory node. The placements alternate round by round so that drift hits all alike.
 */
export async function redisCrossNode (config: BenchConfig, relay?: WorkloadReport): Promise<WorkloadReport> {
  const c = config.redis
  const report = newReport(`(7) Redis mode: cross-node hop against a same-node hop, ${c.pairs} pairs each, ${c.rate} msgs/s of candidates${c.nodes === 2 ? '' : `, ${c.nodes} nodes per deployment`}`)
  return await onBenchRedis(report, async (redis, launchChild) => {
    const server = async (name: string, args: string[]): Promise<Launched<{ port: number }>> =>
      await launchChild<{ port: number }>({ name, entry: './server-host.ts', args, core: SERVER_CORE, nodeFlags: ['--expose-gc'] })
    // beyond A and B (and C and D), the nodes --redis-nodes asks for: each pair still spans two nodes
    const others = async (name: string, target: string): Promise<Array<Launched<{ port: number }>>> =>
      await Promise.all(Array.from({ length: c.nodes - 2 }, async (_, i) => await server(`${name} ${i + 3}`, ['signalling', target])))
    const nodeA = await server('redis node A', ['signalling', redis.url])
    const nodeB = await server('redis node B', ['signalling', redis.url])
    const moreOnRedis = await others('redis node', redis.url)
    const memory = await server('in-memory node', ['signalling'])
    // nodes C and D on a three-master Redis Cluster on the same core, for the cross-node hop with sharded pub/sub
    const cluster = redisClusterAvailable() ? await startBenchRedisCluster(SERVER_CORE) : undefined
    try {
    const nodeC = cluster === undefined ? undefined : await server('cluster node C', ['signalling', cluster.target])
    const nodeD = cluster === undefined ? undefined : await server('cluster node D', ['signalling', cluster.target])
    const moreOnCluster = cluster === undefined ? [] : await others('cluster node', cluster.target)
    const spread = c.nodes === 2 ? '' : `, pairs spread over ${c.nodes} nodes`
    const generator = await launchChild<{ pid: number }>({ name: 'redis load generator', entry: './load-generator.ts', core: CLIENT_CORE })
    const a = nodeA.info.port
    const b = nodeB.info.port
    const setups: Record<Placement, { port: number, ports: number[], roomPrefix: string, description: string }> = {
      sameNode: { port: a, ports: [a], roomPrefix: 'same', description: 'both peers on node A (Redis mode)' },
      crossNode: { port: a, ports: [a, b, ...moreOnRedis.map((n) => n.info.port)], roomPrefix: 'cross', description: `one peer on node A, one on node B (Redis mode${spread})` },
      inMemory: { port: memory.info.port, ports: [memory.info.port], roomPrefix: 'mem', description: 'both peers on one in-memory node' },
      crossNodeCluster: { port: nodeC?.info.port ?? 0, ports: [nodeC?.info.port ?? 0, nodeD?.info.port ?? 0, ...moreOnCluster.map((n) => n.info.port)], roomPrefix: 'shard', description: `one peer on node C, one on node D (Redis Cluster, 3 masters${spread})` }
    }
    const placements = (Object.keys(setups) as Placement[]).filter((placement) => placement !== 'crossNodeCluster' || cluster !== undefined)
    if (cluster === undefined) report.notes.push('no Redis Cluster row: redis-cli not found')
    let bytesPerMessage = 0
    for (const placement of placements) {
      const setup = setups[placement]
      const done = await generator.rpc.call<{ bytesPerMessage: number }>('relaySetup', {
        name: placement, kind: 'signalling', port: setup.port, ports: setup.ports, roomPrefix: setup.roomPrefix, rooms: c.pairs, peersPerRoom: 2, candidatesOnly: true
      }, 120_000)
      bytesPerMessage = done.bytesPerMessage
    }
    report.notes.push(`mean frame ${bytesPerMessage} B (trickled ICE candidates); ${c.rounds} round${c.rounds === 1 ? '' : 's'} of ${c.roundMs / 1000} s per placement, placements alternating; ` +
      'latencies run from the scheduled send time, so they include the generator\'s timer lateness (meanSendLagMs), alike for every placement; ' +
      `redis-server ${redis.version}; nodes A and B, the in-memory node and Redis share the server core${redis.pinned ? ` (core ${SERVER_CORE})` : ''}`)
    const step = (placement: Placement, durationMs: number, accumulate: boolean): Promise<RelayStepResult> =>
      generator.rpc.call<RelayStepResult>('relayStep', { name: placement, rate: c.rate, durationMs, drainMs: c.drainMs, accumulate }, durationMs + c.drainMs + 60_000)
    // warm-up: JIT, Redis script cache, subscriptions
    for (const placement of placements) await step(placement, c.warmupMs, false)

    const fresh = (placement: Placement): PlacementTotals => ({
      placement, description: setups[placement].description, rounds: 0, sent: 0, received: 0, lost: 0, wallSeconds: 0, maxSendLagMs: 0, meanSendLagMs: 0,
      cpu: { nodeA: 0, nodeB: 0, inMemory: 0, redis: 0, generator: 0, nodeC: 0, nodeD: 0, cluster: 0 }, roundP50s: []
    })
    const totals: Record<Placement, PlacementTotals> = { sameNode: fresh('sameNode'), crossNode: fresh('crossNode'), inMemory: fresh('inMemory'), crossNodeCluster: fresh('crossNodeCluster') }
    const pids: Partial<Record<keyof PlacementTotals['cpu'], number[]>> = {
      // the further nodes count with B (and D): the servers' CPU per message is the sum over every node
      nodeA: [nodeA.pid], nodeB: [nodeB.pid, ...moreOnRedis.map((n) => n.pid)], inMemory: [memory.pid], redis: [redis.pid], generator: [generator.pid],
      ...(cluster === undefined ? {} : { nodeC: [nodeC!.pid], nodeD: [nodeD!.pid, ...moreOnCluster.map((n) => n.pid)], cluster: cluster.pids })
    }
    const keys = Object.keys(pids) as Array<keyof PlacementTotals['cpu']>
    for (let round = 0; round < c.rounds; round++) {
      // rotate the order, so that no placement always runs first or last in a round
      const order = placements.map((_, i) => placements[(i + round) % placements.length]!)
      for (const placement of order) {
        const before = new Map(keys.map((k) => [k, pids[k]!.map((pid) => cpuSample(pid))]))
        const r = await step(placement, c.roundMs, round > 0)
        const t = totals[placement]
        for (const key of keys) {
          pids[key]!.forEach((pid, i) => {
            const use = cpuSince(pid, before.get(key)![i]!)
            t.cpu[key] += use.cpuSeconds
            if (key === 'redis') t.wallSeconds += use.wallSeconds
          })
        }
        t.rounds++
        t.sent += r.sent
        t.received += r.received
        t.lost += r.lost
        t.maxSendLagMs = Math.max(t.maxSendLagMs, r.maxSendLagMs)
        t.meanSendLagMs = round3((t.meanSendLagMs * (t.rounds - 1) + r.meanSendLagMs) / t.rounds)
        t.roundP50s.push(r.latency.p50)
        t.latency = r.cumulativeLatency
        log(`redis ${placement} round ${round + 1}: p50 ${r.latency.p50} p99 ${r.latency.p99} ms, lost ${r.lost}`)
      }
    }

    const same = totals.sameNode
    const cross = totals.crossNode
    const mem = totals.inMemory
    const p = (t: PlacementTotals, key: 'p50' | 'p99' | 'p999'): number => t.latency?.[key] ?? Number.NaN
    const share = (cpuSeconds: number, t: PlacementTotals): number => t.wallSeconds > 0 ? pct(cpuSeconds / t.wallSeconds) : Number.NaN
    const clientShare = Math.max(...placements.map((k) => totals[k].cpu.generator / Math.max(1e-9, totals[k].wallSeconds)))
    const summary: Metrics = {
      rate: c.rate,
      pairs: c.pairs,
      nodes: c.nodes,
      sameNodeP50: p(same, 'p50'),
      sameNodeP99: p(same, 'p99'),
      sameNodeP999: p(same, 'p999'),
      crossNodeP50: p(cross, 'p50'),
      crossNodeP99: p(cross, 'p99'),
      crossNodeP999: p(cross, 'p999'),
      crossMinusSameP50: Math.round((p(cross, 'p50') - p(same, 'p50')) * 1000) / 1000,
      inMemoryP50: p(mem, 'p50'),
      inMemoryP99: p(mem, 'p99'),
      inMemoryP999: p(mem, 'p999'),
      sameNodeServerUsPerMessage: perUnitUs(same.cpu.nodeA + same.cpu.nodeB, same.received),
      crossNodeServerUsPerMessage: perUnitUs(cross.cpu.nodeA + cross.cpu.nodeB, cross.received),
      inMemoryServerUsPerMessage: perUnitUs(mem.cpu.inMemory, mem.received),
      sameNodeRedisUsPerMessage: perUnitUs(same.cpu.redis, same.received),
      crossNodeRedisUsPerMessage: perUnitUs(cross.cpu.redis, cross.received),
      crossNodeServerCoreShare: share(cross.cpu.nodeA + cross.cpu.nodeB, cross),
      crossNodeRedisCoreShare: share(cross.cpu.redis, cross),
      ...(cluster === undefined
        ? {}
        : {
            clusterCrossNodeP50: p(totals.crossNodeCluster, 'p50'),
            clusterCrossNodeP99: p(totals.crossNodeCluster, 'p99'),
            clusterCrossNodeServerUsPerMessage: perUnitUs(totals.crossNodeCluster.cpu.nodeC + totals.crossNodeCluster.cpu.nodeD, totals.crossNodeCluster.received),
            clusterCrossNodeRedisUsPerMessage: perUnitUs(totals.crossNodeCluster.cpu.cluster, totals.crossNodeCluster.received)
          }),
      lost: same.lost + cross.lost + mem.lost + totals.crossNodeCluster.lost,
      meanSendLagMs: round3(Math.max(same.meanSendLagMs, cross.meanSendLagMs, mem.meanSendLagMs)),
      clientSaturated: Number(clientShare >= CLIENT_SATURATED)
    }
    // for context: the in-memory node of workload (1), at its own (higher) half-load rate and message mix
    const relayP50 = relay?.summary.signalling?.halfLoadP50
    if (relayP50 !== undefined && Number.isFinite(relayP50)) {
      summary.relayHalfLoadP50 = relayP50
      report.notes.push(`in-memory p50 of workload (1) at ${relay?.summary.signalling?.halfLoadRate ?? '?'} msgs/s (negotiation mix): ${relayP50} ms`)
    }
    report.summary.signalling = summary
    report.details.signalling = {
      redis: { version: redis.version, pid: redis.pid, pinned: redis.pinned, keyPrefix: BENCH_REDIS_PREFIX },
      bytesPerMessage,
      placements: totals
    }
    if (summary.lost! > 0) report.notes.push(`${summary.lost} messages were not delivered within ${c.drainMs} ms of the end of their round`)
    log(`redis: same-node p50 ${summary.sameNodeP50} ms, cross-node p50 ${summary.crossNodeP50} ms, difference ${summary.crossMinusSameP50} ms; in-memory p50 ${summary.inMemoryP50} ms` +
      (cluster === undefined ? '' : `; cross-node on the cluster p50 ${summary.clusterCrossNodeP50} ms, Redis ${summary.clusterCrossNodeRedisUsPerMessage} µs/message`))
    } finally {
      await cluster?.stop()
    }
  })
}
