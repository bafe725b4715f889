// Joins many peers with a bounded number of joins in flight.
import type WebSocket from 'ws'
import { connectPeer, type ConnectOptions, type PeerSlot, type Protocol } from '../clients/protocol-clients.js'
import { LatencyHistogram, type LatencySummary } from '../latency-histogram.js'

export interface ConnectAllResult {
  sockets: Array<WebSocket | undefined>
  joined: number
  failed: number
  firstError?: string
  seconds: number
  joinsPerSecond: number
  joinLatency: LatencySummary
}

export async function connectAll (
  protocol: Protocol,
  slots: PeerSlot[],
  concurrency: number,
  options: (slot: PeerSlot, index: number) => ConnectOptions
): Promise<ConnectAllResult> {
  const sockets: Array<WebSocket | undefined> = new Array(slots.length)
  const latency = new LatencyHistogram()
  let next = 0
  let failed = 0
  let firstError: string | undefined
  const started = performance.now()
  const worker = async (): Promise<void> => {
    while (next < slots.length) {
      const index = next++
      const slot = slots[index]!
      const t0 = performance.now()
      try {
        sockets[index] = await connectPeer(protocol, slot, options(slot, index))
        latency.record(performance.now() - t0)
      } catch (err) {
        failed++
        firstError ??= (err as Error).message
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, slots.length) }, worker))
  const seconds = (performance.now() - started) / 1000
  const joined = slots.length - failed
  return { sockets, joined, failed, firstError, seconds, joinsPerSecond: joined / seconds, joinLatency: latency.summary() }
}
