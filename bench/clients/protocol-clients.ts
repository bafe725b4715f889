// How a load generator joins and relays on each server under test, through that server's own protocol.
import { randomBytes } from 'node:crypto'
import WebSocket from 'ws'
import { BENCH_API_KEY } from '../servers.js'
import { HttpPool } from './http-client.js'

export type RelayKind = 'signalling' | 'ws-relay' | 'peerjs'
export type SignalType = 'offer' | 'answer' | 'candidate'

export interface RoomPlan { roomId: string, peerIds: string[] }
export interface PeerSlot { peerId: string, roomId: string, path: string }

export interface Protocol {
  kind: RelayKind
  /** Creates the rooms and each peer's credentials (REST for the product) and returns where each peer connects. */
  prepare: (rooms: RoomPlan[]) => Promise<PeerSlot[][]>
  /** Start of a relayed frame up to where `data` begins: `data` is appended, then `}`. */
  frameHead: (type: SignalType, to: string) => string
  /** The first frame a joined peer gets, if the server sends one (welcome / OPEN). */
  joinFrame?: string
  /** The message that leaves politely, where the protocol has one (the server then closes); else a close frame. */
  leaveMessage?: string
  /** A frame the server requires now and then to keep a peer, as the server's own client sends it. */
  keepalive?: { frame: string, intervalMs: number }
}

/** Most peers a room holds in the product (its maxPeers ceiling). */
const MAX_PEERS = 1000

export function protocolFor (kind: RelayKind, port: number): Protocol {
  switch (kind) {
    case 'signalling':
      return {
        kind,
        joinFrame: '"type":"welcome"',
        prepare: async (rooms) => {
          const pool = await HttpPool.open(port, 16)
          const auth = { Authorization: `Bearer ${BENCH_API_KEY}` }
          try {
            return await Promise.all(rooms.map(async (room) => {
              const created = await pool.request('POST', '/rooms', auth, { roomId: room.roomId, maxPeers: Math.min(MAX_PEERS, Math.max(2, room.peerIds.length)) })
              if (created.status !== 201) throw new Error(`POST /rooms: ${created.status} ${created.body}`)
              return await Promise.all(room.peerIds.map(async (peerId) => {
                const issued = await pool.request('POST', `/rooms/${room.roomId}/tokens`, auth, { peerId })
                if (issued.status !== 201) throw new Error(`POST /rooms/${room.roomId}/tokens: ${issued.status} ${issued.body}`)
                const token = (JSON.parse(issued.body) as { token: string }).token
                return { peerId, roomId: room.roomId, path: `/ws?token=${token}` }
              }))
            }))
          } finally {
            pool.close()
          }
        },
        frameHead: (type, to) => `{"type":"${type}","to":"${to}","data":`,
        // the server answers `leave` by closing with 1000
        leaveMessage: '{"type":"leave"}'
      }
    case 'ws-relay':
      return {
        kind,
        prepare: async (rooms) => rooms.map((room) => room.peerIds.map((peerId) => ({ peerId, roomId: room.roomId, path: `/?id=${peerId}` }))),
        frameHead: (type, to) => `{"type":"${type}","to":"${to}","data":`
      }
    case 'peerjs':
      return {
        kind,
        joinFrame: '"type":"OPEN"',
        prepare: async (rooms) => rooms.map((room) => room.peerIds.map((peerId) => ({
          peerId,
          roomId: room.roomId,
          path: `/peerjs?key=peerjs&id=${peerId}&token=${randomBytes(8).toString('hex')}`
        }))),
        frameHead: (type, to) => `{"type":"${type.toUpperCase()}","dst":"${to}","payload":`,
        // the PeerJS client has no leave message of its own for the server: it closes the socket
        // PeerJS server drops a client without a HEARTBEAT for 90 s, whatever else it sends; its client sends one
        // every 5 s (pingInterval)
        keepalive: { frame: '{"type":"HEARTBEAT"}', intervalMs: 5000 }
      }
  }
}

// an all-zero mask makes `ws` skip masking: the generator's core is spent on the server's behalf, not on XOR
const zeroMask = (mask: Buffer): void => { mask.fill(0) }

export interface ConnectOptions {
  port: number
  localAddress?: string
  timeoutMs?: number
  onMessage: (data: Buffer) => void
  onClose?: (code: number) => void
}

/** Opens a peer's socket and resolves once the server says it joined (or, without such a message, once it opens). */
export async function connectPeer (protocol: Protocol, slot: PeerSlot, options: ConnectOptions): Promise<WebSocket> {
  const socket = new WebSocket(`ws://127.0.0.1:${options.port}${slot.path}`, {
    perMessageDeflate: false,
    skipUTF8Validation: true,
    generateMask: zeroMask,
    localAddress: options.localAddress,
    handshakeTimeout: options.timeoutMs ?? 30_000
  })
  return await new Promise((resolve, reject) => {
    let joined = false
    const timer = setTimeout(() => {
      if (joined) return
      socket.terminate()
      reject(new Error(`join of ${slot.peerId} timed out`))
    }, options.timeoutMs ?? 30_000)
    let keepalive: NodeJS.Timeout | undefined
    const done = (): void => {
      joined = true
      clearTimeout(timer)
      const every = protocol.keepalive
      if (every !== undefined) keepalive = setInterval(() => { if (socket.readyState === WebSocket.OPEN) socket.send(every.frame) }, every.intervalMs)
      resolve(socket)
    }
    socket.on('message', (data: Buffer) => {
      if (!joined) {
        if (protocol.joinFrame !== undefined && data.includes(protocol.joinFrame)) return done()
        if (protocol.joinFrame !== undefined) return
      }
      options.onMessage(data)
    })
    socket.on('open', () => { if (protocol.joinFrame === undefined) done() })
    socket.on('unexpected-response', (_req, res) => {
      clearTimeout(timer)
      reject(new Error(`join of ${slot.peerId}: HTTP ${res.statusCode}`))
      socket.terminate()
    })
    socket.on('error', (err) => {
      if (joined) return
      clearTimeout(timer)
      reject(err)
    })
    socket.on('close', (code) => {
      clearInterval(keepalive)
      if (!joined) {
        clearTimeout(timer)
        reject(new Error(`${slot.peerId} closed (${code}) before joining`))
      }
      options.onClose?.(code)
    })
  })
}

const STAMP = Buffer.from('"_t":')

/** The send time stamped into `data` as `"_t":<ms>`, read without decoding the frame. */
export function readStamp (frame: Buffer): number | undefined {
  const at = frame.indexOf(STAMP)
  if (at < 0) return undefined
  let value = 0
  let scale = 0
  for (let i = at + STAMP.length; i < frame.length; i++) {
    const c = frame[i]!
    if (c === 46) { scale = 1; continue } // '.'
    if (c < 48 || c > 57) break
    if (scale === 0) value = value * 10 + (c - 48)
    else { scale /= 10; value += (c - 48) * scale }
  }
  return value
}
