// A peer's arrival: admission before the upgrade, then a fresh join, a resume on this node, or a session handed
// over from another node. One path for every registry: the in-memory one answers within the same turn's microtasks.
import { errorMessage, isSignallingError, signallingError } from '../errors.js'
import type { JoinClaims } from '../join-token.js'
import { CloseCodes, keptMetadata, type IceServer, type ServerMessage } from '../protocol.js'
import type { PeerSummary, Room } from '../schemas.js'
import { sendText } from '../text-frames.js'
import type { Delivery } from './delivery.js'
import type { Departures } from './departures.js'
import { closeCodeFor } from './frames.js'
import type { GrantedHandoff, Handoffs } from './handoff.js'
import type { Link } from './link.js'
import { othersThan, type LocalRoom } from './local-rooms.js'
import { LocalPeer, summaryOf } from './peer.js'
import type { Router } from './router.js'
import { OPEN, type ConnectAttempt, type RelayContext, type RelayOptions } from './types.js'

export interface JoinOptions {
  iceServers: (peerId: string) => { iceServers: IceServer[], ttl: number }
  resumeToken: RelayOptions['resumeToken']
  clockSkew: number
  /** The message-rate bucket a new peer starts with. */
  burst: number
}

export class Joins {
  readonly #ctx: RelayContext
  readonly #parts: { delivery: Delivery, departures: Departures, router: Router, handoffs: Handoffs }
  readonly #options: JoinOptions

  constructor (ctx: RelayContext, parts: { delivery: Delivery, departures: Departures, router: Router, handoffs: Handoffs }, options: JoinOptions) {
    this.#ctx = ctx
    this.#parts = parts
    this.#options = options
  }

  /** Checks, before the upgrade, that the room exists and has a place for this peer: rejects with the reason it has not. */
  async admit (claims: JoinClaims): Promise<void> {
    const registry = this.#ctx.registry
    const [found, kickedAt] = await Promise.all([registry.get(claims.room), registry.kickedAt(claims.room, claims.sub)])
    const room = this.#judge(claims, found, kickedAt)
    if (room.peerCount >= room.maxPeers && !await registry.hasPeer(claims.room, claims.sub)) throw signallingError('ROOM_FULL', claims.room)
  }

  /** The room, which exists, if the token was issued after its creation and after the peer's last kick. */
  #judge (claims: JoinClaims, room: Room | undefined, kickedAt: number | undefined): Room {
    if (room === undefined) throw signallingError('ROOM_NOT_FOUND', claims.room)
    // a token of an earlier room of the same id, or one a kicked peer held, no longer admits
    if (claims.iat + this.#options.clockSkew < Math.floor(Date.parse(room.createdAt) / 1000)) {
      throw signallingError('UNAUTHORIZED', 'the join token was issued before the room was created')
    }
    if (kickedAt !== undefined && claims.iat <= kickedAt) {
      throw signallingError('UNAUTHORIZED', 'the peer was removed from the room; a token issued after that admits it again')
    }
    return room
  }

  /** Joins or resumes the linked socket's peer; a failure is told to the client, whose socket is closed. */
  open (link: Link, claims: JoinClaims, attempt: ConnectAttempt): void {
    this.#open(link, claims, attempt).catch((err: unknown) => { this.#refuse(link, err) })
  }

  async #open (link: Link, claims: JoinClaims, attempt: ConnectAttempt): Promise<void> {
    this.#ctx.rooms.opening(claims.room)
    try {
      await this.#openRoom(link, claims, attempt)
    } finally {
      this.#ctx.rooms.opened(claims.room)
    }
  }

  async #openRoom (link: Link, claims: JoinClaims, attempt: ConnectAttempt): Promise<void> {
    const { room: roomId, sub: peerId } = claims
    const { rooms, backplane } = this.#ctx
    // subscribe to the room before anything else, so no event of the room's other nodes is missed
    const room = rooms.room(roomId)
    await backplane?.watch(roomId)
    if (attempt.lastSeq !== undefined) {
      const existing = room.peers.get(peerId)
      if (existing !== undefined && existing.canReplay(attempt.lastSeq, this.#ctx.resume.maxBytes)) return await this.#resumeHere(link, existing, attempt.lastSeq)
      if (existing === undefined && backplane !== undefined) {
        const handoff = await this.#parts.handoffs.request(roomId, peerId, attempt.lastSeq)
        if (handoff !== undefined) return await this.#resumeHandedOff(link, claims, handoff)
      }
      if (attempt.resumeOnly === true) throw signallingError('SESSION_EXPIRED', peerId)
    }
    await this.#join(link, claims)
  }

  async #join (link: Link, claims: JoinClaims): Promise<void> {
    const { registry, rooms } = this.#ctx
    const peer = new LocalPeer(claims.sub, claims.room, keptMetadata(claims.metadata), this.#ctx.nextId(), new Date().toISOString(), this.#options.burst)
    peer.canUpdateMetadata = claims.canUpdateMetadata === true
    const room = rooms.room(peer.roomId)
    const { replacedConnection } = await registry.join(peer.roomId, summaryOf(peer), peer.connection)
    const others = await this.#registeredPeers(room, peer.roomId)
    if (link.socket.readyState !== OPEN) {
      // gone during the join: undo it (a newer connection of the same peer keeps its place)
      await registry.leave(peer.roomId, peer.peerId, peer.connection)
      return
    }
    this.#seat(link, peer, room, replacedConnection, others)
  }

  /** The peer takes its place in the room, gets `welcome`, and the others hear of it. */
  #seat (link: Link, peer: LocalPeer, room: LocalRoom, replacedConnection: string | undefined, others: PeerSummary[]): void {
    const { delivery, departures } = this.#parts
    const previous = room.peers.get(peer.peerId)
    if (previous !== undefined) {
      departures.forget(previous)
      previous.socket?.close(CloseCodes.REPLACED, 'replaced')
    } else if (replacedConnection !== undefined) {
      void this.#ctx.backplane?.publish(peer.roomId, { kind: 'replaced', peerId: peer.peerId, connection: replacedConnection }).catch(() => {})
    }
    if (replacedConnection !== undefined) {
      room.peers.delete(peer.peerId)
      delivery.announce(peer.roomId, { type: 'peer-left', peerId: peer.peerId, reason: 'replaced' }, peer.peerId)
      departures.tell('left', peer.roomId, peer.peerId, 'replaced')
    }
    this.#ctx.rooms.seat(room, peer, others)
    this.#bind(link, peer, others, false)
    this.#ctx.metrics.joined()
    delivery.announce(peer.roomId, { type: 'peer-joined', peer: { peerId: peer.peerId, metadata: peer.metadata } }, peer.peerId)
    departures.tell('joined', peer.roomId, summaryOf(peer))
    this.#flushPending(link, peer)
  }

  /** The room's peers in the registry; with a backplane the room's record is kept too, for a resync after an outage. */
  async #registeredPeers (room: LocalRoom, roomId: string): Promise<PeerSummary[]> {
    const registry = this.#ctx.registry
    if (this.#ctx.backplane === undefined) return await registry.peers(roomId)
    const [others, record] = await Promise.all([registry.peers(roomId), registry.get(roomId)])
    if (record !== undefined) room.record = record
    return others
  }

  /** Gives the peer its socket and sends `welcome`. */
  #bind (link: Link, peer: LocalPeer, others: PeerSummary[], resumed: boolean): void {
    peer.socket = link.socket
    peer.lastRead = -1
    link.peer = peer
    const resumeToken = this.#options.resumeToken
    sendText(link.socket, link.direct, JSON.stringify({
      type: 'welcome',
      peerId: peer.peerId,
      roomId: peer.roomId,
      peers: othersThan(peer.peerId, others),
      iceServers: this.#options.iceServers(peer.peerId).iceServers,
      resumed,
      resumeToken: resumeToken === undefined || this.#ctx.resume.grace === 0 ? undefined : resumeToken(peer.peerId, peer.roomId, peer.metadata)
    } satisfies ServerMessage))
  }

  /** Frames that came before `welcome`, in order. */
  #flushPending (link: Link, peer: LocalPeer): void {
    const pending = link.pending
    if (pending === undefined) return
    link.pending = undefined
    for (const frame of pending) this.#parts.router.onFrame(peer, frame.data, frame.isBinary)
  }

  /** The session is on this node: swap its socket and send what the client missed. */
  async #resumeHere (link: Link, peer: LocalPeer, lastSeq: number): Promise<void> {
    const others = await this.#ctx.registry.peers(peer.roomId)
    if (link.socket.readyState !== OPEN) return
    if (!peer.canReplay(lastSeq, this.#ctx.resume.maxBytes)) throw signallingError('SESSION_EXPIRED', peer.peerId)
    const old = peer.socket
    clearTimeout(peer.grace)
    peer.grace = undefined
    this.#bind(link, peer, others, true)
    // the old socket may not have noticed its end yet; its close no longer concerns the peer
    if (old !== undefined && old.readyState === OPEN) old.close(CloseCodes.REPLACED, 'replaced')
    for (const frame of peer.framesAfter(lastSeq)) peer.socket?.send(frame)
    peer.trim(this.#ctx.resume)
    this.#ctx.metrics.resumed()
    this.#flushPending(link, peer)
  }

  /** The session comes from another node: take its place in the registry, then replay and go live. */
  async #resumeHandedOff (link: Link, claims: JoinClaims, handoff: GrantedHandoff): Promise<void> {
    const { registry, rooms } = this.#ctx
    const { delivery, departures, handoffs } = this.#parts
    try {
      const peer = new LocalPeer(claims.sub, claims.room, handoff.metadata, this.#ctx.nextId(), handoff.joinedAt, this.#options.burst)
      peer.seq = handoff.seq
      // the session's right travels with it: a resume token carries no claims of its own
      peer.canUpdateMetadata = handoff.canUpdateMetadata === true
      await registry.join(peer.roomId, summaryOf(peer), peer.connection)
      const room = rooms.room(peer.roomId)
      const others = await this.#registeredPeers(room, peer.roomId)
      rooms.seat(room, peer, others)
      if (link.socket.readyState !== OPEN) {
        // the client is gone again: keep the session here, in its grace period, as the old node would have
        peer.replay = handoff.frames
        // counted like the frames delivery keeps, so that the grace period's byte bound includes them
        peer.replayBytes = handoff.frames.reduce((bytes, frame) => bytes + frame.length, 0)
        for (const frame of handoffs.queued(handoff.requestId)) delivery.deliver(peer, frame)
        return departures.enterGrace(peer)
      }
      this.#bind(link, peer, others, true)
      for (const frame of handoff.frames) link.socket.send(frame)
      // frames published after the request went out reached this node only: numbered from where the old node stopped
      for (const frame of handoffs.queued(handoff.requestId)) delivery.deliver(peer, frame)
      this.#ctx.metrics.resumed()
      this.#flushPending(link, peer)
    } finally {
      handoffs.done(handoff.requestId)
    }
  }

  /** Tells the client why its join failed, and closes its socket. */
  #refuse (link: Link, err: unknown): void {
    const code = isSignallingError(err) ? err.code : 'INTERNAL_ERROR'
    if (code === 'INTERNAL_ERROR') this.#ctx.log.error({ err, roomId: link.roomId }, 'join failed')
    if (code === 'ROOM_FULL') this.#ctx.metrics.refused('room_full')
    const message = errorMessage(code, code === 'INTERNAL_ERROR' ? 'join failed' : code === 'SESSION_EXPIRED' ? link.peerId : link.roomId)
    if (link.socket.readyState === OPEN) link.socket.send(JSON.stringify({ type: 'error', code, message }))
    link.socket.close(closeCodeFor(code), code)
  }
}
