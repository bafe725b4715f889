// The standalone server (server.ts) in its own process, as a user runs it, for tests that kill or signal it.
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import type { Test } from 'tap'

const root = new URL('../..', import.meta.url).pathname

export interface ServerRun { code: number | null, stdout: string, stderr: string }

export interface ServerProcess {
  child: ChildProcess
  run: ServerRun
  /** Resolves when the process has exited. */
  exited: Promise<ServerRun>
  /** Resolves with the port once the server listens; rejects if it exits first. */
  listening: Promise<number>
}

/** Starts server.ts on 127.0.0.1 and a free port with `env` (and PATH); killed in teardown if still running. */
export function startServerProcess (t: Test, env: Record<string, string>): ServerProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'server.ts'], {
    cwd: root,
    // tap's coverage of a tsx-compiled child maps onto the wrong lines when merged with the suite's own:
    // the child keeps none (server.ts is then absent from the report; test/server.test.ts asserts what it does)
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: '0', _TAPJS_PROCESSINFO_COVERAGE_: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  t.teardown(() => {
    if (child.exitCode !== null || child.signalCode !== null) return
    child.kill('SIGCONT')
    child.kill('SIGKILL')
  })
  const run: ServerRun = { code: null, stdout: '', stderr: '' }
  child.stdout!.on('data', (d: Buffer) => { run.stdout += d.toString() })
  child.stderr!.on('data', (d: Buffer) => { run.stderr += d.toString() })
  const exited = once(child, 'exit').then(([code]) => { run.code = code as number | null; return run })
  const listening = new Promise<number>((resolve, reject) => {
    child.stdout!.on('data', () => {
      const match = /Server listening at https?:\/\/127\.0\.0\.1:(\d+)/.exec(run.stdout)
      if (match !== null) resolve(Number(match[1]))
    })
    void exited.then(() => reject(new Error(`exited with ${run.code}: ${run.stderr}`)))
  })
  // a test that expects the process to exit never awaits `listening`
  listening.catch(() => {})
  return { child, run, exited, listening }
}

/** SIGKILL, as after a crash: nothing is said to anyone. */
export async function killHard (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = once(child, 'exit')
  child.kill('SIGKILL')
  await exited
}
