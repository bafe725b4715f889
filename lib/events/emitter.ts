// The events in process: numbered and kept by the outbox in the order they happened in each room, then told to
// the listeners of this node. Nothing here waits on the relay, and nothing the relay does waits on this.
import type { EventData, EventListener, EventOutbox, EventType, SignallingEvent } from './types.js'
import { newEvent } from './types.js'

export interface EmitterLog {
  warn: (obj: object, msg: string) => void
  error: (obj: object, msg: string) => void
}

export class LifecycleEvents {
  readonly #outbox: EventOutbox
  readonly #log: EmitterLog
  readonly #listeners = new Map<EventType, Set<EventListener<EventType>>>()
  /** Per room, the last event still on its way: the next one waits for it. */
  readonly #chains = new Map<string, Promise<void>>()
  /** An event the outbox cannot take (Redis away) is retried this long, then counted as dropped. */
  readonly #appendFor: number
  readonly #dropped: () => void
  #closed = false

  constructor (outbox: EventOutbox, options: { log: EmitterLog, appendFor: number, dropped: () => void }) {
    this.#outbox = outbox
    this.#log = options.log
    this.#appendFor = options.appendFor
    this.#dropped = options.dropped
  }

  on<T extends EventType> (type: T, listener: EventListener<T>): void {
    let set = this.#listeners.get(type)
    if (set === undefined) this.#listeners.set(type, set = new Set())
    set.add(listener as EventListener<EventType>)
  }

  off<T extends EventType> (type: T, listener: EventListener<T>): void {
    this.#listeners.get(type)?.delete(listener as EventListener<EventType>)
  }

  /** Records that something happened now; the outbox numbers it after the room's previous event. */
  emit<T extends EventType> (type: T, roomId: string, data: EventData[T]): void {
    if (this.#closed) return
    const event = newEvent(type, roomId, data)
    const previous = this.#chains.get(roomId) ?? Promise.resolve()
    const next = previous.then(async () => await this.#publish(event))
    this.#chains.set(roomId, next)
    void next.finally(() => { if (this.#chains.get(roomId) === next) this.#chains.delete(roomId) })
  }

  async #publish (event: ReturnType<typeof newEvent>): Promise<void> {
    const deadline = Date.now() + this.#appendFor
    let kept: SignallingEvent | undefined
    for (let wait = 100; kept === undefined; wait = Math.min(2 * wait, 5000)) {
      try {
        kept = await this.#outbox.append(event)
      } catch (err) {
        if (this.#closed || Date.now() + wait > deadline) {
          this.#dropped()
          this.#log.error({ err, eventId: event.id, type: event.type, roomId: event.roomId }, 'event dropped: the outbox could not keep it')
          return
        }
        this.#log.warn({ err, eventId: event.id, retryIn: wait }, 'event not kept by the outbox yet: retrying')
        await new Promise((resolve) => setTimeout(resolve, wait).unref())
      }
    }
    for (const listener of this.#listeners.get(kept.type) ?? []) {
      try {
        listener(kept)
      } catch (err) {
        this.#log.error({ err, type: kept.type }, 'event listener failed')
      }
    }
  }

  /** Resolves once every event emitted so far is kept (or dropped) and told. */
  async settled (): Promise<void> {
    while (this.#chains.size > 0) await Promise.all([...this.#chains.values()])
  }

  /** Waits (at most `timeout` ms) for the events on their way, then stops taking new ones. */
  async close (timeout: number): Promise<void> {
    await Promise.race([this.settled(), new Promise((resolve) => setTimeout(resolve, timeout).unref())])
    this.#closed = true
  }
}
