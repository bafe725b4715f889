// Starts test/support/y-webrtc-provider.ts as a child process: an unmodified y-webrtc client of one Y.Doc.
import { spawn, type ChildProcess } from 'node:child_process'
import type { Test } from 'tap'

const root = new URL('../..', import.meta.url).pathname

export interface ProviderState { text: string, webrtcPeers: string[], errors: string[] }

export class YWebrtcPeer {
  state: ProviderState = { text: '', webrtcPeers: [], errors: [] }
  stderr = ''
  readonly #waiters = new Set<() => void>()

  private constructor (readonly child: ChildProcess) {
    child.on('message', (state: ProviderState) => {
      this.state = state
      for (const wake of this.#waiters) wake()
    })
    child.stderr!.on('data', (data: Buffer) => { this.stderr += data.toString() })
  }

  /** A provider for `room` on the signalling server at `url`; killed in teardown. */
  static start (t: Test, url: string, room: string): YWebrtcPeer {
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/support/y-webrtc-provider.ts', url, room], {
      cwd: root,
      // as for the server process: the child keeps no coverage of its own
      env: { ...process.env, _TAPJS_PROCESSINFO_COVERAGE_: '0' },
      stdio: ['ignore', 'ignore', 'pipe', 'ipc']
    })
    t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
    return new YWebrtcPeer(child)
  }

  insert (text: string): void {
    this.child.send({ insert: text })
  }

  /** Resolves once the provider's state satisfies `predicate`; rejects after `timeout` ms (a ceiling, not a check). */
  async until (predicate: (state: ProviderState) => boolean, what: string, timeout = 60_000): Promise<ProviderState> {
    if (predicate(this.state)) return this.state
    return await new Promise((resolve, reject) => {
      const wake = (): void => {
        if (!predicate(this.state)) return
        this.#waiters.delete(wake)
        clearTimeout(timer)
        resolve(this.state)
      }
      const timer = setTimeout(() => {
        this.#waiters.delete(wake)
        reject(new Error(`timed out waiting for ${what}; state ${JSON.stringify(this.state)}; stderr ${this.stderr.slice(-2000)}`))
      }, timeout)
      this.#waiters.add(wake)
      this.child.once('exit', (code) => { reject(new Error(`provider exited with ${String(code)} waiting for ${what}: ${this.stderr.slice(-2000)}`)) })
    })
  }
}
