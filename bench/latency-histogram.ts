// Latencies in an HDR histogram (microsecond resolution, 3 significant digits), summarised in milliseconds.
import * as hdr from 'hdr-histogram-js'

export interface LatencySummary {
  count: number
  p50: number
  p90: number
  p99: number
  p999: number
  max: number
  mean: number
}

export class LatencyHistogram {
  readonly #histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: 3 })

  /** Records a latency given in milliseconds (fractions kept to the microsecond). */
  record (ms: number): void {
    this.#histogram.recordValue(Math.max(1, Math.round(ms * 1000)))
  }

  get count (): number {
    return this.#histogram.totalCount
  }

  summary (): LatencySummary {
    const h = this.#histogram
    const at = (p: number): number => h.totalCount === 0 ? 0 : round3(h.getValueAtPercentile(p) / 1000)
    return {
      count: h.totalCount,
      p50: at(50),
      p90: at(90),
      p99: at(99),
      p999: at(99.9),
      max: h.totalCount === 0 ? 0 : round3(h.maxValue / 1000),
      mean: h.totalCount === 0 ? 0 : round3(h.mean / 1000)
    }
  }
}

export const round3 = (n: number): number => Math.round(n * 1000) / 1000
