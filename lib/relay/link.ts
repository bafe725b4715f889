// A socket and the peer it is bound to, and the one set of listeners every socket shares.
import type { RawData, WebSocket } from 'ws'
import { CloseCodes } from '../protocol.js'
import { directSocket, type DirectSocket } from '../text-frames.js'
import type { LocalPeer } from './peer.js'
import type { RelayContext } from './types.js'

export interface Link {
  socket: WebSocket
  /** None until `welcome`. */
  peer: LocalPeer | undefined
  /** Who the socket's token names, for logs before the peer exists. */
  peerId: string
  roomId: string
  /** Frames that arrived before `welcome`; created on the first one. */
  pending: Array<{ data: RawData, isBinary: boolean }> | undefined
  /** The socket broke the protocol: its close is not a network drop. */
  failed: boolean
  /** Where relayed frames may be written in one piece (see `sendText`). */
  direct: DirectSocket | undefined
}

/** Where a socket's link is kept: the shared listeners find it here. */
const kLink = Symbol('signalling.link')
type LinkedSocket = WebSocket & { [kLink]: Link }

export const linkOf = (socket: WebSocket): Link => (socket as LinkedSocket)[kLink]

const MAX_PENDING_FRAMES = 256

/** What the listeners hand a socket's events to. */
export interface LinkHandlers {
  onFrame: (peer: LocalPeer, data: RawData, isBinary: boolean) => void
  onFailure: (peer: LocalPeer, err: unknown) => void
  onClose: (peer: LocalPeer, code: number) => void
}

/** ws calls its listeners with the socket as `this`. */
export interface SocketListeners {
  message: (this: WebSocket, data: RawData, isBinary: boolean) => void
  error: (this: WebSocket, err: Error) => void
  close: (this: WebSocket, code: number) => void
}

/** One set of listeners for every socket: a closure per socket and event would cost memory per peer. */
export function socketListeners (ctx: RelayContext, handlers: LinkHandlers): SocketListeners {
  return {
    message (data, isBinary) {
      const link = linkOf(this)
      const peer = link.peer
      if (peer === undefined) {
        link.pending ??= []
        if (link.pending.length >= MAX_PENDING_FRAMES) return this.close(CloseCodes.MESSAGE_TOO_BIG, 'too many frames before welcome')
        link.pending.push({ data, isBinary })
        return
      }
      if (peer.socket !== this) return
      try {
        handlers.onFrame(peer, data, isBinary)
      } catch (err) {
        // a listener must never throw: ws would stop reading this socket, and the process would see an uncaught exception
        handlers.onFailure(peer, err)
      }
    },
    error (err) {
      // ws reports protocol violations (bad frames, oversized messages) here before it closes: no grace for those
      const link = linkOf(this)
      if (link.peer?.socket === this) link.peer.restarting = false
      link.failed = true
      ctx.log.warn({ err, peerId: link.peerId, roomId: link.roomId }, 'socket error')
    },
    close (code) {
      ctx.metrics.closed(code)
      const link = linkOf(this)
      const peer = link.peer
      if (peer !== undefined && peer.socket === this) handlers.onClose(peer, link.failed ? 1002 : code)
    }
  }
}

/** Links a socket to the relay: its listeners are attached at once so that no early frame is lost. */
export function attach (socket: WebSocket, peerId: string, roomId: string, listeners: SocketListeners): Link {
  const link: Link = { socket, peer: undefined, peerId, roomId, pending: undefined, failed: false, direct: directSocket(socket) }
  ;(socket as LinkedSocket)[kLink] = link
  socket.on('message', listeners.message)
  socket.on('error', listeners.error)
  socket.on('close', listeners.close)
  return link
}
