// Search for the highest sustained rate of a load that is stepped up, made robust to one bad try: a collector pause
// in a few seconds of load can decide a step's p99 on its own, so a step that fails gets a second try, and the gap
// between the last sustained step and the first that failed twice is bisected, since fixed steps are coarse at the top.

export interface RateSearchOptions {
  /** Rates tried in this order until one is not sustained on both tries. */
  steps: number[]
  /** Bisection probes between the last sustained step and the step that failed. */
  bisectRounds: number
  /** Bisection rates are rounded to a multiple of this. */
  roundTo: number
  /** Wait between a failed try and its retry, so that the backlog and garbage of the first settle. */
  retryPauseMs: number
  /** performance.now() past which no further bisection probe starts, to bound the search's time. */
  deadline?: number
}

export type ProbePhase = 'step' | 'bisect'

export interface Probe<T> {
  rate: number
  phase: ProbePhase
  /** One try, or two when the first was not sustained. */
  tries: T[]
  /** Whether any try (in practice: the last) was sustained. */
  sustained: boolean
}

export interface RateSearchResult<T> {
  /** Every probe in the order it ran. */
  probes: Array<Probe<T>>
  /** The sustained probe at the highest rate, if any. */
  best?: Probe<T>
  /** The lowest rate that failed on both tries, if any: the search's upper bound. */
  failedAt?: number
  /** The deadline passed before every bisection round had run. */
  bisectCutShort: boolean
}

export async function searchMaxRate<T extends { sustained: boolean }> (
  options: RateSearchOptions,
  tryRate: (rate: number, phase: ProbePhase, attempt: number) => Promise<T>
): Promise<RateSearchResult<T>> {
  const probes: Array<Probe<T>> = []
  const probe = async (rate: number, phase: ProbePhase): Promise<Probe<T>> => {
    const first = await tryRate(rate, phase, 1)
    const tries = [first]
    if (!first.sustained) {
      await new Promise((resolve) => setTimeout(resolve, options.retryPauseMs))
      tries.push(await tryRate(rate, phase, 2))
    }
    const done = { rate, phase, tries, sustained: tries.some((t) => t.sustained) }
    probes.push(done)
    return done
  }

  let lower: number | undefined
  let failedAt: number | undefined
  for (const rate of options.steps) {
    if ((await probe(rate, 'step')).sustained) {
      lower = rate
    } else {
      failedAt = rate
      break
    }
  }

  let bisectCutShort = false
  // with no sustained step there is nothing to bisect from: the maximum is below the first step
  if (lower !== undefined && failedAt !== undefined) {
    let low: number = lower
    let upper = failedAt
    for (let round = 0; round < options.bisectRounds; round++) {
      const mid = Math.round((low + upper) / 2 / options.roundTo) * options.roundTo
      if (mid <= low || mid >= upper) break
      if (options.deadline !== undefined && performance.now() > options.deadline) {
        bisectCutShort = true
        break
      }
      if ((await probe(mid, 'bisect')).sustained) low = mid
      else upper = mid
    }
    failedAt = upper
  }

  const best = probes.filter((p) => p.sustained).reduce<Probe<T> | undefined>((top, p) => top === undefined || p.rate > top.rate ? p : top, undefined)
  return { probes, best, failedAt, bisectCutShort }
}

/** A probe as a row of the report: the fields of the try that decided it (the retry, when there was one), and every try. */
export type DecidedProbe<T> = T & { phase: ProbePhase, tries: T[] }

/** The search's probes as report rows, in the order they ran, and the row of the best one. */
export function decidedProbes<T extends { sustained: boolean }> (result: RateSearchResult<T>): { rows: Array<DecidedProbe<T>>, best: DecidedProbe<T> | undefined } {
  const rows = result.probes.map((p): DecidedProbe<T> => ({ ...p.tries.at(-1)!, phase: p.phase, tries: p.tries }))
  return { rows, best: result.best === undefined ? undefined : rows[result.probes.indexOf(result.best)] }
}
