// The servers under test: the product and its baselines, each started the same way in its own process.
import { DEFAULT_LISTEN_BACKLOG } from '../lib/config.js'
export type ServerKind = 'signalling' | 'signalling-no-window' | 'ws-relay' | 'peerjs' | 'fastify-hello'

export interface RunningServer {
  port: number
  close: () => Promise<void>
}

/** Credentials of the product under test; they never leave this machine. */
export const BENCH_API_KEY = 'bench-api-key'
export const BENCH_JWT_SECRET = 'bench-jwt-secret-0123456789abcdef0123456789'

export interface StartOptions {
  /** The product only: rooms and routing on this Redis (a node of a multi-node deployment). */
  redisUrl?: string
}

/** Prefix of the bench's keys and channels on its own Redis. */
export const BENCH_REDIS_PREFIX = 'bench:'

function redisTarget (value: string): { url: string } | { cluster: { nodes: string[] } } {
  return value.startsWith('cluster:') ? { cluster: { nodes: value.slice('cluster:'.length).split(',') } } : { url: value }
}

export async function startServer (kind: ServerKind, options: StartOptions = {}): Promise<RunningServer> {
  switch (kind) {
    case 'signalling':
    case 'signalling-no-window': {
      const { buildApp } = await import('../app.js')
      // the production defaults (30 s heartbeat), without logging. All load comes from one address and a few
      // peers send far faster than a person would: the per-address limits are off and the per-peer bucket is
      // raised out of the way (it still runs, so its cost is measured)
      const app = await buildApp({
        apiKey: BENCH_API_KEY,
        jwtSecret: BENCH_JWT_SECRET,
        logger: false,
        requestRate: { rest: false, upgrades: false },
        messageRate: { perSecond: 1_000_000, burst: 1_000_000 },
        // the variant keeps no frames while connected: what the resume window costs, measured beside the default
        ...(kind === 'signalling-no-window' ? { resume: { windowMessages: 0 } } : {}),
        // `cluster:host:port,host:port` for a Redis Cluster, else a redis:// URL
        ...(options.redisUrl === undefined ? {} : { redis: { ...redisTarget(options.redisUrl), keyPrefix: BENCH_REDIS_PREFIX } })
      })
      // with the standalone server's backlog (LISTEN_BACKLOG)
      await app.listen({ host: '127.0.0.1', port: 0, backlog: DEFAULT_LISTEN_BACKLOG })
      const address = app.server.address()
      if (address === null || typeof address === 'string') throw new Error('no TCP address')
      return { port: address.port, close: async () => { await app.close() } }
    }
    case 'ws-relay':
      return await (await import('./baselines/ws-relay.js')).startWsRelay()
    case 'peerjs':
      return await (await import('./baselines/peerjs.js')).startPeerjs()
    case 'fastify-hello':
      return await (await import('./baselines/fastify-hello.js')).startFastifyHello()
  }
}
