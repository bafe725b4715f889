// Negotiation burst: pairs join within a window on a constant schedule; once both peers of a pair are in, the
// offerer sends an offer and its candidates, the answerer answers on receipt and sends its own candidates.
import type WebSocket from 'ws'
import { connectPeer, protocolFor, readStamp, type RelayKind } from '../clients/protocol-clients.js'
import { LatencyHistogram, round3, type LatencySummary } from '../latency-histogram.js'
import { sampleCandidate, sampleSdp } from '../sdp.js'

export interface BurstParams { kind: RelayKind, port: number, pairs: number, windowMs: number, candidates: number, timeoutMs: number }

export interface BurstResult {
  pairs: number
  completedPairs: number
  joinFailures: number
  firstError?: string
  /** From each peer's scheduled connect time to its join confirmation. */
  joinLatency: LatencySummary
  /** From the later peer's scheduled connect time to the last candidate received by both sides. */
  negotiation: LatencySummary
  /** Each relayed message, from its send to its receipt. */
  relayLatency: LatencySummary
  messages: number
  wallSeconds: number
}

interface PairState { a?: WebSocket, b?: WebSocket, aGot: number, bGot: number, due: number, done: boolean }

export async function runBurst (params: BurstParams): Promise<BurstResult> {
  const protocol = protocolFor(params.kind, params.port)
  const rooms = await protocol.prepare(Array.from({ length: params.pairs }, (_, i) => ({ roomId: `burst${i}`, peerIds: [`burst${i}a`, `burst${i}b`] })))
  const offer = `,"_k":"o","type":"offer","sdp":${JSON.stringify(sampleSdp('offer'))}}}`
  const answer = `,"_k":"a","type":"answer","sdp":${JSON.stringify(sampleSdp('answer'))}}}`
  const candidate = `,"_k":"c",${JSON.stringify(sampleCandidate(1)).slice(1)}}`
  const frame = (to: string, type: 'offer' | 'answer' | 'candidate', tail: string): string =>
    protocol.frameHead(type, to) + '{"_t":' + performance.now().toFixed(3) + tail
  const sendCandidates = (socket: WebSocket, to: string): void => {
    for (let i = 0; i < params.candidates; i++) socket.send(frame(to, 'candidate', candidate))
  }

  const joinLatency = new LatencyHistogram()
  const negotiation = new LatencyHistogram()
  const relayLatency = new LatencyHistogram()
  const expected = 1 + params.candidates
  const pairs: PairState[] = rooms.map(() => ({ aGot: 0, bGot: 0, due: 0, done: false }))
  let completed = 0
  let joinFailures = 0
  let firstError: string | undefined
  let messages = 0
  let allDone: () => void = () => {}
  const finished = new Promise<void>((resolve) => { allDone = resolve })

  const checkDone = (pair: PairState): void => {
    if (pair.done || pair.aGot < expected || pair.bGot < expected) return
    pair.done = true
    negotiation.record(performance.now() - pair.due)
    if (++completed + joinFailures / 2 >= params.pairs) allDone()
  }
  const onMessage = (index: number, role: 'a' | 'b') => (data: Buffer): void => {
    const stamp = readStamp(data)
    if (stamp === undefined) return
    messages++
    relayLatency.record(performance.now() - stamp)
    const pair = pairs[index]!
    if (role === 'a') pair.aGot++
    else {
      pair.bGot++
      if (data.includes('"_k":"o"')) {
        const offerer = rooms[index]![0]!.peerId
        pair.b!.send(frame(offerer, 'answer', answer))
        sendCandidates(pair.b!, offerer)
      }
    }
    checkDone(pair)
  }
  const start = (index: number): void => {
    const pair = pairs[index]!
    const answerer = rooms[index]![1]!.peerId
    pair.a!.send(frame(answerer, 'offer', offer))
    sendCandidates(pair.a!, answerer)
  }

  const t0 = performance.now() + 10
  const slots = 2 * params.pairs
  const started = performance.now()
  for (let k = 0; k < slots; k++) {
    const index = k >> 1
    const role = (k & 1) === 0 ? 'a' : 'b'
    const due = t0 + k * params.windowMs / slots
    if (role === 'b') pairs[index]!.due = due
    setTimeout(() => {
      const slot = rooms[index]![role === 'a' ? 0 : 1]!
      connectPeer(protocol, slot, { port: params.port, onMessage: onMessage(index, role), timeoutMs: params.timeoutMs }).then((socket) => {
        joinLatency.record(performance.now() - due)
        const pair = pairs[index]!
        pair[role] = socket
        if (pair.a !== undefined && pair.b !== undefined) start(index)
      }, (err: unknown) => {
        joinFailures++
        firstError ??= (err as Error).message
        if (completed + joinFailures / 2 >= params.pairs) allDone()
      })
    }, Math.max(0, due - performance.now()))
  }
  const timeout = new Promise<void>((resolve) => setTimeout(resolve, params.windowMs + params.timeoutMs).unref())
  await Promise.race([finished, timeout])
  const wallSeconds = (performance.now() - started) / 1000
  for (const pair of pairs) { pair.a?.terminate(); pair.b?.terminate() }
  return {
    pairs: params.pairs,
    completedPairs: completed,
    joinFailures,
    firstError,
    joinLatency: joinLatency.summary(),
    negotiation: negotiation.summary(),
    relayLatency: relayLatency.summary(),
    messages,
    wallSeconds: round3(wallSeconds)
  }
}
