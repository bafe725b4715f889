// Starts a real redis-server for one test on a free port (never the machine's own Redis), stopped in teardown.
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { connect } from 'node:net'
import type { Test } from 'tap'
import { freePort, requireProgram } from './programs.js'

export interface RedisProcess {
  url: string
  port: number
  /** Stops the server (SIGKILL: nothing is saved, as after a crash). */
  kill: () => Promise<void>
  /** Starts it again on the same port, empty. */
  restart: () => Promise<void>
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
  const kill = async (): Promise<void> => {
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
    const exited = once(child, 'exit')
    child.kill('SIGKILL')
    await exited
  }
  await start()
  t.teardown(kill)
  return { url: `redis://127.0.0.1:${port}`, port, kill, restart: start }
}
