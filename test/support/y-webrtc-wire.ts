// A raw `ws` client of the y-webrtc endpoint, for wire-level tests: it queues the frames it receives.
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import type { Test } from 'tap'
import WebSocket from 'ws'

export class YWebrtcWire {
  readonly frames: any[] = []
  readonly closed: Promise<{ code: number, reason: string }>
  pings = 0
  /** The probes of `subscribe` are kept out of `frames`: this one is awaited. */
  #probe: { id: string, seen: () => void } | undefined

  private constructor (readonly socket: WebSocket) {
    socket.on('message', (data) => {
      const frame = JSON.parse(data.toString())
      const probe = frame.type === 'publish' ? frame.data?.probe : undefined
      if (probe === undefined) return this.frames.push(frame)
      if (this.#probe !== undefined && probe === this.#probe.id) this.#probe.seen()
    })
    socket.on('ping', () => { this.pings++ })
    this.closed = new Promise((resolve) => {
      socket.on('close', (code, reason) => { resolve({ code, reason: reason.toString() }) })
    })
  }

  /** Opens `url` (the endpoint, with `?token=` in the token mode); resolves once the socket is open. */
  static async open (t: Test, url: string, options: WebSocket.ClientOptions = {}): Promise<YWebrtcWire> {
    const socket = new WebSocket(url, options)
    const wire = new YWebrtcWire(socket)
    t.teardown(() => { socket.terminate() })
    await once(socket, 'open')
    return wire
  }

  send (frame: unknown): void {
    this.socket.send(typeof frame === 'string' ? frame : JSON.stringify(frame))
  }

  /** The first unread frame of `type`, removed from the queue, within a bounded wait. */
  async next (type: string, timeout = 5000): Promise<any> {
    const deadline = Date.now() + timeout
    for (;;) {
      const index = this.frames.findIndex((frame) => frame.type === type)
      if (index !== -1) return this.frames.splice(index, 1)[0]
      if (Date.now() > deadline) throw new Error(`no ${type} within ${timeout} ms; have ${JSON.stringify(this.frames)}`)
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
  }

  /** A ping/pong round trip: every frame the server sent before the pong has arrived. */
  async settle (): Promise<void> {
    this.send({ type: 'ping' })
    await this.next('pong')
  }

  /**
   * Subscribes and waits until the server holds the subscription: the echo of a publish to the topic came back. Every
   * subscriber of the topic drops such probes.
   */
  async subscribe (topic: string): Promise<void> {
    const id = randomUUID()
    const seen = new Promise<void>((resolve) => { this.#probe = { id, seen: resolve } })
    this.send({ type: 'subscribe', topics: [topic] })
    this.send({ type: 'publish', topic, data: { probe: id } })
    await seen
  }
}
