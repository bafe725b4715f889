// Pings every connected peer once per interval, a slice of the rooms at a time, and drops the silent ones.
//
// A peer whose socket read nothing since its last ping, not even the pong to it, is silent: counting what the socket
// read spares every socket a `pong` listener, and any frame from the peer shows it is there. A round visits the
// rooms in the order they came, so a peer is pinged about one interval after its last ping; the last slice of a round
// takes whatever is left. Slices keep one turn of the event loop from writing to every socket at once.
import type { WebSocket } from 'ws'
import type { LocalRoom, LocalRooms } from './local-rooms.js'
import type { LocalPeer } from './peer.js'

const MAX_SLICES = 100
const MIN_SLICE_MS = 100

/** Bytes read so far by the TCP or TLS socket under `socket` (`_socket`, as ws holds it); undefined without one. */
export function bytesReadOf (socket: WebSocket): number | undefined {
  const read = (socket as unknown as { _socket?: { bytesRead?: unknown } | null })._socket?.bytesRead
  return typeof read === 'number' ? read : undefined
}

export class Heartbeat {
  readonly #rooms: LocalRooms
  readonly #onSilent: (peer: LocalPeer, socket: WebSocket) => void
  readonly #slices: number
  readonly #timer: NodeJS.Timeout
  /** The round under way: the rooms still to visit, the peers to visit per slice, the slices left. */
  #round: IterableIterator<LocalRoom> | undefined
  #quota = 0
  #slicesLeft = 0

  constructor (rooms: LocalRooms, interval: number, onSilent: (peer: LocalPeer, socket: WebSocket) => void) {
    this.#rooms = rooms
    this.#onSilent = onSilent
    this.#slices = Math.max(1, Math.min(MAX_SLICES, Math.floor(interval / MIN_SLICE_MS)))
    this.#timer = setInterval(() => this.#slice(), interval / this.#slices)
    this.#timer.unref()
  }

  stop (): void {
    clearInterval(this.#timer)
  }

  #slice (): void {
    if (this.#round === undefined) {
      this.#round = this.#rooms.values()
      // at least a room per slice: a round that starts empty still reaches the rooms that fill during it
      this.#quota = Math.max(1, Math.ceil(this.#rooms.peerCount / this.#slices))
      this.#slicesLeft = this.#slices
    }
    const last = --this.#slicesLeft <= 0
    let budget = this.#quota
    while (last || budget > 0) {
      const next = this.#round.next()
      if (next.done === true) {
        this.#round = undefined
        return
      }
      budget -= next.value.peers.size
      this.#ping(next.value)
    }
  }

  #ping (room: LocalRoom): void {
    for (const peer of room.peers.values()) {
      const socket = peer.socket
      if (socket === undefined) continue
      // a socket with no connection under it (injectWS's, within this process) cannot be half-open
      const read = bytesReadOf(socket)
      if (read === undefined) continue
      if (read === peer.lastRead) {
        this.#onSilent(peer, socket)
        continue
      }
      peer.lastRead = read
      socket.ping()
    }
  }
}
