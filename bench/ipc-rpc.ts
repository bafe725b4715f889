// Request/response calls over a child process's IPC channel, between the orchestrator and its servers and load generators.
import type { ChildProcess } from 'node:child_process'

interface Request { rpc: 'call', id: number, method: string, params: unknown }
interface Response { rpc: 'reply', id: number, result?: unknown, error?: string }

export type Handlers = Record<string, (params: unknown) => unknown>

/** In a child: answers the parent's calls with these handlers. */
export function serveRpc (handlers: Handlers): void {
  process.on('message', (raw: unknown) => {
    const request = raw as Request
    if (request?.rpc !== 'call') return
    const reply = (response: Omit<Response, 'rpc' | 'id'>): void => { process.send?.({ rpc: 'reply', id: request.id, ...response }) }
    const handler = handlers[request.method]
    if (handler === undefined) return reply({ error: `unknown method ${request.method}` })
    Promise.resolve()
      .then(() => handler(request.params))
      .then((result) => reply({ result }), (err: unknown) => reply({ error: err instanceof Error ? err.stack ?? err.message : String(err) }))
  })
}

/** In the parent: calls a child's handlers; a call fails if the child exits or does not answer in time. */
export class RpcClient {
  #next = 1
  readonly #pending = new Map<number, { resolve: (value: unknown) => void, reject: (err: Error) => void, timer: NodeJS.Timeout }>()

  constructor (readonly child: ChildProcess, readonly name: string) {
    child.on('message', (raw: unknown) => {
      const response = raw as Response
      if (response?.rpc !== 'reply') return
      const pending = this.#pending.get(response.id)
      if (pending === undefined) return
      this.#pending.delete(response.id)
      clearTimeout(pending.timer)
      if (response.error !== undefined) pending.reject(new Error(`${name}: ${response.error}`))
      else pending.resolve(response.result)
    })
    child.on('exit', (code, signal) => {
      for (const [id, pending] of this.#pending) {
        clearTimeout(pending.timer)
        pending.reject(new Error(`${name} exited (code ${code}, signal ${signal}) during call ${id}`))
      }
      this.#pending.clear()
    })
  }

  async call<T> (method: string, params: unknown = {}, timeoutMs = 120_000): Promise<T> {
    const id = this.#next++
    return await new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id)
        reject(new Error(`${this.name}: ${method} did not answer within ${timeoutMs} ms`))
      }, timeoutMs)
      this.#pending.set(id, { resolve: resolve as (value: unknown) => void, reject, timer })
      this.child.send({ rpc: 'call', id, method, params } satisfies Request)
    })
  }
}
