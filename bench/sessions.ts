// One server under test on core 0 and one load generator on core 1, with their CPU measured around each call.
import { launch, type Launched } from './child-processes.js'
import type { HeapStats } from './server-host.js'
import { cpuSample, cpuSince, rssBytes, type CpuUse } from './process-stats.js'
import type { ServerKind } from './servers.js'

export const SERVER_CORE = 0
export const CLIENT_CORE = 1
/** A generator above this share of its core is the bottleneck, not the server. */
export const CLIENT_SATURATED = 0.9

export interface Measured<T> {
  result: T
  server: CpuUse
  client: CpuUse
  clientSaturated: boolean
}

export interface Session {
  kind: ServerKind
  port: number
  serverPid: number
  generatorPid: number
  /** Calls the generator and measures both processes' CPU over the call. */
  measure: <T>(method: string, params: unknown, timeoutMs?: number) => Promise<Measured<T>>
  call: <T>(method: string, params: unknown, timeoutMs?: number) => Promise<T>
  /** Calls the server process's own bench hooks (bench/server-host.ts). */
  callServer: <T>(method: string, params: unknown, timeoutMs?: number) => Promise<T>
  /** RSS from /proc and the heap after gc() from inside the server. */
  memory: () => Promise<MemoryReading>
  serverCpu: () => ReturnType<typeof cpuSample>
}

export interface MemoryReading { rss: number, heapUsed: number }

/** RSS from /proc and the heap after gc() from inside a server started by server-host.ts (with --expose-gc). */
export async function serverMemory (server: Launched<unknown>): Promise<MemoryReading> {
  const stats = await server.rpc.call<HeapStats>('stats', {}, 60_000)
  return { rss: rssBytes(server.pid), heapUsed: stats.heapUsed }
}

/** Calls the generator and measures the CPU the server and the generator used meanwhile. */
export async function measureCall<R> (serverPid: number, generator: Launched<unknown>, method: string, params: unknown, timeoutMs?: number): Promise<Measured<R>> {
  const s0 = cpuSample(serverPid)
  const c0 = cpuSample(generator.pid)
  const result = await generator.rpc.call<R>(method, params, timeoutMs)
  const server = cpuSince(serverPid, s0)
  const client = cpuSince(generator.pid, c0)
  return { result, server, client, clientSaturated: client.coreShare >= CLIENT_SATURATED }
}

export interface SessionOptions {
  limitPrefix?: string[]
  serverNodeFlags?: string[]
}

export async function withSession<T> (kind: ServerKind, options: SessionOptions, run: (session: Session) => Promise<T>): Promise<T> {
  const started = await Promise.allSettled([
    launch<{ port: number }>({
      name: `${kind} server`,
      entry: './server-host.ts',
      args: [kind],
      core: SERVER_CORE,
      nodeFlags: ['--expose-gc', ...(options.serverNodeFlags ?? [])],
      limitPrefix: options.limitPrefix
    }),
    launch<{ pid: number }>({ name: `${kind} load generator`, entry: './load-generator.ts', core: CLIENT_CORE, limitPrefix: options.limitPrefix })
  ])
  const [serverStart, generatorStart] = started
  if (serverStart.status === 'rejected' || generatorStart.status === 'rejected') {
    for (const s of started) if (s.status === 'fulfilled') await s.value.stop()
    throw (serverStart.status === 'rejected' ? serverStart.reason : (generatorStart as PromiseRejectedResult).reason) as Error
  }
  const server: Launched<{ port: number }> = serverStart.value
  const generator: Launched<{ pid: number }> = generatorStart.value
  const session: Session = {
    kind,
    port: server.info.port,
    serverPid: server.pid,
    generatorPid: generator.pid,
    call: async (method, params, timeoutMs) => await generator.rpc.call(method, params, timeoutMs),
    callServer: async (method, params, timeoutMs) => await server.rpc.call(method, params, timeoutMs),
    measure: async <R>(method: string, params: unknown, timeoutMs?: number) => await measureCall<R>(server.pid, generator, method, params, timeoutMs),
    memory: async () => await serverMemory(server),
    serverCpu: () => cpuSample(server.pid)
  }
  try {
    return await run(session)
  } finally {
    // generator first, so the server sees its clients leave before it is asked to exit
    await generator.stop()
    await server.stop()
  }
}
