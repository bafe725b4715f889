// Join/leave churn: every room holds one resident peer; churning peers join it on a constant schedule, get their
// welcome (and the resident its presence message), leave, and free their slot for a later join.
import type { Socket } from 'node:net'
import type WebSocket from 'ws'
import { protocolFor, type PeerSlot, type Protocol, type RelayKind } from '../clients/protocol-clients.js'
import { rawJoin } from '../clients/raw-joiner.js'
import { LatencyHistogram, type LatencySummary } from '../latency-histogram.js'
import { connectAll } from './connect-all.js'

export interface ChurnSetup { kind: RelayKind, port: number, rooms: number }
export interface ChurnStep { rate: number, durationMs: number, drainMs: number }

export interface ChurnStepResult {
  offeredRate: number
  durationMs: number
  attempted: number
  joined: number
  failed: number
  /** Joins that found no free slot (every churning token still connected). */
  skipped: number
  firstError?: string
  achievedRate: number
  maxSendLagMs: number
  /** From the scheduled join time to the join confirmation. */
  joinLatency: LatencySummary
}

export class JoinChurn {
  #protocol!: Protocol
  #port = 0
  #residents: WebSocket[] = []
  #free: PeerSlot[] = []
  /** Joiners' sockets not yet closed. */
  readonly #busy = new Set<Socket>()

  async setup (setup: ChurnSetup): Promise<{ residents: number }> {
    this.#protocol = protocolFor(setup.kind, setup.port)
    this.#port = setup.port
    const rooms = await this.#protocol.prepare(Array.from({ length: setup.rooms }, (_, r) => ({ roomId: `churn${r}`, peerIds: [`churn${r}r`, `churn${r}c`] })))
    const residents = await connectAll(this.#protocol, rooms.map((room) => room[0]!), 64, () => ({ port: setup.port, onMessage: () => {} }))
    if (residents.failed > 0) throw new Error(`${residents.failed} residents failed to join: ${residents.firstError}`)
    this.#residents = residents.sockets.filter((s): s is WebSocket => s !== undefined)
    this.#free = rooms.map((room) => room[1]!)
    return { residents: this.#residents.length }
  }

  async step (step: ChurnStep): Promise<ChurnStepResult> {
    const latency = new LatencyHistogram()
    const total = Math.max(1, Math.round(step.rate * step.durationMs / 1000))
    const interval = 1000 / step.rate
    let attempted = 0
    let joined = 0
    let failed = 0
    let skipped = 0
    let settled = 0
    let firstError: string | undefined
    let maxLag = 0
    const start = performance.now() + 5
    const join = (intended: number): void => {
      const slot = this.#free.pop()
      if (slot === undefined) {
        skipped++
        settled++
        return
      }
      attempted++
      const socket = rawJoin({ port: this.#port, path: slot.path, joinFrame: this.#protocol.joinFrame, leaveMessage: this.#protocol.leaveMessage, timeoutMs: 30_000 }, {
        joined: () => {
          latency.record(performance.now() - intended)
          joined++
          settled++
        },
        // once, after a leave or a failed join: the slot is free again
        closed: (err) => {
          this.#busy.delete(socket)
          this.#free.push(slot)
          if (err === undefined) return
          failed++
          settled++
          firstError ??= err.message
        }
      })
      this.#busy.add(socket)
    }
    let scheduled = 0
    await new Promise<void>((resolve) => {
      const tick = (): void => {
        const now = performance.now()
        while (scheduled < total) {
          const intended = start + scheduled * interval
          if (intended > now) break
          maxLag = Math.max(maxLag, now - intended)
          join(intended)
          scheduled++
        }
        if (scheduled < total) setTimeout(tick, Math.max(0, start + scheduled * interval - performance.now()))
        else resolve()
      }
      setTimeout(tick, 5)
    })
    const drainUntil = performance.now() + step.drainMs
    while ((settled < total || this.#busy.size > 0) && performance.now() < drainUntil) await new Promise((resolve) => setTimeout(resolve, 5))
    return {
      offeredRate: step.rate,
      durationMs: step.durationMs,
      attempted,
      joined,
      failed,
      skipped,
      firstError,
      achievedRate: Math.round(joined / (step.durationMs / 1000)),
      maxSendLagMs: Math.round(maxLag * 1000) / 1000,
      joinLatency: latency.summary()
    }
  }

  close (): void {
    for (const socket of this.#residents) socket.terminate()
    for (const socket of this.#busy) socket.destroy()
  }
}
