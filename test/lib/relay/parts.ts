// The relay's parts built as lib/relay.ts builds them, over real sockets on loopback, for the parts' unit tests.
import type { Test } from 'tap'
import { once } from 'node:events'
import { WebSocket, WebSocketServer, type ClientOptions } from 'ws'
import { DEFAULT_RESUME, type ResumeOptions } from '../../../lib/limits.js'
import { Delivery } from '../../../lib/relay/delivery.js'
import { Departures } from '../../../lib/relay/departures.js'
import { attach, socketListeners, type Link, type LinkHandlers } from '../../../lib/relay/link.js'
import { LocalRooms } from '../../../lib/relay/local-rooms.js'
import { LocalPeer, summaryOf } from '../../../lib/relay/peer.js'
import { silent, type RelayContext, type RelayEvents, type RelayMetrics } from '../../../lib/relay/types.js'
import type { LimitName } from '../../../lib/metrics.js'
import type { RedisBackplane } from '../../../lib/redis-backplane.js'
import { MemoryRoomRegistry, type RoomRegistry } from '../../../lib/room-registry.js'

/** The server's end of a real WebSocket connection, and its client with every text frame it received. */
export interface SocketPair {
  server: WebSocket
  client: WebSocket
  received: string[]
  /** Resolves with the client's close code. */
  closed: Promise<number>
  /** Waits until the client has received `count` frames in all. */
  frames: (count: number) => Promise<string[]>
}

/** A WebSocket server on a free loopback port; `pair()` connects a client and returns both ends. */
export async function socketPairs (t: Test): Promise<{ pair: (options?: ClientOptions) => Promise<SocketPair> }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
  await once(wss, 'listening')
  t.teardown(async () => {
    for (const socket of wss.clients) socket.terminate()
    await new Promise((resolve) => wss.close(resolve))
  })
  const { port } = wss.address() as { port: number }
  return {
    async pair (options) {
      const accepted = once(wss, 'connection') as Promise<[WebSocket]>
      const client = new WebSocket(`ws://127.0.0.1:${port}`, options)
      const received: string[] = []
      const waiters: Array<() => void> = []
      client.on('message', (data) => { received.push(data.toString()); for (const w of waiters.splice(0)) w() })
      client.on('error', () => {})
      const closed = new Promise<number>((resolve) => client.on('close', (code) => resolve(code)))
      const [[server]] = await Promise.all([accepted, once(client, 'open')])
      const frames = async (count: number): Promise<string[]> => {
        while (received.length < count) await new Promise<void>((resolve) => waiters.push(resolve))
        return received
      }
      return { server: server!, client, received, closed, frames }
    }
  }
}

/** Counters as the relay reports them, recorded. */
export function recordingMetrics (): RelayMetrics & { refusals: LimitName[], errors: string[], relayedTypes: string[] } {
  const refusals: LimitName[] = []
  const errors: string[] = []
  const relayedTypes: string[] = []
  return {
    refusals,
    errors,
    relayedTypes,
    relayed: (type) => { relayedTypes.push(type) },
    error: (code) => { errors.push(code) },
    joined () {},
    resumed () {},
    closed () {},
    refused: (limit) => { refusals.push(limit) }
  }
}

export interface Parts {
  ctx: RelayContext
  registry: RoomRegistry
  rooms: LocalRooms
  delivery: Delivery
  departures: Departures
  metrics: ReturnType<typeof recordingMetrics>
  /** Seats a peer on this socket in the room (registered, as a join leaves it), without `welcome`. */
  seat: (socket: WebSocket | undefined, peerId: string, roomId?: string) => Promise<LocalPeer>
}

export interface PartsOptions {
  resume?: Partial<ResumeOptions>
  maxBufferedBytes?: number
  events?: RelayEvents
  /** Rooms and routing on this (started) backplane rather than in memory. */
  backplane?: RedisBackplane
}

/** One node's context and delivery parts, as lib/relay.ts composes them; in memory unless given a backplane. */
export async function relayParts (options: PartsOptions = {}): Promise<Parts> {
  const backplane = options.backplane
  const registry: RoomRegistry = backplane ?? new MemoryRoomRegistry()
  const rooms = new LocalRooms(backplane, silent)
  const metrics = recordingMetrics()
  let ids = 0
  const ctx: RelayContext = { registry, backplane, rooms, log: silent, metrics, resume: { ...DEFAULT_RESUME, ...options.resume }, nextId: () => `${backplane?.nodeId ?? 'n'}.${++ids}` }
  // eslint-disable-next-line prefer-const
  let departures: Departures
  const delivery = new Delivery(ctx, options.maxBufferedBytes ?? 1 << 20, () => departures)
  departures = new Departures(ctx, delivery, options.events)
  return {
    ctx,
    registry,
    rooms,
    delivery,
    departures,
    metrics,
    async seat (socket, peerId, roomId = 'r1') {
      if (await registry.get(roomId) === undefined) {
        await registry.create({ roomId, maxPeers: 10, emptyTimeout: 60, metadata: {}, createdAt: new Date().toISOString() })
      }
      await backplane?.watch(roomId)
      const room = rooms.room(roomId)
      room.record = await registry.get(roomId)
      const peer = new LocalPeer(peerId, roomId, {}, ctx.nextId(), new Date().toISOString(), 10)
      await registry.join(roomId, summaryOf(peer), peer.connection)
      rooms.seat(room, peer, await registry.peers(roomId))
      peer.socket = socket
      if (socket !== undefined) {
        const link: Link = attach(socket, peerId, roomId, socketListeners(ctx, { onFrame () {}, onFailure () {}, onClose: (p, code) => departures.onClose(p, code) } satisfies LinkHandlers))
        link.peer = peer
      }
      return peer
    }
  }
}
