// REST request rate: a closed loop of keep-alive connections, each sending its next request when the last is answered.
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
  const t0 = performance.now()
  const measureFrom = t0 + params.warmupMs
  const end = measureFrom + params.durationMs
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
  for (const connection of connections) connection.close()
  return {
    requests,
    requestsPerSecond: Math.round(requests / (params.durationMs / 1000)),
    unexpected,
    firstUnexpected,
    latency: latency.summary()
  }
}
