// The connections to Redis: one server (a URL), a Redis Cluster (seed nodes) or a master found through Sentinel.
import { Cluster, Redis, type RedisOptions } from 'ioredis'
import { parseHostPort, type RedisTarget } from './target.js'

export type RedisConnection = Redis | Cluster

/**
 * One connection of the kind `target` asks for. On a cluster the sharded subscriptions go through ioredis's
 * per-master subscribers, and the slot map is refreshed every second so that a promoted replica is found soon.
 */
export function connectRedis (target: RedisTarget, options: RedisOptions): RedisConnection {
  if (target.cluster !== undefined) {
    return new Cluster(target.cluster.nodes.map((node) => parseHostPort(node, 'redis.cluster.nodes')), {
      lazyConnect: true,
      enableOfflineQueue: false,
      shardedSubscribers: true,
      slotsRefreshInterval: 1000,
      slotsRefreshTimeout: 1000,
      retryDelayOnFailover: 100,
      retryDelayOnClusterDown: 100,
      clusterRetryStrategy: (attempt) => Math.min(100 * attempt, 1000),
      redisOptions: { ...options, password: target.cluster.password, lazyConnect: undefined }
    })
  }
  if (target.sentinel !== undefined) {
    return new Redis({
      ...options,
      sentinels: target.sentinel.sentinels.map((node) => parseHostPort(node, 'redis.sentinel.sentinels')),
      name: target.sentinel.name,
      password: target.sentinel.password,
      sentinelPassword: target.sentinel.sentinelPassword,
      // told of a new master at once by the sentinels, instead of at the next failed command
      failoverDetector: true,
      sentinelRetryStrategy: (attempt) => Math.min(100 * attempt, 1000)
    })
  }
  return new Redis(target.url!, options)
}

/** Plain pub/sub on one server (Redis 6 works), sharded on a cluster: a room's channel stays on its shard. */
export function pubsub (connection: RedisConnection, sharded: boolean): {
  publish: (channel: string, message: string) => Promise<unknown>
  subscribe: (channel: string) => Promise<unknown>
  unsubscribe: (channel: string) => Promise<unknown>
} {
  return sharded
    ? { publish: async (c, m) => await connection.spublish(c, m), subscribe: async (c) => await connection.ssubscribe(c), unsubscribe: async (c) => await connection.sunsubscribe(c) }
    : { publish: async (c, m) => await connection.publish(c, m), subscribe: async (c) => await connection.subscribe(c), unsubscribe: async (c) => await connection.unsubscribe(c) }
}
