// REST request rate: a closed loop of keep-alive connections, each sending its next request when the last is answered.
//
// The generator polls instead of sleeping between answers (an immediate that queues itself again keeps its event loop
// turning). Over loopback, an answer written to a sleeping generator makes the server's writev wake the other core,
// and that kernel work is charged to the server's CPU. The slower the route, the more often the generator sleeps, so
// the charge grew with the server's own cost: perf put 15 % of the token route's server samples in that wake-up (2 %
// with polling), and the route ran 25-30 % faster with polling while GET /hello did not change. A server answering
// clients over a network never pays it. With a polling generator, its core share says nothing about saturation:
// a closed loop is bounded by the server when the server is busy (`SERVER_BOUND`).
import { encodeRequest, HttpConnection } from '../clients/http-client.js'
import { LatencyHistogram, type LatencySummary } from '../latency-histogram.js'

export interface RestParams {
  port: number
  method: string
  path: string
  headers: Record<string, string>
  body?: string
  /** Status every answer must have. */
  expectStatus: number
  connections: number
  warmupMs: number
  durationMs: number
}

/** A closed-loop run whose server used less of its core than this was paced by the generator, not the server. */
export const SERVER_BOUND = 0.85

export interface RestResult {
  requests: number
  requestsPerSecond: number
  unexpected: number
  firstUnexpected?: string
  /** Closed-loop latency (send to answer); it hides queueing by design, so read it as a rate check, not a tail. */
  latency: LatencySummary
}

export async function runRestRate (params: RestParams): Promise<RestResult> {
  const request = encodeRequest(params.method, params.path, params.headers, params.body)
  const connections = await Promise.all(Array.from({ length: params.connections }, async () => await HttpConnection.open(params.port)))
  const latency = new LatencyHistogram()
  let requests = 0
  let unexpected = 0
  let firstUnexpected: string | undefined
  let polling = true
  const poll = (): void => { if (polling) setImmediate(poll) }
  poll()
  const t0 = performance.now()
  const measureFrom = t0 + params.warmupMs
  const end = measureFrom + params.durationMs
  try {
    await Promise.all(connections.map(async (connection) => {
      for (;;) {
        const sent = performance.now()
        if (sent >= end) return
        const response = await connection.send(request)
        const answered = performance.now()
        if (sent < measureFrom) continue
        requests++
        latency.record(answered - sent)
        if (response.status !== params.expectStatus) {
          unexpected++
          firstUnexpected ??= `${response.status} ${response.body.slice(0, 200)}`
        }
      }
    }))
  } finally {
    polling = false
  }
  for (const connection of connections) connection.close()
  return {
    requests,
    requestsPerSecond: Math.round(requests / (params.durationMs / 1000)),
    unexpected,
    firstUnexpected,
    latency: latency.summary()
  }
}
