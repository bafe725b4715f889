// Hand-offs: a client that comes back on another node takes its session (seq, missed frames) from the node that
// held it, over the room's channel. The request reaches its own node too: that echo marks where the new node starts
// keeping the live frames for the peer, so that none is lost or doubled between the two.
import type { BackplaneEvent, Handoff } from '../backplane.js'
import { CloseCodes } from '../protocol.js'
import type { Departures } from './departures.js'
import { remoteOf } from './local-rooms.js'
import type { RelayContext } from './types.js'

/** A hand-off this node asked for: live frames for the peer are kept from the moment its request came back. */
interface HandoffWait {
  roomId: string
  peerId: string
  echoed: boolean
  queued: string[]
  resolve: (handoff: Handoff | undefined) => void
}

export type GrantedHandoff = Handoff & { requestId: string }

export class Handoffs {
  readonly #ctx: RelayContext
  readonly #departures: Departures
  readonly #waits = new Map<string, HandoffWait>()

  constructor (ctx: RelayContext, departures: Departures) {
    this.#ctx = ctx
    this.#departures = departures
  }

  /** Asks the other nodes for a session; undefined when none hands it over in time. End with `done`. */
  async request (roomId: string, peerId: string, lastSeq: number): Promise<GrantedHandoff | undefined> {
    const backplane = this.#ctx.backplane!
    const requestId = this.#ctx.nextId()
    let timer: NodeJS.Timeout | undefined
    const handoff = new Promise<Handoff | undefined>((resolve) => {
      this.#waits.set(requestId, { roomId, peerId, echoed: false, queued: [], resolve })
      timer = setTimeout(() => resolve(undefined), this.#ctx.resume.handoffTimeout)
    })
    try {
      await backplane.publish(roomId, { kind: 'resume-request', peerId, requestId, lastSeq })
      const result = await handoff
      if (result === undefined || !result.ok) {
        this.#waits.delete(requestId)
        return undefined
      }
      return { ...result, requestId }
    } catch {
      this.#waits.delete(requestId)
      return undefined
    } finally {
      clearTimeout(timer)
    }
  }

  /** The live frames for the peer that reached this node while the hand-off was under way. */
  queued (requestId: string): string[] {
    return this.#waits.get(requestId)?.queued ?? []
  }

  done (requestId: string): void {
    this.#waits.delete(requestId)
  }

  /** A request of this node's own coming back marks the start of its queue; another node's is answered. */
  onRequest (roomId: string, event: Extract<BackplaneEvent, { kind: 'resume-request' }>): void {
    const wait = this.#waits.get(event.requestId)
    if (wait !== undefined) {
      wait.echoed = true
      return
    }
    this.#handOver(roomId, event.peerId, event.requestId, event.lastSeq)
  }

  onReply (event: Extract<BackplaneEvent, { kind: 'resume-reply' }>): void {
    this.#waits.get(event.requestId)?.resolve(event.reply)
  }

  /** While a hand-off is under way, frames for the peer published after the request are kept for it. */
  queue (roomId: string, event: Extract<BackplaneEvent, { kind: 'deliver' | 'broadcast' }>): void {
    if (this.#waits.size === 0) return
    for (const wait of this.#waits.values()) {
      if (!wait.echoed || wait.roomId !== roomId) continue
      if (event.kind === 'deliver' ? event.to === wait.peerId : event.except !== wait.peerId) wait.queued.push(event.frame)
    }
  }

  /** Ends every wait at once: the relay is closing. */
  cancelAll (): void {
    for (const wait of this.#waits.values()) wait.resolve(undefined)
  }

  /** Another node asks for one of this node's sessions. */
  #handOver (roomId: string, peerId: string, requestId: string, lastSeq: number): void {
    const room = this.#ctx.rooms.get(roomId)
    const peer = room?.peers.get(peerId)
    if (room === undefined || peer === undefined || peer.detached) return
    const ok = peer.canReplay(lastSeq, this.#ctx.resume.maxBytes)
    const reply = { ok, seq: peer.seq, frames: ok ? peer.framesAfter(lastSeq) : [], metadata: peer.metadata, joinedAt: peer.joinedAt, canUpdateMetadata: peer.canUpdateMetadata }
    if (ok) {
      // from here on, the requesting node delivers to this peer; nothing is announced: the peer never left
      remoteOf(room).set(peer.peerId, peer.metadata)
      this.#departures.forget(peer)
      peer.socket?.close(CloseCodes.REPLACED, 'resumed elsewhere')
    }
    this.#ctx.backplane?.publish(roomId, { kind: 'resume-reply', requestId, reply }).catch((err: unknown) => {
      this.#ctx.log.warn({ err, roomId }, 'hand-off reply not sent')
    })
  }
}
