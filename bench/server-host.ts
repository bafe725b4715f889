// Child process hosting one server under test. Bench-only hooks over IPC: `stats` (heap after gc(), RSS), a CPU
// profile of a chosen stretch (`profileStart`, `profileStop`) and `exit`. Started with --expose-gc by the
// orchestrator; nothing here is part of the product.
import { writeFileSync } from 'node:fs'
import { Session } from 'node:inspector/promises'
import { announceReady } from './child-processes.js'
import { serveRpc } from './ipc-rpc.js'
import { startServer, type ServerKind } from './servers.js'

const kind = process.argv[2] as ServerKind
// an optional second argument: the Redis URL of a multi-node deployment
const redisUrl = process.argv[3]
const server = await startServer(kind, redisUrl === undefined ? {} : { redisUrl })

// the inspector's profiler rather than --cpu-prof: only the measured stretch, not the start-up and set-up around it
let profiler: Session | undefined

export interface HeapStats { rss: number, heapUsed: number, heapTotal: number, external: number, arrayBuffers: number, gcExposed: boolean }

serveRpc({
  stats: async (): Promise<HeapStats> => {
    const gc = (globalThis as { gc?: () => void }).gc
    if (gc !== undefined) {
      // twice, with a turn of the loop between, so that weak references and finalizers settle
      gc()
      await new Promise((resolve) => setImmediate(resolve))
      gc()
    }
    return { ...process.memoryUsage(), gcExposed: gc !== undefined }
  },
  profileStart: async (params) => {
    profiler = new Session()
    profiler.connect()
    await profiler.post('Profiler.enable')
    await profiler.post('Profiler.setSamplingInterval', { interval: (params as { intervalUs?: number }).intervalUs ?? 1000 })
    await profiler.post('Profiler.start')
    return {}
  },
  profileStop: async (params) => {
    if (profiler === undefined) throw new Error('no profile under way')
    const { profile } = await profiler.post('Profiler.stop')
    profiler.disconnect()
    profiler = undefined
    writeFileSync((params as { file: string }).file, JSON.stringify(profile))
    return {}
  },
  exit: async () => {
    await Promise.race([server.close(), new Promise((resolve) => setTimeout(resolve, 3000))])
    // process.exit (not a signal) so that --cpu-prof writes its profile
    setImmediate(() => process.exit(0))
  }
})

announceReady({ kind, port: server.port, redis: redisUrl !== undefined })
