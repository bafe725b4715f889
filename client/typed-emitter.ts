// A tiny event emitter with typed event names and payloads, for browsers and Node alike (no `events` import).

/** Maps each event name to the payload its listeners receive (`void` for none). */
export type EventMap = Record<string, unknown>

export type Listener<Payload> = (payload: Payload) => void

type EmitArgs<Payload> = [Payload] extends [void] ? [] : [Payload]

export class TypedEmitter<Events extends EventMap> {
  readonly #listeners = new Map<keyof Events, Set<Listener<never>>>()

  on<K extends keyof Events> (event: K, listener: Listener<Events[K]>): this {
    let set = this.#listeners.get(event)
    if (set === undefined) {
      set = new Set()
      this.#listeners.set(event, set)
    }
    set.add(listener)
    return this
  }

  off<K extends keyof Events> (event: K, listener: Listener<Events[K]>): this {
    this.#listeners.get(event)?.delete(listener)
    return this
  }

  once<K extends keyof Events> (event: K, listener: Listener<Events[K]>): this {
    const wrapper: Listener<Events[K]> = (payload) => {
      this.off(event, wrapper)
      listener(payload)
    }
    return this.on(event, wrapper)
  }

  /** Number of listeners for `event`. */
  listenerCount (event: keyof Events): number {
    return this.#listeners.get(event)?.size ?? 0
  }

  protected emit<K extends keyof Events> (event: K, ...args: EmitArgs<Events[K]>): void {
    const set = this.#listeners.get(event)
    if (set === undefined) return
    // Copy first: a listener may remove itself (once) or others while we iterate.
    for (const listener of [...set] as Array<Listener<Events[K]>>) {
      try {
        listener(args[0] as Events[K])
      } catch (err) {
        // One broken listener must not stop the others nor corrupt the emitter's caller
        // (often a socket or RTCPeerConnection callback); surface it as an uncaught error instead.
        setTimeout(() => { throw err }, 0)
      }
    }
  }
}
