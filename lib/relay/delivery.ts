// Frames to the peers of this node: numbered, kept for a resume, written, and the backpressure of a slow reader.
import type { WebSocket } from 'ws'
import { errorMessage, type ErrorCode } from '../errors.js'
import { CloseCodes, type LeaveReason, type ServerMessage } from '../protocol.js'
import { sendText } from '../text-frames.js'
import { linkOf } from './link.js'
import type { LocalPeer } from './peer.js'
import { OPEN, type RelayContext } from './types.js'

/** What delivery asks of departures (departures.ts) when a peer cannot be kept. */
export interface PeerEnds {
  endGrace: (peer: LocalPeer) => void
  leave: (peer: LocalPeer, code: number, why: string, reason: LeaveReason) => void
}

export class Delivery {
  readonly #ctx: RelayContext
  readonly #maxBufferedBytes: number
  readonly #ends: () => PeerEnds

  /** `ends` is read when needed: departures announce through delivery, and are made after it. */
  constructor (ctx: RelayContext, maxBufferedBytes: number, ends: () => PeerEnds) {
    this.#ctx = ctx
    this.#maxBufferedBytes = maxBufferedBytes
    this.#ends = ends
  }

  /** Numbers a frame for this peer, keeps it for a resume, and sends it if the peer is connected. */
  deliver (peer: LocalPeer, frame: string): void {
    this.deliverOpen(peer, frame.slice(0, -1))
  }

  /** `deliver` for a frame still open (without its closing brace): `seq` is appended without copying the rest first. */
  deliverOpen (peer: LocalPeer, open: string): void {
    if (peer.detached) return
    const numbered = peer.keep(open)
    const resume = this.#ctx.resume
    const socket = peer.socket
    if (socket === undefined) {
      // in its grace period: past the bounds the resume is refused and the peer leaves
      if (peer.overGraceBounds(resume)) this.#ends().endGrace(peer)
      return
    }
    if (peer.overWindow(resume)) peer.trim(resume)
    if (socket.readyState !== OPEN) return
    sendText(socket, linkOf(socket).direct, numbered)
    // a peer that does not read must not make the server hold its messages without bound
    if (socket.bufferedAmount > this.#maxBufferedBytes) this.#onSlowConsumer(peer, socket)
  }

  send (peer: LocalPeer, message: ServerMessage): void {
    this.deliver(peer, JSON.stringify(message))
  }

  sendError (peer: LocalPeer, code: ErrorCode, detail: string, id?: string | number): void {
    this.#ctx.metrics.error(code)
    const message = errorMessage(code, detail)
    this.send(peer, id === undefined ? { type: 'error', code, message } : { type: 'error', code, message, id })
  }

  /** Sends to every peer of the room but `except`, on this node and through the backplane on the others. */
  announce (roomId: string, message: ServerMessage | string, except: string, sender?: LocalPeer, id?: string | number): void {
    const frame = typeof message === 'string' ? message : JSON.stringify(message)
    this.toLocal(roomId, frame, except)
    this.#ctx.backplane?.publish(roomId, { kind: 'broadcast', except, frame }).catch(() => {
      if (sender !== undefined) this.sendError(sender, 'BACKPLANE_UNAVAILABLE', 'peers on other nodes were not reached', id)
    })
  }

  /** Sends to every peer of the room on this node but `except`. */
  toLocal (roomId: string, frame: string, except: string): void {
    const room = this.#ctx.rooms.get(roomId)
    if (room !== undefined) for (const peer of room.peers.values()) if (peer.peerId !== except) this.deliver(peer, frame)
  }

  /** Closes a peer that does not read with 1013; the socket is cut if even the close frame cannot go out. */
  #onSlowConsumer (peer: LocalPeer, socket: WebSocket): void {
    this.#ctx.log.warn({ peerId: peer.peerId, roomId: peer.roomId, buffered: socket.bufferedAmount }, 'slow consumer closed')
    this.#ctx.metrics.refused('slow_consumer')
    this.#ends().leave(peer, CloseCodes.TRY_AGAIN_LATER, 'too slow to read', 'disconnected')
    setTimeout(() => { socket.terminate() }, 1000).unref()
  }
}
