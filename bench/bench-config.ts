// Sizes and durations of every workload, for the full run and for the CI smoke mode (a second or two each).
export interface BenchConfig {
  mode: 'full' | 'smoke'
  /**
   * (1): stepped until a step fails twice (a failed step is retried once after `retryPauseMs`), then `bisectRounds`
   * probes between the last sustained step and the failed one, at multiples of `roundTo` msgs/s; no bisection probe
   * starts more than `searchBudgetMs` after a server's first step.
   */
  relay: {
    rooms: number
    steps: number[]
    stepMs: number
    drainMs: number
    sustainedP99Ms: number
    retryPauseMs: number
    bisectRounds: number
    roundTo: number
    searchBudgetMs: number
    /** Half load: rounds that alternate between the relays, each loading one relay for `halfLoadStepMs`. */
    halfLoadRounds: number
    halfLoadStepMs: number
  }
  burst: { pairs: number, windowMs: number, candidates: number, timeoutMs: number }
  mesh: { peers: number, rate: number, durationMs: number }
  soak: { peers: number, holdMs: number, concurrency: number, localAddresses: string[] }
  /** (5): stepped, retried and bisected as (1) is; CPU per join is also compared at `compareRate`, one of the steps. */
  churn: { rooms: number, steps: number[], stepMs: number, drainMs: number, sustainedP99Ms: number, retryPauseMs: number, bisectRounds: number, roundTo: number, compareRate: number }
  /** (6): a warm-up per route, then `rounds` rounds of `roundMs` per route, the routes taking turns. */
  rest: { connections: number, warmupMs: number, roundMs: number, rounds: number }
  /** (7): pairs per placement, total msgs/s of candidate-size frames, measured in rounds that alternate the placements. */
  /** `nodes`: the nodes of each cross-node deployment (one Redis, the cluster); each pair spans two of them. */
  redis: { pairs: number, nodes: number, rate: number, warmupMs: number, roundMs: number, rounds: number, drainMs: number }
  /** CPU profiles of the server over `durationMs` of load, sampled every `intervalUs`. */
  profile: { enabled: boolean, durationMs: number, intervalUs: number }
}

const localAddresses = Array.from({ length: 8 }, (_, i) => `127.0.0.${i + 1}`)

export const FULL: BenchConfig = {
  mode: 'full',
  // 500 rooms of 2 peers. Two bisection rounds narrow a gap of 5,000 msgs/s to 1,250; with the budget, the
  // four servers' searches and half-load runs stay under about 5 minutes
  relay: {
    rooms: 500,
    steps: [2000, 5000, 10_000, 15_000, 20_000, 25_000, 30_000, 40_000, 50_000, 60_000],
    stepMs: 3000,
    drainMs: 2000,
    sustainedP99Ms: 50,
    retryPauseMs: 1000,
    bisectRounds: 2,
    roundTo: 500,
    searchBudgetMs: 50_000,
    halfLoadRounds: 4,
    halfLoadStepMs: 3000
  },
  burst: { pairs: 200, windowMs: 1000, candidates: 15, timeoutMs: 15_000 },
  mesh: { peers: 8, rate: 2000, durationMs: 4000 },
  // one 30 s server heartbeat falls inside the hold
  soak: { peers: 20_000, holdMs: 32_000, concurrency: 256, localAddresses },
  churn: { rooms: 1000, steps: [500, 1000, 2000, 3000, 4000, 5000, 6000, 8000, 10000, 12000], stepMs: 3000, drainMs: 3000, sustainedP99Ms: 100, retryPauseMs: 1000, bisectRounds: 2, roundTo: 250, compareRate: 2000 },
  rest: { connections: 32, warmupMs: 1000, roundMs: 2000, rounds: 4 },
  redis: { pairs: 100, nodes: 2, rate: 800, warmupMs: 2000, roundMs: 5000, rounds: 4, drainMs: 2000 },
  profile: { enabled: true, durationMs: 5000, intervalUs: 500 }
}

export const SMOKE: BenchConfig = {
  mode: 'smoke',
  relay: { rooms: 10, steps: [500, 1000], stepMs: 700, drainMs: 1000, sustainedP99Ms: 1000, retryPauseMs: 200, bisectRounds: 0, roundTo: 500, searchBudgetMs: 10_000, halfLoadRounds: 1, halfLoadStepMs: 700 },
  burst: { pairs: 10, windowMs: 300, candidates: 3, timeoutMs: 5000 },
  mesh: { peers: 8, rate: 200, durationMs: 700 },
  soak: { peers: 100, holdMs: 500, concurrency: 32, localAddresses: localAddresses.slice(0, 2) },
  churn: { rooms: 20, steps: [100], stepMs: 700, drainMs: 2000, sustainedP99Ms: 1000, retryPauseMs: 200, bisectRounds: 0, roundTo: 50, compareRate: 100 },
  rest: { connections: 4, warmupMs: 100, roundMs: 500, rounds: 1 },
  redis: { pairs: 4, nodes: 2, rate: 200, warmupMs: 200, roundMs: 500, rounds: 1, drainMs: 1000 },
  profile: { enabled: true, durationMs: 500, intervalUs: 1000 }
}
