// How a peer goes: forgotten (replaced, moved to another node), detached (announced and recorded), or held in its
// grace period after a dropped connection until it resumes or the period ends.
import type { LeaveReason } from '../protocol.js'
import type { Delivery } from './delivery.js'
import type { LocalPeer } from './peer.js'
import type { RelayContext, RelayEvents } from './types.js'

export class Departures {
  readonly #ctx: RelayContext
  readonly #delivery: Delivery
  readonly #events: RelayEvents | undefined
  /** Departures still being recorded, awaited before the registry closes. */
  readonly #leaving = new Set<Promise<void>>()

  constructor (ctx: RelayContext, delivery: Delivery, events: RelayEvents | undefined) {
    this.#ctx = ctx
    this.#delivery = delivery
    this.#events = events
  }

  /** A socket closed. An abnormal close (no close frame: a dropped network) or a server restart keeps the peer's place for a while. */
  onClose (peer: LocalPeer, code: number): void {
    if (peer.detached) return
    if ((code === 1006 || peer.restarting) && this.#ctx.resume.grace > 0) return this.enterGrace(peer)
    this.detach(peer, 'disconnected')
  }

  enterGrace (peer: LocalPeer): void {
    peer.socket = undefined
    peer.restarting = false
    clearTimeout(peer.grace)
    peer.grace = setTimeout(() => this.endGrace(peer), this.#ctx.resume.grace)
    peer.grace.unref()
  }

  endGrace (peer: LocalPeer): void {
    clearTimeout(peer.grace)
    peer.grace = undefined
    this.detach(peer, 'disconnected')
  }

  /** Removes a peer from this node without a word to anyone (it was replaced, or moved to another node). */
  forget (peer: LocalPeer): void {
    peer.detached = true
    clearTimeout(peer.grace)
    peer.replay = []
    const room = this.#ctx.rooms.get(peer.roomId)
    if (room?.peers.get(peer.peerId) !== peer) return
    room.peers.delete(peer.peerId)
    this.#ctx.rooms.dropIfEmpty(peer.roomId, room)
  }

  /** Removes a peer from its room once, tells the others why, and records it in the registry (awaited by `settled`). */
  detach (peer: LocalPeer, reason: LeaveReason): void {
    if (peer.detached) return
    const current = this.#ctx.rooms.peer(peer.roomId, peer.peerId) === peer
    this.forget(peer)
    if (!current) return
    // called from socket events too: nothing may escape to ws
    try {
      this.#delivery.announce(peer.roomId, { type: 'peer-left', peerId: peer.peerId, reason }, peer.peerId)
      this.tell('left', peer.roomId, peer.peerId, reason)
      this.#track(this.#recordLeave(peer))
    } catch (err) {
      this.#ctx.log.error({ err, roomId: peer.roomId }, 'departure not handled')
    }
  }

  /** Detaches the peer and closes its socket. */
  leave (peer: LocalPeer, code: number, why: string, reason: LeaveReason): void {
    const socket = peer.socket
    this.detach(peer, reason)
    socket?.close(code, why)
  }

  /** Tells the host of a join or a departure; a listener's failure is logged, never the relay's. */
  tell<E extends keyof RelayEvents> (event: E, ...args: Parameters<NonNullable<RelayEvents[E]>>): void {
    const listener = this.#events?.[event] as ((...a: Parameters<NonNullable<RelayEvents[E]>>) => void) | undefined
    if (listener === undefined) return
    try {
      listener(...args)
    } catch (err) {
      this.#ctx.log.error({ err, event }, 'event listener failed')
    }
  }

  /** Resolves once every departure so far is recorded. */
  async settled (): Promise<void> {
    await Promise.all(this.#leaving)
  }

  #track (leaving: Promise<void>): void {
    this.#leaving.add(leaving)
    leaving.catch((err: unknown) => {
      this.#ctx.log.error({ err }, 'departure not handled')
    }).finally(() => this.#leaving.delete(leaving))
  }

  async #recordLeave (peer: LocalPeer): Promise<void> {
    try {
      await this.#ctx.registry.leave(peer.roomId, peer.peerId, peer.connection)
    } catch (err) {
      // the backplane reconciles this node's peers when it comes back
      this.#ctx.log.warn({ err, roomId: peer.roomId }, 'leave not recorded')
    }
  }
}
