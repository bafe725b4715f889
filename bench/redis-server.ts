// The bench's own redis-server: a free port on 127.0.0.1, nothing saved, pinned to the server core, killed by PID.
// Never the machine's Redis on 6379, and never flushed: it is a fresh, empty process each time.
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { connect, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { spawnProgram, type Program } from './child-processes.js'
import { hasCommand } from './process-stats.js'

export interface BenchRedis {
  url: string
  port: number
  pid: number
  pinned: boolean
  version: string
  stop: () => Promise<void>
}

export const redisAvailable = (): boolean => hasCommand('redis-server')

async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

/** Sends one inline command and returns the first reply chunk, or undefined when nothing answers. */
async function command (port: number, line: string): Promise<string | undefined> {
  return await new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    const timer = setTimeout(() => { socket.destroy(); resolve(undefined) }, 1000)
    socket.once('error', () => { clearTimeout(timer); resolve(undefined) })
    socket.once('connect', () => socket.write(`${line}\r\n`))
    socket.once('data', (data) => { clearTimeout(timer); socket.destroy(); resolve(data.toString()) })
  })
}

export async function startBenchRedis (core: number): Promise<BenchRedis> {
  if (!redisAvailable()) throw new Error('redis-server not found')
  let lastError: Error | undefined
  // a port found free can be taken before redis binds it: a few attempts
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort()
    if (port === 6379) continue
    const program: Program = spawnProgram('redis-server', 'redis-server', [
      '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
      '--protected-mode', 'no', '--daemonize', 'no', '--logfile', ''
    ], core)
    for (let i = 0; i < 100; i++) {
      if ((await command(port, 'PING'))?.startsWith('+PONG') === true) {
        const info = await command(port, 'INFO server') ?? ''
        const version = /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown'
        return { url: `redis://127.0.0.1:${port}`, port, pid: program.pid, pinned: program.pinned, version, stop: program.stop }
      }
      if (program.child.exitCode !== null || program.child.signalCode !== null) break
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    await program.stop()
    lastError = new Error(`redis-server did not answer on port ${port}`)
  }
  throw lastError ?? new Error('no free port for redis-server')
}

export interface BenchRedisCluster {
  /** `cluster:host:port,...`, as bench/servers.ts reads it. */
  target: string
  pids: number[]
  pinned: boolean
  version: string
  stop: () => Promise<void>
}

export const redisClusterAvailable = (): boolean => redisAvailable() && hasCommand('redis-cli')

/** Three masters, no replicas (replication would add its own CPU), pinned to `core`, formed with redis-cli. */
export async function startBenchRedisCluster (core: number): Promise<BenchRedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-cluster-'))
  const programs: Program[] = []
  const ports: number[] = []
  const stop = async (): Promise<void> => {
    await Promise.all(programs.map(async (program) => await program.stop()))
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    for (let i = 0; i < 3; i++) {
      const port = await freePort()
      programs.push(spawnProgram('redis-server (cluster)', 'redis-server', [
        '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no', '--daemonize', 'no',
        '--logfile', '', '--cluster-enabled', 'yes', '--cluster-config-file', `${dir}/bench-nodes-${port}.conf`, '--dir', dir
      ], core))
      ports.push(port)
    }
    for (const port of ports) {
      for (let i = 0; i < 100 && (await command(port, 'PING'))?.startsWith('+PONG') !== true; i++) await new Promise((resolve) => setTimeout(resolve, 50))
    }
    await promisify(execFile)('redis-cli', ['--cluster', 'create', ...ports.map((port) => `127.0.0.1:${port}`), '--cluster-replicas', '0', '--cluster-yes'])
    for (let i = 0; i < 100; i++) {
      const states = await Promise.all(ports.map(async (port) => await command(port, 'CLUSTER INFO')))
      if (states.every((state) => state?.includes('cluster_state:ok') === true)) break
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    const version = /redis_version:(\S+)/.exec(await command(ports[0]!, 'INFO server') ?? '')?.[1] ?? 'unknown'
    return { target: `cluster:${ports.map((port) => `127.0.0.1:${port}`).join(',')}`, pids: programs.map((p) => p.pid), pinned: programs[0]!.pinned, version, stop }
  } catch (err) {
    await stop()
    throw err
  }
}
