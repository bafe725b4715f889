// Which Redis a deployment uses, checked without loading ioredis (the settings are read by every node).

/** Which Redis: exactly one of `url`, `cluster` or `sentinel`. */
export interface RedisTarget {
  /** redis://[:password@]host:port[/db]: one server. */
  url?: string
  /** A Redis Cluster (7 or later, for sharded pub/sub): some of its nodes, "host:port"; the others are discovered. */
  cluster?: { nodes: string[], password?: string }
  /** A master and its replicas watched by Sentinel: the sentinels ("host:port") and the master's name. */
  sentinel?: { sentinels: string[], name: string, password?: string, sentinelPassword?: string }
}

/** "host:port" to its parts; throws on anything else. */
export function parseHostPort (value: string, setting: string): { host: string, port: number } {
  const match = /^\[?([^\s\]]+?)\]?:(\d{1,5})$/.exec(value.trim())
  const port = match === null ? NaN : Number(match[2])
  if (match === null || !(port >= 1 && port <= 65535)) throw new Error(`${setting} must be a list of host:port, got "${value}"`)
  return { host: match[1]!, port }
}

/** Throws when not exactly one kind of Redis is given, or one is malformed. */
export function checkTarget (target: RedisTarget): void {
  const given = [target.url, target.cluster, target.sentinel].filter((x) => x !== undefined).length
  if (given !== 1) throw new Error('redis: give exactly one of url, cluster or sentinel')
  if (target.cluster !== undefined) {
    if (target.cluster.nodes.length === 0) throw new Error('redis.cluster.nodes must list at least one host:port')
    for (const node of target.cluster.nodes) parseHostPort(node, 'redis.cluster.nodes')
  }
  if (target.sentinel !== undefined) {
    if (target.sentinel.sentinels.length === 0) throw new Error('redis.sentinel.sentinels must list at least one host:port')
    for (const node of target.sentinel.sentinels) parseHostPort(node, 'redis.sentinel.sentinels')
    if (target.sentinel.name === '') throw new Error('redis.sentinel.name must name the master')
  }
}

