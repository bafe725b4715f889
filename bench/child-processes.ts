// Starts the bench's children (servers on one core, load generators on the other) and makes sure none outlives the run.
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { RpcClient } from './ipc-rpc.js'
import { hasCommand, isAlive } from './process-stats.js'

export const repoRoot = fileURLToPath(new URL('..', import.meta.url))
export const canPin = hasCommand('taskset')

export interface LaunchOptions {
  name: string
  /** Script under bench/, run with tsx. */
  entry: string
  args?: string[]
  /** CPU core to pin to with taskset, where it exists. */
  core: number
  nodeFlags?: string[]
  /** Command prefix that sets the open-file limit (prlimit), if any. */
  limitPrefix?: string[]
  readyTimeoutMs?: number
}

export interface Launched<Info> {
  name: string
  pid: number
  child: ChildProcess
  rpc: RpcClient
  /** What the child announced when it was ready. */
  info: Info
  pinned: boolean
  stop: () => Promise<void>
}

const live = new Set<ChildProcess>()
/** Every PID this run started, so a caller can check afterwards that none is left. */
export const startedPids: number[] = []

export async function launch<Info> (options: LaunchOptions): Promise<Launched<Info>> {
  const command = [
    ...(options.limitPrefix ?? []),
    ...(canPin ? ['taskset', '-c', String(options.core)] : []),
    process.execPath, ...(options.nodeFlags ?? []), '--import', 'tsx',
    fileURLToPath(new URL(options.entry, import.meta.url)), ...(options.args ?? [])
  ]
  // prlimit and taskset exec the next program, so the PID we get is the node process itself
  const child = spawn(command[0]!, command.slice(1), { cwd: repoRoot, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
  if (child.pid === undefined) throw new Error(`${options.name}: spawn failed`)
  const pid = child.pid
  live.add(child)
  startedPids.push(pid)
  const exited = once(child, 'exit').then(() => { live.delete(child) })
  const rpc = new RpcClient(child, options.name)

  const info = await new Promise<Info>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${options.name} was not ready within ${options.readyTimeoutMs ?? 30_000} ms`)), options.readyTimeoutMs ?? 30_000)
    child.on('message', (raw: { rpc?: string, info?: Info }) => {
      if (raw?.rpc !== 'ready') return
      clearTimeout(timer)
      resolve(raw.info as Info)
    })
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      reject(new Error(`${options.name} exited before it was ready (code ${code}, signal ${signal})`))
    })
  }).catch((err: unknown) => {
    kill(child)
    throw err
  })

  const stop = async (): Promise<void> => {
    if (!live.has(child)) return
    // a graceful exit lets --cpu-prof write its profile; a child that hangs is killed
    await rpc.call('exit', {}, 10_000).catch(() => {})
    const timer = setTimeout(() => kill(child), 10_000)
    await exited
    clearTimeout(timer)
  }
  return { name: options.name, pid, child, rpc, info, pinned: canPin, stop }
}

export interface Program {
  pid: number
  child: ChildProcess
  pinned: boolean
  /** SIGKILL by PID, then waits for the exit. */
  stop: () => Promise<void>
}

/** Starts a program that is not one of ours (redis-server), pinned like the rest and killed with them. */
export function spawnProgram (name: string, program: string, args: string[], core: number): Program {
  const command = [...(canPin ? ['taskset', '-c', String(core)] : []), program, ...args]
  // taskset execs the program: the PID is the program's own
  const child = spawn(command[0]!, command.slice(1), { cwd: repoRoot, stdio: ['ignore', 'ignore', 'inherit'] })
  if (child.pid === undefined) throw new Error(`${name}: spawn failed`)
  const pid = child.pid
  live.add(child)
  startedPids.push(pid)
  // a spawn error (no such program) rejects `once`: the child is then gone as well
  const exited = once(child, 'exit').then(() => { live.delete(child) }, () => { live.delete(child) })
  const stop = async (): Promise<void> => {
    if (!live.has(child)) return
    kill(child)
    await exited
  }
  return { pid, child, pinned: canPin, stop }
}

function kill (child: ChildProcess): void {
  if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
    try { process.kill(child.pid, 'SIGKILL') } catch {}
  }
}

/** Kills, by PID, every child still running; used on errors and signals. */
export function killAll (): void {
  for (const child of live) kill(child)
}

/** PIDs this run started that are still alive. */
export function leftovers (): number[] {
  return startedPids.filter(isAlive)
}

/** Tells a child that its parent is ready to be talked to. */
export function announceReady (info: unknown): void {
  process.send?.({ rpc: 'ready', info })
  // the orchestrator going away must not leave this child behind
  process.on('disconnect', () => process.exit(0))
}
