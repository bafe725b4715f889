// A raw `ws` client of the PeerJS endpoint, for wire-level tests: it queues the frames it receives.
import { once } from 'node:events'
import type { Test } from 'tap'
import WebSocket from 'ws'

export class PeerjsWire {
  readonly frames: any[] = []
  readonly closed: Promise<{ code: number, reason: string }>

  private constructor (readonly socket: WebSocket) {
    socket.on('message', (data) => { this.frames.push(JSON.parse(data.toString())) })
    this.closed = new Promise((resolve) => {
      socket.on('close', (code, reason) => { resolve({ code, reason: reason.toString() }) })
    })
  }

  /** Opens `{base}/peerjs?key=&id=&token=&version=` as the peerjs client writes it; resolves once the socket is open. */
  static async open (t: Test, base: string, query: { key?: string, id?: string, token?: string }, options: WebSocket.ClientOptions = {}): Promise<PeerjsWire> {
    const params = Object.entries({ ...query, version: '1.5.5' }).map(([name, value]) => `${name}=${value ?? ''}`).join('&')
    const socket = new WebSocket(`${base}/peerjs?${params}`, options)
    const wire = new PeerjsWire(socket)
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
}
