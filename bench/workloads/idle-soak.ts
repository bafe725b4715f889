// Idle soak: many peers joined in rooms of two, then held without traffic while the server's memory and idle CPU are read.
import type WebSocket from 'ws'
import { protocolFor, type PeerSlot, type RelayKind } from '../clients/protocol-clients.js'
import type { LatencySummary } from '../latency-histogram.js'
import { connectAll } from './connect-all.js'

export interface SoakParams {
  kind: RelayKind
  port: number
  peers: number
  /** Source addresses to spread the client ports over (127.0.0.x). */
  localAddresses: string[]
  concurrency: number
  /** Room and peer ids start with this (default `soak`), so that generators sharing one deployment do not collide. */
  roomPrefix?: string
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
  #prepared: { slots: PeerSlot[], seconds: number } | undefined

  /**
   * Creates the rooms and credentials (through the product's REST API) without joining, so that an orchestrator
   * driving several generators can start their joins together and time them as one.
   */
  async prepare (params: SoakParams): Promise<{ slots: number, prepareSeconds: number }> {
    const protocol = protocolFor(params.kind, params.port)
    const prefix = params.roomPrefix ?? 'soak'
    const rooms = Math.ceil(params.peers / 2)
    const prepareStart = performance.now()
    const plan = Array.from({ length: rooms }, (_, r) => ({ roomId: `${prefix}${r}`, peerIds: [`${prefix}${r}a`, `${prefix}${r}b`].slice(0, Math.min(2, params.peers - 2 * r)) }))
    const slots = (await protocol.prepare(plan)).flat()
    this.#prepared = { slots, seconds: (performance.now() - prepareStart) / 1000 }
    return { slots: slots.length, prepareSeconds: this.#prepared.seconds }
  }

  /** Joins the peers of the last `prepare`. */
  async connect (params: SoakParams): Promise<SoakJoinResult> {
    const prepared = this.#prepared
    if (prepared === undefined) throw new Error('soakConnect before soakPrepare')
    this.#prepared = undefined
    const protocol = protocolFor(params.kind, params.port)
    const result = await connectAll(protocol, prepared.slots, params.concurrency, (_slot, index) => ({
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
      prepareSeconds: prepared.seconds,
      joinSeconds: result.seconds,
      joinsPerSecond: Math.round(result.joinsPerSecond),
      joinLatency: result.joinLatency
    }
  }

  async join (params: SoakParams): Promise<SoakJoinResult> {
    await this.prepare(params)
    return await this.connect(params)
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
