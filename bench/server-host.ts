// Child process hosting one server under test. Bench-only hooks over IPC: `stats` (heap after gc(), RSS) and `exit`.
// Started with --expose-gc by the orchestrator; nothing here is part of the product.
import { announceReady } from './child-processes.js'
import { serveRpc } from './ipc-rpc.js'
import { startServer, type ServerKind } from './servers.js'

const kind = process.argv[2] as ServerKind
// an optional second argument: the Redis URL of a multi-node deployment
const redisUrl = process.argv[3]
const server = await startServer(kind, redisUrl === undefined ? {} : { redisUrl })

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
  exit: async () => {
    await Promise.race([server.close(), new Promise((resolve) => setTimeout(resolve, 3000))])
    // process.exit (not a signal) so that --cpu-prof writes its profile
    setImmediate(() => process.exit(0))
  }
})

announceReady({ kind, port: server.port, redis: redisUrl !== undefined })
