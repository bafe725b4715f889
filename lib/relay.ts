// The relay: peers' sessions on this node, presence, and routing of every client message to its recipients.
// With a backplane, a room can span several nodes: frames for peers elsewhere go through it, by room.
//
// A session outlives its socket: every frame after `welcome` carries a per-peer `seq`, the last frames are kept,
// and after an abnormal close (1006) or a server restart (1012) the session waits `grace` ms for the client to come
// back with the last `seq` it saw; it then gets every frame it missed, and the other peers see no churn. This file
// composes the parts in lib/relay/ (see ARCHITECTURE.md) and holds the calls the plugin makes.
import { randomUUID } from 'node:crypto'
import type { WebSocket } from 'ws'
import type { Backplane, BackplaneEvent } from './backplane.js'
import { signallingError } from './errors.js'
import type { JoinClaims } from './join-token.js'
import { DEFAULT_MAX_BUFFERED_BYTES, DEFAULT_MESSAGE_RATE, DEFAULT_RESUME } from './limits.js'
import { CloseCodes, SERVER_SENDER } from './protocol.js'
import { Delivery } from './relay/delivery.js'
import { Departures } from './relay/departures.js'
import { dataJson, openRelayFrame } from './relay/frames.js'
import { Handoffs } from './relay/handoff.js'
import { Heartbeat } from './relay/heartbeat.js'
import { Joins } from './relay/join.js'
import { attach, socketListeners, type SocketListeners } from './relay/link.js'
import { LocalRooms } from './relay/local-rooms.js'
import { PeerUpdates } from './relay/metadata.js'
import { resync } from './relay/resync.js'
import { Router } from './relay/router.js'
import { noMetrics, silent, type ConnectAttempt, type RelayContext, type RelayOptions } from './relay/types.js'
import type { RoomRegistry } from './room-registry.js'
import type { PeerSummary } from './schemas.js'

export { SERVER_SENDER } from './protocol.js'
export type { ConnectAttempt, RelayEvents, RelayLogger, RelayMetrics, RelayOptions } from './relay/types.js'

export class Relay {
  readonly registry: RoomRegistry
  readonly backplane: Backplane | undefined
  readonly #ctx: RelayContext
  readonly #rooms: LocalRooms
  readonly #delivery: Delivery
  readonly #departures: Departures
  readonly #router: Router
  readonly #updates: PeerUpdates
  readonly #handoffs: Handoffs
  readonly #joins: Joins
  readonly #heartbeat: Heartbeat | undefined
  readonly #listeners: SocketListeners
  #draining = false

  constructor (options: RelayOptions) {
    this.registry = options.registry
    this.backplane = options.backplane
    const log = options.log ?? silent
    const nodeId = options.backplane?.nodeId ?? randomUUID().slice(0, 8)
    let ids = 0
    this.#rooms = new LocalRooms(options.backplane, log)
    const ctx: RelayContext = this.#ctx = {
      registry: options.registry,
      backplane: options.backplane,
      rooms: this.#rooms,
      log,
      metrics: options.metrics ?? noMetrics,
      resume: { ...DEFAULT_RESUME, ...options.resume },
      nextId: () => `${nodeId}.${++ids}`
    }
    const rate = options.messageRate === false ? false : { ...DEFAULT_MESSAGE_RATE, ...options.messageRate }
    const iceServers = options.iceServers ?? (() => ({ iceServers: [], ttl: 0 }))
    this.#delivery = new Delivery(ctx, options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES, () => this.#departures)
    this.#departures = new Departures(ctx, this.#delivery, options.events)
    this.#updates = new PeerUpdates(ctx, this.#delivery, this.#departures)
    this.#router = new Router(ctx, this.#delivery, this.#departures, rate, iceServers, this.#updates)
    this.#handoffs = new Handoffs(ctx, this.#departures)
    this.#joins = new Joins(ctx, { delivery: this.#delivery, departures: this.#departures, router: this.#router, handoffs: this.#handoffs }, {
      iceServers, resumeToken: options.resumeToken, clockSkew: options.clockSkew ?? 5, burst: rate === false ? 0 : rate.burst
    })
    this.#listeners = socketListeners(ctx, {
      onFrame: (peer, data, isBinary) => this.#router.onFrame(peer, data, isBinary),
      onFailure: (peer, err) => this.#router.onFailure(peer, err),
      onClose: (peer, code) => this.#departures.onClose(peer, code)
    })
    if (options.heartbeatInterval > 0) {
      this.#heartbeat = new Heartbeat(this.#rooms, options.heartbeatInterval, (peer, socket) => {
        // a half-open connection: silent for a whole interval already, so no grace period on top
        this.#departures.detach(peer, 'timeout')
        socket.terminate()
      })
    }
    this.registry.onExpired((roomId) => this.#rooms.delete(roomId))
    const backplane = options.backplane
    if (backplane !== undefined) {
      backplane.onEvent((roomId, event) => this.#onRemote(roomId, event))
      backplane.onPeersLost((lost) => {
        for (const { roomId, peerId } of lost) {
          this.#rooms.get(roomId)?.remote?.delete(peerId)
          this.#delivery.announce(roomId, { type: 'peer-left', peerId, reason: 'disconnected' }, peerId)
        }
      })
      backplane.onReconnected(async (reconnection) => await resync(ctx, this.#delivery, this.#departures, reconnection))
    }
  }

  /** Checks, before the upgrade, that the room exists and has a place for this peer: rejects with the reason it has not. */
  async admit (claims: JoinClaims): Promise<void> {
    if (this.#draining) throw signallingError('SERVICE_UNAVAILABLE', 'the server is restarting; connect again')
    await this.#joins.admit(claims)
  }

  /** Takes over an upgraded socket. Listeners are attached at once so that no early frame is lost. */
  connect (socket: WebSocket, claims: JoinClaims, attempt: ConnectAttempt = {}): void {
    this.#joins.open(attach(socket, claims.sub, claims.room, this.#listeners), claims, attempt)
  }

  /** An event of another node for one of this node's rooms. */
  #onRemote (roomId: string, event: BackplaneEvent): void {
    if (event.kind === 'resume-request') return this.#handoffs.onRequest(roomId, event)
    if (event.kind === 'resume-reply') return this.#handoffs.onReply(event)
    if (event.kind === 'deliver' || event.kind === 'broadcast') this.#handoffs.queue(roomId, event)
    const room = this.#rooms.get(roomId)
    if (room === undefined) return
    switch (event.kind) {
      case 'deliver': {
        const peer = room.peers.get(event.to)
        if (peer !== undefined) this.#delivery.deliver(peer, event.frame)
        return
      }
      case 'broadcast':
        if (event.frame.startsWith('{"type":"peer-') && !this.#rooms.notePresence(room, event.frame)) return
        return this.#delivery.toLocal(roomId, event.frame, event.except)
      case 'kick': {
        const peer = room.peers.get(event.peerId)
        if (peer !== undefined) this.#departures.leave(peer, CloseCodes.KICKED, 'kicked', 'kicked')
        return
      }
      case 'replaced': {
        const peer = room.peers.get(event.peerId)
        if (peer === undefined || peer.connection !== event.connection) return
        // the node of the new connection announces the replacement
        this.#departures.forget(peer)
        return peer.socket?.close(CloseCodes.REPLACED, 'replaced')
      }
      case 'close-room':
        return this.#closeLocalRoom(roomId)
    }
  }

  /**
   * A message from the app's backend: `{"type":"message","from":SERVER_SENDER,"data"}` to peer `to` of the room, or
   * to every peer of it, on whichever node they are. Throws PEER_NOT_FOUND when `to` is in the room on no node.
   */
  async send (roomId: string, data: unknown, to?: string): Promise<void> {
    if (await this.registry.get(roomId) === undefined) throw signallingError('ROOM_NOT_FOUND', roomId)
    const frame = `${openRelayFrame('message', SERVER_SENDER, dataJson(data))}}`
    if (to === undefined) {
      this.#delivery.toLocal(roomId, frame, '')
      await this.backplane?.publish(roomId, { kind: 'broadcast', except: '', frame }).catch(() => {
        throw signallingError('BACKPLANE_UNAVAILABLE', 'peers on other nodes were not reached')
      })
      return
    }
    const peer = this.#rooms.peer(roomId, to)
    if (peer !== undefined) return this.#delivery.deliver(peer, frame)
    if (this.backplane === undefined) throw signallingError('PEER_NOT_FOUND', to)
    const found = await this.backplane.sendToPeer(roomId, to, frame).catch(() => {
      throw signallingError('BACKPLANE_UNAVAILABLE', 'the node of the peer cannot be reached')
    })
    if (!found) throw signallingError('PEER_NOT_FOUND', to)
  }

  /**
   * Replaces the metadata (validated by the caller) of a peer of the room, on whichever node it is; every peer of the
   * room gets `peer-updated`. Throws ROOM_NOT_FOUND, PEER_NOT_FOUND or BACKPLANE_UNAVAILABLE.
   */
  async updatePeer (roomId: string, peerId: string, metadata: Record<string, unknown>): Promise<PeerSummary> {
    return await this.#updates.update(roomId, peerId, metadata)
  }

  /** Closes a peer's socket with 4403; the others see `peer-left` with reason `kicked`. */
  async kick (roomId: string, peerId: string): Promise<void> {
    if (await this.registry.get(roomId) === undefined) throw signallingError('ROOM_NOT_FOUND', roomId)
    const peer = this.#rooms.peer(roomId, peerId)
    if (peer === undefined && (this.backplane === undefined || !await this.registry.hasPeer(roomId, peerId))) {
      throw signallingError('PEER_NOT_FOUND', peerId)
    }
    // recorded first, so that the kicked client cannot come straight back with the token it holds
    await this.registry.recordKick(roomId, peerId, Math.floor(Date.now() / 1000))
    if (peer !== undefined) return this.#departures.leave(peer, CloseCodes.KICKED, 'kicked', 'kicked')
    await this.backplane!.publish(roomId, { kind: 'kick', peerId }).catch(() => {
      throw signallingError('BACKPLANE_UNAVAILABLE', 'the node of the peer cannot be reached')
    })
  }

  /** Deletes a room: every peer gets `room-closed`, then its socket is closed with 4404. */
  async closeRoom (roomId: string): Promise<void> {
    if (!await this.registry.delete(roomId)) throw signallingError('ROOM_NOT_FOUND', roomId)
    this.#closeLocalRoom(roomId)
    await this.backplane?.publish(roomId, { kind: 'close-room' }).catch((err: unknown) => {
      this.#ctx.log.warn({ err, roomId }, 'room deletion not sent to the other nodes')
    })
  }

  #closeLocalRoom (roomId: string): void {
    const room = this.#rooms.get(roomId)
    if (room === undefined) return
    for (const peer of [...room.peers.values()]) {
      this.#delivery.send(peer, { type: 'room-closed', roomId })
      const socket = peer.socket
      this.#departures.forget(peer)
      socket?.close(CloseCodes.ROOM_CLOSED, 'room closed')
      // the room is gone already; this only clears the node's own bookkeeping
      void this.registry.leave(roomId, peer.peerId, peer.connection).catch(() => {})
    }
    this.#rooms.delete(roomId)
  }

  /** Number of peers of this node, connected or in their grace period. */
  get localPeerCount (): number {
    return this.#rooms.peerCount
  }

  /** Number of rooms with peers on this node. */
  get localRoomCount (): number {
    return this.#rooms.size
  }

  /**
   * Graceful shutdown, step one: refuse new peers and close every socket with 1012 (service restart) so that
   * clients reconnect, to another node behind the load balancer. Frames already queued go out before the close
   * frame. With a backplane, the sessions wait (up to `timeout` ms) for their clients to resume on another node,
   * which takes them over; without one there is nowhere to resume, so only the closes are awaited.
   */
  async drain (timeout = 5000): Promise<void> {
    this.#draining = true
    const deadline = Date.now() + timeout
    for (const peer of this.#rooms.allPeers()) {
      peer.restarting = true
      peer.socket?.close(CloseCodes.SERVICE_RESTART, 'server restarting')
    }
    const waitingFor = (): boolean => this.#rooms.allPeers().some((peer) => peer.socket !== undefined || this.backplane !== undefined)
    while (waitingFor() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
    for (const peer of this.#rooms.allPeers()) peer.socket?.terminate()
  }

  get draining (): boolean {
    return this.#draining
  }

  /** Stops the heartbeat, records the departure of every peer still here, and closes the registry. */
  async close (): Promise<void> {
    this.#heartbeat?.stop()
    for (const peer of this.#rooms.allPeers()) this.#departures.leave(peer, CloseCodes.SERVICE_RESTART, 'server restarting', 'disconnected')
    this.#rooms.clear()
    this.#handoffs.cancelAll()
    await this.#departures.settled()
    await this.registry.close()
  }
}
