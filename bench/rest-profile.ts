// A focused micro-harness for the REST hot path: `npx tsx bench/rest-profile.ts [--rounds N] [--ms N] [--prof DIR]`.
// Starts the product and the bare Fastify `/hello` once each (server on core 0, generator on core 1, as in `npm run
// bench`) and alternates short closed-loop rounds between them, so that both see the same background load. Prints
// req/s and server CPU µs per request per round and the medians; with --prof, the product runs with --cpu-prof and
// the top self-time functions are printed. Not part of the report; `npm run bench -- --only restRates` is the record.
import { mkdirSync, readdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { killAll, repoRoot } from './child-processes.js'
import { topSelfTime } from './cpu-profile.js'
import { BENCH_API_KEY } from './servers.js'
import { withSession, type Session } from './sessions.js'
import type { RestResult } from './workloads/rest-rate.js'

const args = process.argv.slice(2)
const arg = (name: string): string | undefined => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined }
const rounds = Number(arg('--rounds') ?? 5)
const durationMs = Number(arg('--ms') ?? 3000)
const connections = Number(arg('--connections') ?? 32)
const profDir = arg('--prof') === undefined ? undefined : resolve(arg('--prof')!)
const withRooms = args.includes('--rooms')
/** --echo: also the bare POST /echo-token (Fastify's body parser, no auth, schema or signing). */
const withEcho = args.includes('--echo')
/** --prof-hello: profile the bare route's server instead of the product's. */
const profHello = args.includes('--prof-hello')

for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => { killAll(); process.exit(130) })
process.on('exit', killAll)

const auth = { Authorization: `Bearer ${BENCH_API_KEY}` }
interface Round { rps: number, usPerRequest: number, core: number }
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN

async function round (session: Session, params: object, warmupMs: number): Promise<Round> {
  // warm-up first, in a call of its own: the CPU measured around the second call is that of the counted requests
  await session.call<RestResult>('rest', { port: session.port, connections, warmupMs: 0, durationMs: warmupMs, ...params }, 60_000)
  const m = await session.measure<RestResult>('rest', { port: session.port, connections, warmupMs: 0, durationMs, ...params }, 60_000)
  if (m.result.unexpected > 0) throw new Error(`${m.result.unexpected} unexpected answers, first: ${m.result.firstUnexpected}`)
  return {
    rps: m.result.requestsPerSecond,
    usPerRequest: Math.round(m.server.cpuSeconds / m.result.requests * 1e7) / 10,
    core: Math.round(m.server.coreShare * 100)
  }
}

if (profDir !== undefined) mkdirSync(profDir, { recursive: true })
const results: Record<string, Round[]> = { tokens: [], rooms: [], hello: [], echo: [] }
const profFlags = profDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${profDir}`]
await withSession('signalling', { serverNodeFlags: profHello ? [] : profFlags }, async (product) => {
  await product.call('createRoom', { port: product.port, roomId: 'rest' })
  await withSession('fastify-hello', { serverNodeFlags: profHello ? profFlags : [] }, async (hello) => {
    for (let i = 0; i < rounds; i++) {
      const warmupMs = i === 0 ? 1000 : 200
      const t = await round(product, { method: 'POST', path: '/rooms/rest/tokens', headers: auth, body: '{}', expectStatus: 201 }, warmupMs)
      results.tokens!.push(t)
      let r: Round | undefined
      if (withRooms) {
        r = await round(product, { method: 'POST', path: '/rooms', headers: auth, body: '{}', expectStatus: 201 }, warmupMs)
        results.rooms!.push(r)
      }
      const h = await round(hello, { method: 'GET', path: '/hello', headers: {}, expectStatus: 200 }, warmupMs)
      results.hello!.push(h)
      let e: Round | undefined
      if (withEcho) {
        e = await round(hello, { method: 'POST', path: '/echo-token', headers: {}, body: '{}', expectStatus: 201 }, warmupMs)
        results.echo!.push(e)
      }
      process.stdout.write(`round ${i + 1}: tokens ${t.rps} req/s (${t.usPerRequest} µs, core ${t.core}%)` +
        (r === undefined ? '' : `  rooms ${r.rps} req/s (${r.usPerRequest} µs)`) +
        `  hello ${h.rps} req/s (${h.usPerRequest} µs, core ${h.core}%)` +
        (e === undefined ? '' : `  echo ${e.rps} req/s (${e.usPerRequest} µs)`) + `  ratio ${(t.rps / h.rps).toFixed(2)}\n`)
    }
  })
})
const med = (key: string, field: keyof Round): number => median(results[key]!.map((x) => x[field]))
const ratios = results.tokens!.map((t, i) => t.rps / results.hello![i]!.rps)
process.stdout.write(`median: tokens ${med('tokens', 'rps')} req/s (${med('tokens', 'usPerRequest')} µs/req)` +
  (withRooms ? `  rooms ${med('rooms', 'rps')} req/s (${med('rooms', 'usPerRequest')} µs/req)` : '') +
  `  hello ${med('hello', 'rps')} req/s (${med('hello', 'usPerRequest')} µs/req)` +
  (withEcho ? `  echo ${med('echo', 'rps')} req/s (${med('echo', 'usPerRequest')} µs/req)` : '') + `  ratio ${median(ratios).toFixed(2)}\n`)

if (profDir !== undefined) {
  const files = readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile')).sort()
  const main = files.filter((f) => f.split('.').at(-3) === '0').at(-1) ?? files.at(-1)
  if (main !== undefined) {
    const top = topSelfTime(join(profDir, main), repoRoot, 30)
    process.stdout.write(`profile ${join(profDir, main)} (idle ${top.idlePercent} %, busy ${Math.round(top.totalMs * (100 - top.idlePercent) / 100)} ms)\n`)
    for (const h of top.hotSpots) process.stdout.write(`  ${String(h.selfPercent).padStart(5)} %  ${String(h.selfMs).padStart(7)} ms  ${h.function}  ${h.location}\n`)
  }
}
