// Relay throughput and mesh workloads: peers joined in rooms, each ordered pair of a room a flow, messages sent on a
// constant schedule round-robin over the flows. Latency runs from the intended send time (coordinated omission).
import type WebSocket from 'ws'
import { protocolFor, readStamp, type RelayKind, type SignalType } from '../clients/protocol-clients.js'
import { LatencyHistogram, round3, type LatencySummary } from '../latency-histogram.js'
import { sampleCandidate, sampleSdp } from '../sdp.js'
import { connectAll } from './connect-all.js'

export interface RelaySetup {
  kind: RelayKind
  /** Where rooms and tokens are made (REST), and where peers connect unless `ports` is given. */
  port: number
  rooms: number
  peersPerRoom: number
  /** Several nodes of one deployment: the p-th peer of room r connects to ports[(r + p) % ports.length]. */
  ports?: number[]
  /** Room ids start with this (default `relay`), so that several sets of flows can share one deployment. */
  roomPrefix?: string
  /** Candidate-size frames only, instead of the negotiation mix (1 offer, 1 answer, 8 candidates per 10). */
  candidatesOnly?: boolean
}
export interface RelayStep {
  rate: number
  durationMs: number
  drainMs: number
  /** Keep the latencies of the steps since the last step without it in `cumulativeLatency`. */
  accumulate?: boolean
}

export interface RelayStepResult {
  offeredRate: number
  durationMs: number
  sent: number
  received: number
  lost: number
  achievedRate: number
  /** How far behind its schedule the generator fell at worst: large when the generator itself is saturated. */
  maxSendLagMs: number
  /** Mean of the same: part of every latency (a timer fires late by about a millisecond at low rates). */
  meanSendLagMs: number
  latency: LatencySummary
  /** Latency over this step and the steps before it back to the last one without `accumulate`. */
  cumulativeLatency: LatencySummary
}

/** Per 10 messages of a flow: 1 offer, 1 answer, 8 candidates, as a negotiation with trickle ICE sends them. */
const CYCLE: SignalType[] = ['offer', 'answer', 'candidate', 'candidate', 'candidate', 'candidate', 'candidate', 'candidate', 'candidate', 'candidate']
const CANDIDATES: SignalType[] = ['candidate']

interface Flow { from: WebSocket, heads: Record<SignalType, string> }

export class RelayFlows {
  readonly #sockets: WebSocket[]
  readonly #flows: Flow[]
  readonly #tails: Record<SignalType, string[]>
  readonly #cycle: SignalType[]
  #histogram = new LatencyHistogram()
  #cumulative = new LatencyHistogram()
  #received = 0
  #stepStart = Number.POSITIVE_INFINITY
  readonly joinSeconds: number
  readonly bytesPerMessage: number

  private constructor (sockets: WebSocket[], flows: Flow[], joinSeconds: number, cycle: SignalType[]) {
    this.#sockets = sockets
    this.#cycle = cycle
    this.#flows = flows
    this.joinSeconds = joinSeconds
    const sdp = (type: 'offer' | 'answer'): string => `,"type":"${type}","sdp":${JSON.stringify(sampleSdp(type))}}}`
    this.#tails = {
      offer: [sdp('offer')],
      answer: [sdp('answer')],
      candidate: [0, 1, 2, 3, 4, 5].map((n) => `,${JSON.stringify(sampleCandidate(n)).slice(1)}}`)
    }
    let bytes = 0
    for (let k = 0; k < 60; k++) bytes += this.#frame(0, k, 1234567.891).length
    this.bytesPerMessage = Math.round(bytes / 60)
  }

  static async setup (setup: RelaySetup): Promise<RelayFlows> {
    const protocol = protocolFor(setup.kind, setup.port)
    const prefix = setup.roomPrefix ?? 'relay'
    const plan = Array.from({ length: setup.rooms }, (_, r) => ({
      roomId: `${prefix}${r}`,
      peerIds: Array.from({ length: setup.peersPerRoom }, (_, p) => `${prefix}${r}p${p}`)
    }))
    const rooms = await protocol.prepare(plan)
    let flows: RelayFlows | undefined
    const onMessage = (data: Buffer): void => flows?.onMessage(data)
    const ports = setup.ports ?? [setup.port]
    const portOf = new Map(rooms.flatMap((room, r) => room.map((slot, p) => [slot.peerId, ports[(r + p) % ports.length]!] as const)))
    const joined = await connectAll(protocol, rooms.flat(), 64, (slot) => ({ port: portOf.get(slot.peerId)!, onMessage }))
    if (joined.failed > 0) throw new Error(`${joined.failed} peers failed to join: ${joined.firstError}`)
    const byId = new Map(rooms.flat().map((slot, i) => [slot.peerId, joined.sockets[i]!]))
    const flowList: Flow[] = []
    for (const room of rooms) {
      for (const a of room) {
        for (const b of room) {
          if (a === b) continue
          flowList.push({
            from: byId.get(a.peerId)!,
            heads: { offer: protocol.frameHead('offer', b.peerId), answer: protocol.frameHead('answer', b.peerId), candidate: protocol.frameHead('candidate', b.peerId) }
          })
        }
      }
    }
    flows = new RelayFlows([...byId.values()], flowList, joined.seconds, setup.candidatesOnly === true ? CANDIDATES : CYCLE)
    return flows
  }

  get flowCount (): number {
    return this.#flows.length
  }

  onMessage (data: Buffer): void {
    const stamp = readStamp(data)
    // stragglers of an earlier step do not count in this one
    if (stamp === undefined || stamp < this.#stepStart - 1) return
    this.#received++
    const latency = performance.now() - stamp
    this.#histogram.record(latency)
    this.#cumulative.record(latency)
  }

  #frame (flowIndex: number, k: number, intended: number): string {
    const type = this.#cycle[k % this.#cycle.length]!
    const tails = this.#tails[type]
    return this.#flows[flowIndex]!.heads[type] + '{"_t":' + intended.toFixed(3) + tails[k % tails.length]!
  }

  async step (step: RelayStep): Promise<RelayStepResult> {
    this.#histogram = new LatencyHistogram()
    if (step.accumulate !== true) this.#cumulative = new LatencyHistogram()
    this.#received = 0
    const total = Math.max(1, Math.round(step.rate * step.durationMs / 1000))
    const interval = 1000 / step.rate
    const start = performance.now() + 5
    this.#stepStart = start
    const flowCount = this.#flows.length
    let sent = 0
    let maxLag = 0
    let sumLag = 0
    await new Promise<void>((resolve) => {
      const tick = (): void => {
        const now = performance.now()
        while (sent < total) {
          const intended = start + sent * interval
          if (intended > now) break
          maxLag = Math.max(maxLag, now - intended)
          sumLag += now - intended
          const flowIndex = sent % flowCount
          this.#flows[flowIndex]!.from.send(this.#frame(flowIndex, Math.floor(sent / flowCount), intended))
          sent++
        }
        if (sent < total) setTimeout(tick, Math.max(0, start + sent * interval - performance.now()))
        else resolve()
      }
      setTimeout(tick, 5)
    })
    const drainUntil = performance.now() + step.drainMs
    while (this.#received < sent && performance.now() < drainUntil) await new Promise((resolve) => setTimeout(resolve, 5))
    const received = this.#received
    this.#stepStart = Number.POSITIVE_INFINITY
    return {
      offeredRate: step.rate,
      durationMs: step.durationMs,
      sent,
      received,
      lost: sent - received,
      achievedRate: Math.round(received / (step.durationMs / 1000)),
      maxSendLagMs: round3(maxLag),
      meanSendLagMs: round3(sumLag / Math.max(1, sent)),
      latency: this.#histogram.summary(),
      cumulativeLatency: this.#cumulative.summary()
    }
  }

  close (): void {
    for (const socket of this.#sockets) socket.terminate()
  }
}
