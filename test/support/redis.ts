// Starts a real redis-server for one test on a free port (never the machine's own Redis), stopped in teardown.
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { connect, createServer, type Socket } from 'node:net'
import type { Test } from 'tap'
import { freePort, requireProgram } from './programs.js'

export interface RedisProcess {
  url: string
  port: number
  /** Stops the server (SIGKILL: nothing is saved, as after a crash). */
  kill: () => Promise<void>
  /** Starts it again on the same port, empty. */
  restart: () => Promise<void>
  /** Freezes the process (SIGSTOP): connections stay open and nothing is answered, as behind a network black hole. */
  pause: () => void
  /** Thaws it (SIGCONT). */
  resume: () => void
}

async function ping (port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.once('error', () => resolve(false))
    socket.once('connect', () => socket.write('PING\r\n'))
    socket.once('data', (data) => { socket.destroy(); resolve(data.toString().startsWith('+PONG')) })
  })
}

/** Undefined when redis-server is missing (the test is then skipped, or failed under CI). */
export async function startRedis (t: Test): Promise<RedisProcess | undefined> {
  const program = requireProgram(t, 'redis-server')
  if (program === undefined) return undefined
  const port = await freePort()
  let child: ChildProcess | undefined
  const start = async (): Promise<void> => {
    child = spawn(program, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no', '--daemonize', 'no', '--logfile', ''], { stdio: 'ignore' })
    for (let i = 0; i < 100; i++) {
      if (await ping(port)) return
      if (child.exitCode !== null) break
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    throw new Error(`redis-server did not start on port ${port}`)
  }
  const signal = (name: NodeJS.Signals): void => {
    if (child !== undefined && child.exitCode === null && child.signalCode === null) child.kill(name)
  }
  const kill = async (): Promise<void> => {
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
    const exited = once(child, 'exit')
    child.kill('SIGKILL')
    await exited
  }
  await start()
  t.teardown(kill)
  return { url: `redis://127.0.0.1:${port}`, port, kill, restart: start, pause: () => signal('SIGSTOP'), resume: () => signal('SIGCONT') }
}

export interface RedisProxy {
  /** redis:// URL of the proxy: give it to the node to cut off. */
  url: string
  /**
   * Cuts the connections whose first bytes contain `match` (ioredis sends the connection name there), or all of
   * them, and refuses such connections until `mend`: the node on this side loses Redis, the others do not.
   */
  cut: (match?: string) => void
  mend: () => void
}

/** A TCP proxy in front of a test's Redis, so that one node alone can be cut off from it. */
export async function startRedisProxy (t: Test, redis: RedisProcess): Promise<RedisProxy> {
  let cutting: string | undefined
  const links = new Set<{ client: Socket, upstream: Socket, head: string }>()
  const doomed = (link: { head: string }): boolean => cutting !== undefined && (cutting === '' || link.head.includes(cutting))
  const drop = (link: { client: Socket, upstream: Socket }): void => {
    link.client.destroy()
    link.upstream.destroy()
    links.delete(link as { client: Socket, upstream: Socket, head: string })
  }
  const server = createServer((client) => {
    const upstream = connect(redis.port, '127.0.0.1')
    const link = { client, upstream, head: '' }
    links.add(link)
    client.on('data', (data) => {
      // the connection name comes with the first commands: enough to tell a node's connections apart
      if (link.head.length < 4096) link.head += data.toString('latin1')
      if (doomed(link)) return drop(link)
      upstream.write(data)
    })
    upstream.on('data', (data) => { if (!doomed(link)) client.write(data) })
    for (const socket of [client, upstream]) {
      socket.on('error', () => drop(link))
      socket.on('close', () => drop(link))
    }
    if (cutting === '') drop(link)
  })
  server.listen(0, '127.0.0.1')
  await new Promise((resolve) => server.once('listening', resolve))
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('no TCP address')
  t.teardown(async () => {
    for (const link of [...links]) drop(link)
    await new Promise((resolve) => server.close(resolve))
  })
  return {
    url: `redis://127.0.0.1:${address.port}`,
    cut (match = '') {
      cutting = match
      for (const link of [...links]) if (doomed(link)) drop(link)
    },
    mend () {
      cutting = undefined
    }
  }
}
