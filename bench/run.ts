// The benchmark: `npm run bench` (full, several minutes) or `npm run bench -- --smoke` (every workload for a second or
// two). Writes bench/results/<timestamp>.json and .md (or under --out DIR) and prints the Markdown table.
import { execFileSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { join, relative, resolve } from 'node:path'
import { FULL, SMOKE, type BenchConfig } from './bench-config.js'
import { canPin, killAll, leftovers, repoRoot, startedPids } from './child-processes.js'
import { topSelfTime } from './cpu-profile.js'
import { writeFlameGraphs } from './flame-graph.js'
import { fileLimitFor } from './process-stats.js'
import { checkTargets, markdown, type BenchReport } from './report.js'
import {
  idleSoak, idleSoakTwoNodes, joinChurn, meshRoom, negotiationBurst, redisCrossNode, relayThroughput, restRates, type WorkloadReport
} from './scenarios.js'
import { BENCH_API_KEY } from './servers.js'
import { withSession, type Session } from './sessions.js'
import type { RestResult } from './workloads/rest-rate.js'

const args = process.argv.slice(2)
const smoke = args.includes('--smoke') || process.env.BENCH_SMOKE === '1'
const outIndex = args.indexOf('--out')
const outDir = resolve(outIndex >= 0 && args[outIndex + 1] !== undefined ? args[outIndex + 1]! : join(repoRoot, 'bench', 'results'))
const onlyIndex = args.indexOf('--only')
const only = onlyIndex >= 0 ? new Set(args[onlyIndex + 1]?.split(',')) : undefined
const config: BenchConfig = smoke ? SMOKE : FULL
if (args.includes('--no-profile')) config.profile.enabled = false
// workload (7) with other counts of rooms or nodes, or another rate, to see how its cost per message grows with them
for (const [flag, key] of [['--redis-pairs', 'pairs'], ['--redis-nodes', 'nodes'], ['--redis-rate', 'rate']] as const) {
  const index = args.indexOf(flag)
  if (index < 0) continue
  const value = Number(args[index + 1])
  if (!Number.isInteger(value) || value < (key === 'nodes' ? 2 : 1)) throw new Error(`${flag} takes a whole number (nodes: 2 or more)`)
  config.redis[key] = value
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    killAll()
    process.exit(130)
  })
}
process.on('exit', killAll)

const log = (line: string): void => { process.stderr.write(`[bench] ${line}\n`) }

function commit (): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' }).trim()
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'lib', 'plugins', 'routes', 'app.ts', 'index.ts'], { cwd: repoRoot, encoding: 'utf8' }).trim() !== ''
    return dirty ? `${head} with uncommitted server changes` : head
  } catch {
    return 'unknown'
  }
}

const started = performance.now()
const timestamp = new Date().toISOString().replace(/[:.]/g, '-')
const name = smoke ? `${timestamp}-smoke` : timestamp
const fileLimit = fileLimitFor(config.soak.peers + 1024)
const meta = {
  timestamp,
  mode: config.mode,
  command: `npm run bench${smoke ? ' -- --smoke' : ''}`,
  node: process.version,
  cpuModel: cpus()[0]?.model ?? 'unknown',
  cpus: cpus().length,
  memoryGiB: Math.round(totalmem() / 2 ** 30),
  pinned: canPin,
  fileLimit: { soft: fileLimit.soft, hard: fileLimit.hard, note: fileLimit.note },
  commit: commit(),
  config,
  durationSeconds: 0
}

const workloads: Record<string, WorkloadReport> = {}
const plan: Array<[string, () => Promise<WorkloadReport> | WorkloadReport]> = [
  ['relayThroughput', async () => await relayThroughput(config)],
  ['negotiationBurst', async () => await negotiationBurst(config)],
  ['meshRoom', async () => await meshRoom(config)],
  ['idleSoak', async () => await idleSoak(config, fileLimit)],
  ['idleSoakTwoNodes', async () => await idleSoakTwoNodes(config, fileLimit)],
  ['joinChurn', async () => await joinChurn(config)],
  ['restRates', async () => await restRates(config)],
  ['redisCrossNode', async () => await redisCrossNode(config, workloads.relayThroughput)]
]
for (const [key, run] of plan) {
  if (only !== undefined && !only.has(key)) continue
  log(`--- ${key}`)
  const t0 = performance.now()
  try {
    workloads[key] = await run()
    log(`${key} took ${Math.round((performance.now() - t0) / 1000)} s`)
  } catch (err) {
    workloads[key] = { title: key, available: false, reason: `failed: ${(err as Error).message}`, summary: {}, details: {}, errors: {}, notes: [] }
  }
}

const profiles: BenchReport['profiles'] = {}
// with --only, the profiles run only when asked for by name (`--only relayThroughput,profiles`)
if (config.profile.enabled && (only === undefined || only.has('profiles'))) {
  const dir = join(outDir, `${name}-profiles`)
  mkdirSync(dir, { recursive: true })
  const halfRate = workloads.relayThroughput?.summary.signalling?.halfLoadRate ?? 5000
  type Case = [title: string, setup: (s: Session) => Promise<unknown>, measured: (s: Session) => Promise<unknown>]
  const cases: Case[] = [
    [`relay at ${halfRate} msgs/s`, async (s) => {
      await s.call('relaySetup', { kind: 'signalling', port: s.port, rooms: config.relay.rooms, peersPerRoom: 2 })
      await s.call('relayStep', { rate: halfRate, durationMs: 1000, drainMs: 1000 })
    }, async (s) => await s.call('relayStep', { rate: halfRate, durationMs: config.profile.durationMs, drainMs: 0 })],
    ['join/leave churn at 1,000 joins/s', async (s) => {
      await s.call('churnSetup', { kind: 'signalling', port: s.port, rooms: config.churn.rooms }, 120_000)
      await s.call('churnStep', { rate: 1000, durationMs: 1000, drainMs: 1000 }, 120_000)
    }, async (s) => await s.call('churnStep', { rate: 1000, durationMs: config.profile.durationMs, drainMs: 0 }, 120_000)],
    ['POST /rooms/{id}/tokens, closed loop', async (s) => {
      await s.call('createRoom', { port: s.port, roomId: 'rest' })
    }, async (s) => await s.call<RestResult>('rest', {
      port: s.port, method: 'POST', path: '/rooms/rest/tokens', headers: { Authorization: `Bearer ${BENCH_API_KEY}` }, body: '{}',
      expectStatus: 201, connections: config.rest.connections, warmupMs: 1000, durationMs: config.profile.durationMs
    })]
  ]
  for (const [index, [title, setup, measured]] of cases.entries()) {
    const caseDir = join(dir, String(index + 1))
    mkdirSync(caseDir, { recursive: true })
    const file = join(caseDir, 'server.cpuprofile')
    log(`--- profile: ${title}`)
    try {
      // set-up and warm-up first; the profile covers the measured stretch alone
      await withSession('signalling', {}, async (s) => {
        await setup(s)
        await s.callServer('profileStart', { intervalUs: config.profile.intervalUs })
        await measured(s)
        await s.callServer('profileStop', { file })
      })
      // folded stacks and an SVG flame graph next to the profile: readable without any tool
      const flame = writeFlameGraphs(file, `${title} (server CPU)`)
      profiles[title] = {
        file: relative(repoRoot, file),
        flameGraph: relative(repoRoot, flame.svg),
        folded: relative(repoRoot, flame.folded),
        ...topSelfTime(file, repoRoot, 15)
      }
    } catch (err) {
      profiles[title] = { error: (err as Error).message }
    }
  }
}

meta.durationSeconds = Math.round((performance.now() - started) / 1000)
const report: BenchReport = {
  meta,
  workloads,
  checks: checkTargets(workloads),
  profiles,
  processes: { started: [...startedPids], leftover: leftovers() }
}
mkdirSync(outDir, { recursive: true })
const table = markdown(report)
writeFileSync(join(outDir, `${name}.json`), JSON.stringify(report, null, 2) + '\n')
writeFileSync(join(outDir, `${name}.md`), table + '\n')
process.stdout.write(table + '\n')
log(`wrote ${join(outDir, `${name}.json`)} and .md in ${meta.durationSeconds} s`)
if (report.processes.leftover.length > 0) {
  log(`killing leftover children ${report.processes.leftover.join(', ')}`)
  killAll()
}
