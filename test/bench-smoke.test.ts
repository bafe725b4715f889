// The benchmark's smoke mode runs every workload for a second or so: this proves the harness still works and that its
// report is well formed. It asserts nothing about speed; the targets are read from a full run's report.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const root = fileURLToPath(new URL('..', import.meta.url))

const WORKLOADS: Record<string, string[]> = {
  relayThroughput: ['signalling', 'signalling-no-window', 'ws-relay', 'peerjs'],
  negotiationBurst: ['signalling', 'ws-relay', 'peerjs'],
  meshRoom: ['signalling', 'ws-relay', 'peerjs'],
  idleSoak: ['signalling', 'ws-relay', 'peerjs'],
  idleSoakTwoNodes: ['signalling'],
  joinChurn: ['signalling', 'ws-relay', 'peerjs'],
  restRates: ['signalling', 'fastify-hello'],
  redisCrossNode: ['signalling']
}

const REDIS_WORKLOADS = new Set(['idleSoakTwoNodes', 'redisCrossNode'])

function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

interface Workload { title: string, available: boolean, reason?: string, summary: Record<string, Record<string, unknown>>, errors: Record<string, string> }
interface Report {
  meta: { mode: string, node: string, cpus: number }
  workloads: Record<string, Workload>
  checks: Array<{ target: string, met: boolean }>
  profiles: Record<string, { file?: string, flameGraph?: string, folded?: string, hotSpots?: unknown[], error?: string }>
  processes: { started: number[], leftover: number[] }
}

// the smoke run now starts a Redis Cluster too (workload 7): longer than the suite's 180 s per file
t.setTimeout(330_000)

t.test('npm run bench -- --smoke writes a well-formed report and leaves no process behind', async (t) => {
  t.setTimeout(320_000)
  const out = mkdtempSync(join(tmpdir(), 'bench-smoke-'))
  t.teardown(() => rmSync(out, { recursive: true, force: true }))
  // coverage stays with the test suite: tap's coverage of the bench's tsx-compiled processes maps onto the
  // wrong lines when merged with the suite's own, so they keep none
  const env: NodeJS.ProcessEnv = { ...process.env, BENCH_SMOKE: '1', _TAPJS_PROCESSINFO_COVERAGE_: '0' }
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--smoke', '--out', out], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => { stderr = (stderr + chunk.toString()).slice(-20_000) })
  child.stdout.resume()
  const killer = setTimeout(() => child.kill('SIGKILL'), 300_000)
  const [code] = await once(child, 'exit') as [number | null]
  clearTimeout(killer)
  t.equal(code, 0, 'the smoke run exits 0', { stderr })

  const files = readdirSync(out)
  const json = files.find((f) => f.endsWith('-smoke.json'))
  t.ok(json, 'a JSON report is written')
  t.ok(files.some((f) => f.endsWith('-smoke.md')), 'a Markdown table is written next to it')
  if (json === undefined) return
  const report = JSON.parse(readFileSync(join(out, json), 'utf8')) as Report
  t.equal(report.meta.mode, 'smoke')

  for (const [key, kinds] of Object.entries(WORKLOADS)) {
    const workload = report.workloads[key]
    t.ok(workload, `workload ${key} is in the report`)
    if (workload === undefined) continue
    t.type(workload.title, 'string')
    if (!workload.available) {
      t.match(workload.reason, /^not available: .+/, `${key} says why it is not available`)
      // CI installs redis-server (.ci/run): there the Redis workloads must have run
      if (REDIS_WORKLOADS.has(key) && process.env.CI !== undefined && process.env.CI !== '') t.fail(`${key} ran under CI, where redis-server is installed`, { reason: workload.reason })
      continue
    }
    t.same(workload.errors, {}, `${key} ran without errors`)
    for (const kind of kinds) {
      const metrics = workload.summary[kind]
      t.ok(metrics !== undefined && Object.keys(metrics).length > 0, `${key} has metrics for ${kind}`)
      for (const [metric, value] of Object.entries(metrics ?? {})) {
        t.ok(typeof value === 'number' && Number.isFinite(value), `${key}.${kind}.${metric} is a number`, { found: value })
      }
    }
  }
  t.ok(report.checks.length > 0, 'the targets are checked')
  for (const check of report.checks) t.type(check.met, 'boolean', check.target)

  // the three CPU profiles, each with its flame graph and folded stacks next to it
  const profiles = Object.entries(report.profiles)
  t.equal(profiles.length, 3, 'three server CPU profiles are taken')
  for (const [title, profile] of profiles) {
    t.equal(profile.error, undefined, `profile "${title}" was taken`)
    for (const file of [profile.file, profile.flameGraph, profile.folded]) {
      t.ok(file !== undefined && existsSync(join(root, file)), `profile "${title}" wrote ${file ?? 'a file'}`)
    }
    t.ok(Array.isArray(profile.hotSpots) && profile.hotSpots.length > 0, `profile "${title}" lists its hot spots`)
  }

  t.same(report.processes.leftover, [], 'the run stopped every child it started')
  t.ok(report.processes.started.length >= 2, 'the servers and generators ran in processes of their own')
  const running = [child.pid!, ...report.processes.started].filter(alive)
  t.same(running, [], 'no process of the run is alive afterwards')
})
