// Real Redis Cluster (3 masters, 3 replicas) and Sentinel (1 master, 1 replica, 3 sentinels) setups for one test,
// on free ports in a temporary directory, stopped in teardown.
import { spawn, execFile, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { Test } from 'tap'
import type { TestPeer } from '../helper.js'
import { freePort, requireProgram } from './programs.js'

const run = promisify(execFile)

export interface RedisNodeProcess {
  port: number
  /** SIGKILL: as after a crash. */
  kill: () => Promise<void>
  /** redis-cli against this node. */
  cli: (...args: string[]) => Promise<string>
}

async function startNode (program: string, cli: string, port: number, args: string[]): Promise<RedisNodeProcess & { child: ChildProcess }> {
  const child = spawn(program, [...args, '--port', String(port), '--bind', '127.0.0.1', '--protected-mode', 'no', '--daemonize', 'no', '--logfile', ''], { stdio: 'ignore' })
  const node = {
    port,
    child,
    kill: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = once(child, 'exit')
      child.kill('SIGKILL')
      await exited
    },
    cli: async (...command: string[]) => (await run(cli, ['-h', '127.0.0.1', '-p', String(port), ...command])).stdout.trim()
  }
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) break
    if (await node.cli('PING').catch(() => '') === 'PONG') return node
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  await node.kill()
  throw new Error(`${program} did not start on port ${port}`)
}

async function until (what: string, check: () => Promise<boolean>, timeout = 20_000): Promise<void> {
  const deadline = Date.now() + timeout
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`timed out waiting for ${what}`)
}

function workDir (t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'redis-test-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

export interface RedisClusterProcesses {
  /** "127.0.0.1:port" of every node, masters and replicas. */
  seeds: string[]
  nodes: RedisNodeProcess[]
  /** The node that is master of the slot of `key` now. */
  masterOf: (key: string) => Promise<RedisNodeProcess>
  /** Waits until every slot is served again (after a failover). */
  healthy: () => Promise<void>
}

/** Undefined when redis-server or redis-cli is missing (the test is then skipped, or failed under CI). */
export async function startRedisCluster (t: Test, nodeTimeout = 1000): Promise<RedisClusterProcesses | undefined> {
  const program = requireProgram(t, 'redis-server')
  if (program === undefined) return undefined
  const cli = requireProgram(t, 'redis-cli', 'apt-get install redis-tools')
  if (cli === undefined) return undefined
  const dir = workDir(t)
  const nodes: RedisNodeProcess[] = []
  t.teardown(async () => { await Promise.all(nodes.map(async (node) => await node.kill())) })
  for (let i = 0; i < 6; i++) {
    const port = await freePort()
    nodes.push(await startNode(program, cli, port, [
      '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--cluster-node-timeout', String(nodeTimeout),
      // a replica takes over however long its master was away
      '--cluster-replica-validity-factor', '0', '--dir', dir, '--save', '', '--appendonly', 'no'
    ]))
  }
  const seeds = nodes.map((node) => `127.0.0.1:${node.port}`)
  await run(cli, ['--cluster', 'create', ...seeds, '--cluster-replicas', '1', '--cluster-yes'])
  const alive = (): RedisNodeProcess[] => nodes.filter((node) => (node as { child?: ChildProcess }).child?.exitCode === null && (node as { child?: ChildProcess }).child?.signalCode === null)
  const healthy = async (): Promise<void> => {
    await until('the cluster to serve every slot', async () => {
      for (const node of alive()) if (!(await node.cli('CLUSTER', 'INFO')).includes('cluster_state:ok')) return false
      return true
    })
  }
  await healthy()
  const masterOf = async (key: string): Promise<RedisNodeProcess> => {
    const [any] = alive()
    const slot = Number(await any!.cli('CLUSTER', 'KEYSLOT', key))
    for (const line of (await any!.cli('CLUSTER', 'NODES')).split('\n')) {
      const [, address, flags, , , , , , ...ranges] = line.split(' ')
      if (!flags!.includes('master') || flags!.includes('fail')) continue
      for (const range of ranges) {
        const [from, to = from] = range.split('-').map(Number)
        if (slot >= from! && slot <= to!) return nodes.find((node) => address!.startsWith(`127.0.0.1:${node.port}@`))!
      }
    }
    throw new Error(`no master serves slot ${slot}`)
  }
  return { seeds, nodes, masterOf, healthy }
}

export interface RedisSentinelProcesses {
  /** "127.0.0.1:port" of the three sentinels. */
  sentinels: string[]
  name: string
  master: RedisNodeProcess
  replica: RedisNodeProcess
  /** The port of the master the sentinels report now. */
  masterPort: () => Promise<number>
}

export async function startRedisSentinel (t: Test): Promise<RedisSentinelProcesses | undefined> {
  const program = requireProgram(t, 'redis-server')
  if (program === undefined) return undefined
  const cli = requireProgram(t, 'redis-cli', 'apt-get install redis-tools')
  if (cli === undefined) return undefined
  const dir = workDir(t)
  const started: RedisNodeProcess[] = []
  t.teardown(async () => { await Promise.all(started.map(async (node) => await node.kill())) })
  const plain = ['--save', '', '--appendonly', 'no', '--dir', dir]
  const master = await startNode(program, cli, await freePort(), plain)
  started.push(master)
  const replica = await startNode(program, cli, await freePort(), [...plain, '--replicaof', '127.0.0.1', String(master.port)])
  started.push(replica)
  await until('the replica to sync', async () => (await replica.cli('INFO', 'replication')).includes('master_link_status:up'))
  const name = 'signalling-test'
  const sentinels: string[] = []
  for (let i = 0; i < 3; i++) {
    const port = await freePort()
    const file = join(dir, `sentinel-${port}.conf`)
    writeFileSync(file, [
      `sentinel monitor ${name} 127.0.0.1 ${master.port} 2`,
      `sentinel down-after-milliseconds ${name} 1000`,
      `sentinel failover-timeout ${name} 5000`,
      `sentinel parallel-syncs ${name} 1`,
      ''
    ].join('\n'))
    started.push(await startNode(program, cli, port, [file, '--sentinel']))
    sentinels.push(`127.0.0.1:${port}`)
  }
  const first = started[2]!
  const masterPort = async (): Promise<number> => Number((await first.cli('SENTINEL', 'get-master-addr-by-name', name)).split('\n')[1])
  // every sentinel knows the replica and the others before a test kills the master
  await until('the sentinels to find each other and the replica', async () => {
    const info = await first.cli('SENTINEL', 'master', name)
    const field = (key: string): number => { const lines = info.split('\n'); return Number(lines[lines.indexOf(key) + 1]) }
    return field('num-slaves') >= 1 && field('num-other-sentinels') >= 2
  })
  return { sentinels, name, master, replica, masterPort }
}

/**
 * After a master was killed at `killedAt`: frames from `from` to `to` (peer `toId`) until one arrives (30 s at most), each either
 * arriving or refused with BACKPLANE_UNAVAILABLE (asserted). `back`: ms from the kill to the first arrival, or -1.
 */
export async function untilRelayBack (t: Test, from: TestPeer, to: TestPeer, toId: string, killedAt: number): Promise<{ back: number, refused: number }> {
  const refused = new Set<string>()
  for (let i = 0; Date.now() - killedAt < 30_000; i++) {
    from.send({ type: 'message', to: toId, data: i, id: `m${i}` })
    const outcome = await Promise.race([
      to.next('message', 300).then((m) => m, () => undefined),
      from.next('error', 300).then((e) => e, () => undefined)
    ])
    if (outcome?.type === 'message') return { back: Date.now() - killedAt, refused: refused.size }
    if (outcome?.type === 'error') {
      t.equal(outcome.code, 'BACKPLANE_UNAVAILABLE')
      refused.add(outcome.id as string)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }
  return { back: -1, refused: refused.size }
}
