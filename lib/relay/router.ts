// A client's frame: checked against the rate and size limits, parsed, and routed to its recipients here or on
// another node.
import type { RawData } from 'ws'
import { isSignallingError, type ErrorCode } from '../errors.js'
import type { MessageRate } from '../limits.js'
import {
  CloseCodes, MAX_FRAME_BYTES, MAX_PEER_METADATA_BYTES, parseClientMessage, readDirectMessage, type ClientMessage, type IceServer
} from '../protocol.js'
import type { Delivery } from './delivery.js'
import type { Departures } from './departures.js'
import { byteLength, dataJson, openRelayFrame } from './frames.js'
import { take } from './message-rate.js'
import type { PeerUpdates } from './metadata.js'
import type { LocalPeer } from './peer.js'
import type { RelayContext } from './types.js'

export class Router {
  readonly #ctx: RelayContext
  readonly #delivery: Delivery
  readonly #departures: Departures
  readonly #rate: MessageRate | false
  readonly #iceServers: (peerId: string) => { iceServers: IceServer[], ttl: number }
  readonly #updates: PeerUpdates

  constructor (ctx: RelayContext, delivery: Delivery, departures: Departures, rate: MessageRate | false,
    iceServers: (peerId: string) => { iceServers: IceServer[], ttl: number }, updates: PeerUpdates) {
    this.#ctx = ctx
    this.#delivery = delivery
    this.#departures = departures
    this.#rate = rate
    this.#iceServers = iceServers
    this.#updates = updates
  }

  onFrame (peer: LocalPeer, data: RawData, isBinary: boolean): void {
    if (peer.detached) return
    if (this.#rate !== false && !this.#allowed(peer, this.#rate)) return
    if (isBinary) return this.#delivery.sendError(peer, 'INVALID_MESSAGE', 'binary frames are not accepted')
    // the limit is in bytes, and checked before decoding: a frame of multi-byte characters has fewer characters than bytes
    if (byteLength(data) > MAX_FRAME_BYTES) {
      this.#ctx.metrics.refused('frame_size')
      return this.#departures.leave(peer, CloseCodes.MESSAGE_TOO_BIG, 'message too big', 'disconnected')
    }
    const text = data.toString()
    // offers, answers and candidates are read without a full parse (protocol.ts)
    const direct = readDirectMessage(text)
    if (direct !== undefined) return this.#toPeer(peer, direct.to, direct.type, direct.dataJson, undefined)
    const parsed = parseClientMessage(text)
    if (!parsed.ok) return this.#delivery.sendError(peer, parsed.code, parsed.reason, parsed.id)
    this.#handle(peer, parsed.message)
  }

  /** A frame the relay failed on: logged, and the peer told. */
  onFailure (peer: LocalPeer, err: unknown): void {
    this.#ctx.log.error({ err, peerId: peer.peerId, roomId: peer.roomId }, 'message not handled')
    this.#delivery.sendError(peer, 'INTERNAL_ERROR', 'message not handled')
  }

  #allowed (peer: LocalPeer, rate: MessageRate): boolean {
    const verdict = take(peer, rate, Math.floor(performance.now()))
    if (verdict === 'pass') return true
    if (verdict === 'abuse') {
      this.#ctx.metrics.refused('message_abuse')
      this.#departures.leave(peer, CloseCodes.RATE_LIMITED, 'rate limit exceeded', 'disconnected')
    } else {
      this.#ctx.metrics.refused('message_rate')
      this.#delivery.sendError(peer, 'RATE_LIMITED', `more than ${rate.perSecond} messages per second`)
    }
    return false
  }

  #handle (peer: LocalPeer, message: ClientMessage): void {
    switch (message.type) {
      case 'ping':
        return this.#delivery.send(peer, { type: 'pong' })
      case 'ice-servers':
        return this.#delivery.send(peer, { type: 'ice-servers', ...this.#iceServers(peer.peerId) })
      case 'leave':
        return this.#departures.leave(peer, CloseCodes.NORMAL, 'left', 'left')
      case 'update-metadata':
        return this.#updateOwn(peer, message.metadata, message.id)
      case 'message':
        if (message.to === undefined) {
          this.#ctx.metrics.relayed('message')
          return this.#delivery.announce(peer.roomId, `${openRelayFrame('message', peer.peerId, dataJson(message.data))}}`, peer.peerId, peer, message.id)
        }
        return this.#toPeer(peer, message.to, message.type, dataJson(message.data), message.id)
      default:
        return this.#toPeer(peer, message.to, message.type, dataJson(message.data), message.id)
    }
  }

  /** A peer replaces its own metadata: only with the claim of its token, within the size of a token's metadata. */
  #updateOwn (peer: LocalPeer, metadata: Record<string, unknown>, id: string | number | undefined): void {
    if (!peer.canUpdateMetadata) return this.#delivery.sendError(peer, 'FORBIDDEN', 'this peer\'s join token does not allow it to update its metadata', id)
    if (Buffer.byteLength(dataJson(metadata)!) > MAX_PEER_METADATA_BYTES) {
      return this.#delivery.sendError(peer, 'INVALID_MESSAGE', `metadata exceeds ${MAX_PEER_METADATA_BYTES} bytes serialized`, id)
    }
    this.#updates.update(peer.roomId, peer.peerId, metadata).catch((err: unknown) => {
      const code = isSignallingError(err) ? err.code : 'INTERNAL_ERROR'
      if (code === 'INTERNAL_ERROR') this.#ctx.log.error({ err, peerId: peer.peerId, roomId: peer.roomId }, 'metadata update failed')
      const details: Partial<Record<ErrorCode, string>> = {
        BACKPLANE_UNAVAILABLE: 'the update did not reach every node', INTERNAL_ERROR: 'update not handled', ROOM_NOT_FOUND: peer.roomId
      }
      this.#delivery.sendError(peer, code, details[code] ?? peer.peerId, id)
    })
  }

  /** `data` is JSON text (undefined: no `data`). */
  #toPeer (from: LocalPeer, to: string, type: string, data: string | undefined, id: string | number | undefined): void {
    if (to === from.peerId) return this.#delivery.sendError(from, 'PEER_NOT_FOUND', to, id)
    const open = openRelayFrame(type, from.peerId, data)
    const target = this.#ctx.rooms.peer(from.roomId, to)
    if (target !== undefined) {
      this.#ctx.metrics.relayed(type)
      return this.#delivery.deliverOpen(target, open)
    }
    const backplane = this.#ctx.backplane
    // without a backplane the answer comes at once, in order with the sender's later frames
    if (backplane === undefined) return this.#delivery.sendError(from, 'PEER_NOT_FOUND', to, id)
    // one ordered round trip on the backplane both checks membership and publishes, so per-sender order holds
    backplane.sendToPeer(from.roomId, to, `${open}}`).then(
      (found) => {
        if (found) this.#ctx.metrics.relayed(type)
        else this.#delivery.sendError(from, 'PEER_NOT_FOUND', to, id)
      },
      () => this.#delivery.sendError(from, 'BACKPLANE_UNAVAILABLE', 'the peer is on another node', id)
    )
  }
}
