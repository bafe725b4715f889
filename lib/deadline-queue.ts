// Many timeouts on one timer, for the in-memory registry's pending expiry per room (a `Timeout` per room is a large
// share of an empty room's memory). Timeouts of one duration come due in the order they were set, so each duration
// keeps a first-in, first-out lane of plain arrays, and one timer waits for the earliest head of all lanes.
import { performance } from 'node:perf_hooks'

/** Entries of one duration, oldest first, in three arrays side by side; `head` is the first entry not yet due. */
interface Lane<T> {
  items: Array<T | undefined>
  tickets: number[]
  deadlines: number[]
  head: number
}

/** A lane drops the entries before its head once they are at least this many and at least half of it. */
const COMPACT_AT = 1024

export class DeadlineQueue<T> {
  readonly #lanes = new Map<number, Lane<T>>()
  readonly #onDue: (item: T, ticket: number) => void
  #timer: NodeJS.Timeout | undefined
  /** The deadline the timer waits for (performance.now() time); Infinity when it is not set. */
  #armedFor = Number.POSITIVE_INFINITY
  #lastTicket = 0

  /**
   * `onDue` is called with each entry once its time has come, and the ticket `schedule` gave it. An entry cannot be
   * cancelled: keep the latest ticket with the item and ignore an older one.
   */
  constructor (onDue: (item: T, ticket: number) => void) {
    this.#onDue = onDue
  }

  /** Calls `onDue(item, ticket)` in `ms` milliseconds (at the earliest; the timer does not keep the process alive). */
  schedule (item: T, ms: number): number {
    const ticket = ++this.#lastTicket
    const deadline = performance.now() + ms
    let lane = this.#lanes.get(ms)
    if (lane === undefined) {
      lane = { items: [], tickets: [], deadlines: [], head: 0 }
      this.#lanes.set(ms, lane)
    }
    lane.items.push(item)
    lane.tickets.push(ticket)
    lane.deadlines.push(deadline)
    if (deadline < this.#armedFor) this.#arm(deadline)
    return ticket
  }

  /** Drops every entry and stops the timer. */
  clear (): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
    this.#armedFor = Number.POSITIVE_INFINITY
    this.#lanes.clear()
  }

  #arm (deadline: number): void {
    clearTimeout(this.#timer)
    this.#armedFor = deadline
    // the timer may fire a little before `deadline` on this clock: what is not yet due then waits for another round
    this.#timer = setTimeout(() => { this.#fire() }, Math.max(0, Math.ceil(deadline - performance.now())))
    this.#timer.unref()
  }

  #fire (): void {
    this.#timer = undefined
    this.#armedFor = Number.POSITIVE_INFINITY
    const now = performance.now()
    try {
      // an entry scheduled by `onDue` joins its lane's tail (a lane made meanwhile is visited too) and is due later
      for (const lane of this.#lanes.values()) {
        while (lane.head < lane.items.length && lane.deadlines[lane.head]! <= now) {
          const i = lane.head++
          const item = lane.items[i] as T
          lane.items[i] = undefined
          this.#onDue(item, lane.tickets[i]!)
        }
      }
    } finally {
      // whatever `onDue` threw, the entries still waiting keep a timer
      let next = Number.POSITIVE_INFINITY
      for (const [ms, lane] of this.#lanes) {
        if (lane.head === lane.items.length) {
          this.#lanes.delete(ms)
          continue
        }
        if (lane.head >= COMPACT_AT && lane.head * 2 >= lane.items.length) {
          lane.items.splice(0, lane.head)
          lane.tickets.splice(0, lane.head)
          lane.deadlines.splice(0, lane.head)
          lane.head = 0
        }
        next = Math.min(next, lane.deadlines[lane.head]!)
      }
      if (next < this.#armedFor) this.#arm(next)
    }
  }
}
