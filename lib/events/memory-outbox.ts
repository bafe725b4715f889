// Events on one node: numbered per room in memory, delivered from a bounded queue, dead letters in a bounded list.
import type { DeadLetter } from '../schemas.js'
import { numbered, type EventOutbox, type SignallingEvent, type UnnumberedEvent } from './types.js'
import { WebhookDispatcher, type DispatcherHooks } from './webhook-dispatcher.js'
import type { ResolvedWebhooks } from './webhook-options.js'

export class MemoryOutbox implements EventOutbox {
  readonly #seq = new Map<string, number>()
  readonly #dispatcher: WebhookDispatcher | undefined
  /** Oldest first; past `maxDeadLetters` the oldest goes. */
  readonly #deadLetters = new Map<string, DeadLetter>()

  constructor (webhooks: ResolvedWebhooks | undefined, hooks: Omit<DispatcherHooks, 'settled' | 'deadLetter'>) {
    if (webhooks === undefined) return
    this.#dispatcher = new WebhookDispatcher(webhooks, {
      ...hooks,
      settled: () => {},
      deadLetter: async (letter) => {
        this.#deadLetters.set(letter.id, letter)
        for (const id of this.#deadLetters.keys()) {
          if (this.#deadLetters.size <= webhooks.maxDeadLetters) break
          this.#deadLetters.delete(id)
        }
      }
    })
  }

  async append (event: UnnumberedEvent): Promise<SignallingEvent> {
    const seq = (this.#seq.get(event.roomId) ?? 0) + 1
    // a room created again under the same id starts its numbering again
    if (event.type === 'room.deleted') this.#seq.delete(event.roomId)
    else this.#seq.set(event.roomId, seq)
    const kept = numbered(event, seq)
    this.#dispatcher?.submit(kept.id, kept)
    return kept
  }

  async deadLetters (): Promise<DeadLetter[]> {
    return [...this.#deadLetters.values()]
  }

  async replay (id: string): Promise<boolean> {
    const letter = this.#deadLetters.get(id)
    if (letter === undefined || this.#dispatcher === undefined) return false
    this.#deadLetters.delete(id)
    this.#dispatcher.submit(`replay:${id}`, letter.event as SignallingEvent, letter.url, true)
    return true
  }

  get depth (): number {
    return this.#dispatcher?.depth ?? 0
  }

  async close (): Promise<void> {
    this.#dispatcher?.stop()
  }
}
