// A minimal HTTP/1.1 keep-alive client over raw sockets. The load generator has one core like the server, and Node's
// http client costs about as much per request as a Fastify route, so it would measure itself; this one costs far less.
import { connect, type Socket } from 'node:net'

export interface HttpResponse { status: number, body: string }

const HEADER_END = Buffer.from('\r\n\r\n')

/** One keep-alive connection; requests on it run one at a time (no pipelining). */
export class HttpConnection {
  readonly #socket: Socket
  #buffer: Buffer = Buffer.alloc(0)
  #waiting: { resolve: (response: HttpResponse) => void, reject: (err: Error) => void } | undefined
  #closed: Error | undefined

  private constructor (socket: Socket) {
    this.#socket = socket
    socket.setNoDelay(true)
    socket.on('data', (chunk: Buffer) => {
      this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk])
      this.#parse()
    })
    const fail = (err: Error): void => {
      this.#closed = err
      this.#waiting?.reject(err)
      this.#waiting = undefined
    }
    socket.on('error', fail)
    socket.on('close', () => fail(new Error('connection closed')))
  }

  static async open (port: number, host = '127.0.0.1'): Promise<HttpConnection> {
    return await new Promise((resolve, reject) => {
      const socket = connect({ port, host }, () => {
        socket.off('error', reject)
        resolve(new HttpConnection(socket))
      })
      socket.once('error', reject)
    })
  }

  /** Sends a request already encoded with `encodeRequest`. */
  async send (request: Buffer | string): Promise<HttpResponse> {
    if (this.#closed !== undefined) throw this.#closed
    if (this.#waiting !== undefined) throw new Error('a request is already in flight on this connection')
    return await new Promise((resolve, reject) => {
      this.#waiting = { resolve, reject }
      this.#socket.write(request)
    })
  }

  close (): void {
    this.#socket.destroy()
  }

  #parse (): void {
    const end = this.#buffer.indexOf(HEADER_END)
    if (end < 0) return
    const head = this.#buffer.toString('latin1', 0, end)
    const status = Number(head.slice(9, 12))
    const match = /\r\ncontent-length:\s*(\d+)/i.exec(head)
    if (match === null && /\r\ntransfer-encoding:/i.test(head)) {
      this.#socket.destroy(new Error('chunked responses are not supported by the bench client'))
      return
    }
    const length = match === null ? 0 : Number(match[1])
    const total = end + 4 + length
    if (this.#buffer.length < total) return
    const body = this.#buffer.toString('utf8', end + 4, total)
    this.#buffer = this.#buffer.subarray(total)
    const waiting = this.#waiting
    this.#waiting = undefined
    waiting?.resolve({ status, body })
  }
}

export function encodeRequest (method: string, path: string, headers: Record<string, string>, body?: string): Buffer {
  const lines = [`${method} ${path} HTTP/1.1`, 'Host: 127.0.0.1', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)]
  if (body !== undefined) lines.push('Content-Type: application/json', `Content-Length: ${Buffer.byteLength(body)}`)
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n${body ?? ''}`)
}

/** A few connections shared by many requests, for setup work (rooms, tokens). */
export class HttpPool {
  readonly #idle: HttpConnection[] = []
  readonly #queue: Array<(connection: HttpConnection) => void> = []

  private constructor (readonly port: number) {}

  static async open (port: number, size: number): Promise<HttpPool> {
    const pool = new HttpPool(port)
    for (let i = 0; i < size; i++) pool.#idle.push(await HttpConnection.open(port))
    return pool
  }

  async request (method: string, path: string, headers: Record<string, string>, body?: unknown): Promise<HttpResponse> {
    const connection = this.#idle.pop() ?? await new Promise<HttpConnection>((resolve) => this.#queue.push(resolve))
    try {
      return await connection.send(encodeRequest(method, path, headers, body === undefined ? undefined : JSON.stringify(body)))
    } finally {
      const next = this.#queue.shift()
      if (next !== undefined) next(connection)
      else this.#idle.push(connection)
    }
  }

  close (): void {
    for (const connection of this.#idle) connection.close()
  }
}
