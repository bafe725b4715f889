// A focused micro-harness for the join path: `npx tsx bench/churn-profile.ts [--rate N] [--rounds N] [--ms N]
// [--servers LIST] [--syscalls]`. Starts each server once (server on core 0, generator on core 1, as in `npm run
// bench`), sets up the churn workload's rooms and residents, and alternates rounds of joins at one fixed rate between
// the servers, so that all see the same background load. Prints per round the joins/s, p99, and the server's user
// and kernel CPU µs per join from /proc; then the medians, and the first server's total over each other's. LIST is
// `kind[:--node-flag...]` entries, e.g. `signalling,signalling:--no-allocation-site-pretenuring,ws-relay`.
// --syscalls counts the server's system calls per join under `strace -c` in one more round per server (at 500
// joins/s: strace slows every call). Not part of the report; `npm run bench -- --only joinChurn` is the record.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { killAll } from './child-processes.js'
import { cpuSample, hasCommand } from './process-stats.js'
import type { ServerKind } from './servers.js'
import { withSession, type Session } from './sessions.js'
import type { ChurnStepResult } from './workloads/join-churn.js'

const args = process.argv.slice(2)
const arg = (name: string): string | undefined => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined }
const rate = Number(arg('--rate') ?? 2000)
const rounds = Number(arg('--rounds') ?? 4)
const durationMs = Number(arg('--ms') ?? 4000)
const servers = (arg('--servers') ?? 'signalling,ws-relay,peerjs').split(',').map((entry) => {
  const [kind, ...nodeFlags] = entry.split(':')
  return { name: entry, kind: kind as ServerKind, nodeFlags }
})
const countSyscalls = args.includes('--syscalls')
const ROOMS = 1000
const SYSCALL_RATE = 500

for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => { killAll(); process.exit(130) })
process.on('exit', killAll)

interface Round { joinsPerSecond: number, p99: number, userUs: number, systemUs: number }
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN
const us = (seconds: number, joins: number): number => Math.round(seconds / joins * 1e7) / 10

async function step (session: Session, stepRate: number, stepMs: number): Promise<ChurnStepResult> {
  const m = await session.measure<ChurnStepResult>('churnStep', { rate: stepRate, durationMs: stepMs, drainMs: 3000 }, 120_000)
  if (m.result.failed > 0) throw new Error(`${session.kind}: ${m.result.failed} joins failed, first: ${m.result.firstError}`)
  return m.result
}

async function round (session: Session): Promise<Round> {
  const before = cpuSample(session.serverPid)
  const result = await step(session, rate, durationMs)
  const after = cpuSample(session.serverPid)
  return {
    joinsPerSecond: result.achievedRate,
    p99: result.joinLatency.p99,
    userUs: us(after.userSeconds - before.userSeconds, result.joined),
    systemUs: us(after.systemSeconds - before.systemSeconds, result.joined)
  }
}

/** System calls per join over one round at SYSCALL_RATE, from `strace -c` attached to the server. */
async function syscallsPerJoin (session: Session): Promise<Map<string, number>> {
  const file = join(tmpdir(), `churn-strace-${process.pid}-${session.serverPid}`)
  const strace = spawn('strace', ['-c', '-f', '-p', String(session.serverPid), '-o', file], { stdio: 'ignore' })
  // strace needs a moment to attach to every thread
  await new Promise((resolve) => setTimeout(resolve, 500))
  const result = await step(session, SYSCALL_RATE, durationMs)
  strace.kill('SIGINT')
  await once(strace, 'exit')
  const report = readFileSync(file, 'utf8')
  rmSync(file, { force: true })
  const counts = new Map<string, number>()
  // rows of `strace -c`: % time, seconds, usecs/call, calls, [errors,] syscall
  for (const line of report.split('\n')) {
    const fields = line.trim().split(/\s+/)
    const calls = Number(fields[3])
    const name = fields.at(-1)
    if (fields.length >= 5 && Number.isInteger(calls) && name !== undefined && name !== 'total' && /^[a-z_0-9]+$/.test(name)) {
      counts.set(name, Math.round(calls / result.joined * 100) / 100)
    }
  }
  return counts
}

/** Opens a session per server, each with its churn rooms and residents, and hands them all to `run`. */
async function withSessions (index: number, open: Session[], run: (sessions: Session[]) => Promise<void>): Promise<void> {
  if (index === servers.length) return await run(open)
  const server = servers[index]!
  await withSession(server.kind, { serverNodeFlags: server.nodeFlags }, async (session) => {
    await session.call('churnSetup', { kind: server.kind, port: session.port, rooms: ROOMS }, 120_000)
    // a warm-up at the measured rate: the first thousands of joins run unoptimised code
    await step(session, rate, 2000)
    await withSessions(index + 1, [...open, session], run)
  })
}

if (countSyscalls && !hasCommand('strace')) {
  process.stderr.write('--syscalls needs strace (apt-get install strace)\n')
  process.exit(2)
}
const results: Round[][] = servers.map(() => [])
const syscalls: Array<Map<string, number>> = []
await withSessions(0, [], async (sessions) => {
  for (let i = 0; i < rounds; i++) {
    // rotating order, so that no server always runs right after the same one
    for (let k = 0; k < sessions.length; k++) {
      const s = (i + k) % sessions.length
      const r = await round(sessions[s]!)
      results[s]!.push(r)
      process.stdout.write(`round ${i + 1} ${servers[s]!.name}: ${r.joinsPerSecond} joins/s p99 ${r.p99} ms, server µs/join user ${r.userUs} kernel ${r.systemUs}\n`)
    }
  }
  if (countSyscalls) for (const session of sessions) syscalls.push(await syscallsPerJoin(session))
})

const firstTotal = median(results[0]!.map((r) => r.userUs + r.systemUs))
for (const [s, server] of servers.entries()) {
  const user = median(results[s]!.map((r) => r.userUs))
  const system = median(results[s]!.map((r) => r.systemUs))
  const total = median(results[s]!.map((r) => r.userUs + r.systemUs))
  const ratio = s === 0 ? '' : ` (${servers[0]!.name} ÷ this: ${(firstTotal / total).toFixed(2)})`
  process.stdout.write(`median ${server.name}: µs/join user ${user} kernel ${system} total ${total}${ratio}, p99 ${median(results[s]!.map((r) => r.p99))} ms\n`)
}
if (syscalls.length > 0) {
  const names = [...new Set(syscalls.flatMap((counts) => [...counts.keys()]))].filter((name) => syscalls.some((counts) => (counts.get(name) ?? 0) >= 0.05))
  process.stdout.write(`system calls per join at ${SYSCALL_RATE} joins/s:\n`)
  for (const name of names) process.stdout.write(`  ${name.padEnd(14)} ${syscalls.map((counts, s) => `${servers[s]!.name} ${counts.get(name) ?? 0}`).join('  ')}\n`)
}
