// Idle soak: many peers joined in rooms of two, then held without traffic while the server's memory and idle CPU are read.
import type WebSocket from 'ws'
import { protocolFor, type RelayKind } from '../clients/protocol-clients.js'
import type { LatencySummary } from '../latency-histogram.js'
import { connectAll } from './connect-all.js'

export interface SoakParams {
  kind: RelayKind
  port: number
  peers: number
  /** Source addresses to spread the client ports over (127.0.0.x). */
  localAddresses: string[]
  concurrency: number
}

export interface SoakJoinResult {
  peers: number
  joined: number
  failed: number
  firstError?: string
  prepareSeconds: number
  joinSeconds: number
  joinsPerSecond: number
  joinLatency: LatencySummary
}

export class IdleSoak {
  #sockets: WebSocket[] = []
  #closedEarly = 0

  async join (params: SoakParams): Promise<SoakJoinResult> {
    const protocol = protocolFor(params.kind, params.port)
    const rooms = Math.ceil(params.peers / 2)
    const prepareStart = performance.now()
    const plan = Array.from({ length: rooms }, (_, r) => ({ roomId: `soak${r}`, peerIds: [`soak${r}a`, `soak${r}b`].slice(0, Math.min(2, params.peers - 2 * r)) }))
    const slots = (await protocol.prepare(plan)).flat()
    const prepareSeconds = (performance.now() - prepareStart) / 1000
    const result = await connectAll(protocol, slots, params.concurrency, (_slot, index) => ({
      port: params.port,
      localAddress: params.localAddresses[index % params.localAddresses.length],
      timeoutMs: 60_000,
      onMessage: () => {},
      onClose: () => { this.#closedEarly++ }
    }))
    this.#sockets = result.sockets.filter((s): s is WebSocket => s !== undefined)
    return {
      peers: params.peers,
      joined: result.joined,
      failed: result.failed,
      firstError: result.firstError,
      prepareSeconds,
      joinSeconds: result.seconds,
      joinsPerSecond: Math.round(result.joinsPerSecond),
      joinLatency: result.joinLatency
    }
  }

  /** How many of the joined sockets are still open (the server may drop idle peers). */
  check (): { open: number, closed: number } {
    const open = this.#sockets.filter((s) => s.readyState === 1).length
    return { open, closed: this.#closedEarly }
  }

  close (): void {
    for (const socket of this.#sockets) socket.terminate()
    this.#sockets = []
  }
}
