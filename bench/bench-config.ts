// Sizes and durations of every workload, for the full run and for the CI smoke mode (a second or two each).
export interface BenchConfig {
  mode: 'full' | 'smoke'
  relay: { rooms: number, steps: number[], stepMs: number, drainMs: number, sustainedP99Ms: number, /** run the half-load step in a fresh server (else after the steps, in the same one) */ freshHalfLoad: boolean }
  burst: { pairs: number, windowMs: number, candidates: number, timeoutMs: number }
  mesh: { peers: number, rate: number, durationMs: number }
  soak: { peers: number, holdMs: number, concurrency: number, localAddresses: string[] }
  churn: { rooms: number, steps: number[], stepMs: number, drainMs: number, sustainedP99Ms: number }
  rest: { connections: number, warmupMs: number, durationMs: number }
  /** (7): pairs per placement, total msgs/s of candidate-size frames, measured in rounds that alternate the placements. */
  redis: { pairs: number, rate: number, warmupMs: number, roundMs: number, rounds: number, drainMs: number }
  profile: { enabled: boolean, durationMs: number }
}

const localAddresses = Array.from({ length: 8 }, (_, i) => `127.0.0.${i + 1}`)

export const FULL: BenchConfig = {
  mode: 'full',
  // 500 rooms of 2 peers; stepped until a step is not sustained
  relay: { rooms: 500, steps: [2000, 5000, 10_000, 15_000, 20_000, 25_000, 30_000, 40_000, 50_000, 60_000], stepMs: 3000, drainMs: 2000, sustainedP99Ms: 50, freshHalfLoad: true },
  burst: { pairs: 200, windowMs: 1000, candidates: 15, timeoutMs: 15_000 },
  mesh: { peers: 8, rate: 2000, durationMs: 4000 },
  // one 30 s server heartbeat falls inside the hold
  soak: { peers: 20_000, holdMs: 32_000, concurrency: 256, localAddresses },
  churn: { rooms: 1000, steps: [500, 1000, 2000, 3000, 4000, 5000, 6000, 8000], stepMs: 3000, drainMs: 3000, sustainedP99Ms: 100 },
  rest: { connections: 32, warmupMs: 1000, durationMs: 4000 },
  redis: { pairs: 100, rate: 800, warmupMs: 2000, roundMs: 5000, rounds: 4, drainMs: 2000 },
  profile: { enabled: true, durationMs: 5000 }
}

export const SMOKE: BenchConfig = {
  mode: 'smoke',
  relay: { rooms: 10, steps: [500, 1000], stepMs: 700, drainMs: 1000, sustainedP99Ms: 1000, freshHalfLoad: false },
  burst: { pairs: 10, windowMs: 300, candidates: 3, timeoutMs: 5000 },
  mesh: { peers: 8, rate: 200, durationMs: 700 },
  soak: { peers: 100, holdMs: 500, concurrency: 32, localAddresses: localAddresses.slice(0, 2) },
  churn: { rooms: 20, steps: [100], stepMs: 700, drainMs: 2000, sustainedP99Ms: 1000 },
  rest: { connections: 4, warmupMs: 100, durationMs: 700 },
  redis: { pairs: 4, rate: 200, warmupMs: 200, roundMs: 500, rounds: 1, drainMs: 1000 },
  profile: { enabled: false, durationMs: 1000 }
}
