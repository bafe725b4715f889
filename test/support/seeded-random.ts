// A seeded pseudo-random source (mulberry32) for tests that draw many cases: a failure can be replayed from its seed.
export function seededRandom (seed: number): (n: number) => number {
  let state = seed
  /** An integer in [0, n). */
  return (n) => {
    state = (state + 0x6d2b79f5) | 0
    let x = Math.imul(state ^ (state >>> 15), 1 | state)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return ((x ^ (x >>> 14)) >>> 0) % n
  }
}
