// A joiner for the churn workload that speaks WebSocket over a bare TCP socket: a fixed handshake, unmasked server
// frames parsed in place, client frames with an all-zero mask. `ws`'s client builds an HTTP request (agent, parser,
// header objects) per connection, and at a few thousand joins a second that alone filled the generator's core
// before any server's; this one does what a join needs and nothing else, the same for every server under test.
import { connect, type Socket } from 'node:net'

export interface RawJoin {
  port: number
  /** Path and query of the upgrade, e.g. `/ws?token=...`. */
  path: string
  /** Bytes of the first text frame that says the peer joined; without it, the 101 answer does. */
  joinFrame?: string
  /** Sent once joined: a text message the server answers by closing, or (undefined) a close frame of our own. */
  leaveMessage?: string
  timeoutMs: number
}

export interface RawJoinEvents {
  joined: () => void
  /** Once, when the socket is gone: with an error if the join never happened. */
  closed: (err?: Error) => void
}

// any 16 bytes, base64: the server's Sec-WebSocket-Accept is not checked, the 101 status is
const HANDSHAKE_KEY = 'YmVuY2gtam9pbmVyLWtleQ=='
const HEADER_END = Buffer.from('\r\n\r\n')
const STATUS_101 = Buffer.from('HTTP/1.1 101')
const CLOSE_1000 = Buffer.from([0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8])

/** A client text frame: FIN, opcode 1, the mask bit with a zero mask (so the payload goes as it is). */
function textFrame (text: string): Buffer {
  const payload = Buffer.from(text)
  if (payload.length > 125) throw new Error('raw joiner: leave message over 125 bytes')
  return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length, 0, 0, 0, 0]), payload])
}

/** Starts a join; the socket is returned so that a workload can destroy what is left at its end. */
export function rawJoin (join: RawJoin, events: RawJoinEvents): Socket {
  const socket: Socket = connect({ port: join.port, host: '127.0.0.1', noDelay: true })
  const joinFrame = join.joinFrame === undefined ? undefined : Buffer.from(join.joinFrame)
  const leave = join.leaveMessage === undefined ? CLOSE_1000 : textFrame(join.leaveMessage)
  let upgraded = false
  let joined = false
  let closeSent = false
  let failure: Error | undefined
  let pending: Buffer | undefined
  const timer = setTimeout(() => { fail(new Error('join timed out')) }, join.timeoutMs)

  function fail (err: Error): void {
    failure ??= err
    socket.destroy()
  }

  function onJoined (): void {
    joined = true
    clearTimeout(timer)
    events.joined()
    if (join.leaveMessage === undefined) closeSent = true
    socket.write(leave)
  }

  /** Handles whole frames from `data`; returns the bytes of an incomplete last frame. */
  function frames (data: Buffer): Buffer | undefined {
    let at = 0
    while (data.length - at >= 2) {
      const opcode = data[at]! & 0x0f
      let length = data[at + 1]! & 0x7f
      let start = at + 2
      if (length === 126) {
        if (data.length - at < 4) break
        length = data.readUInt16BE(at + 2)
        start = at + 4
      } else if (length === 127) {
        if (data.length - at < 10) break
        length = Number(data.readBigUInt64BE(at + 2))
        start = at + 10
      }
      if (data.length < start + length) break
      if (opcode === 1 && !joined && joinFrame !== undefined && data.subarray(start, start + length).includes(joinFrame)) onJoined()
      else if (opcode === 8) {
        // the server's close: answer it once (unless ours went first), then end our side
        if (!closeSent) {
          closeSent = true
          socket.write(CLOSE_1000)
        }
        socket.end()
        if (!joined) fail(new Error(`closed (${length >= 2 ? data.readUInt16BE(start) : 1005}) before joining`))
      }
      at = start + length
    }
    return at === data.length ? undefined : data.subarray(at)
  }

  socket.on('connect', () => {
    socket.write(`GET ${join.path} HTTP/1.1\r\nHost: 127.0.0.1:${join.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${HANDSHAKE_KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`)
  })
  socket.on('data', (chunk: Buffer) => {
    let data = pending === undefined ? chunk : Buffer.concat([pending, chunk])
    pending = undefined
    if (!upgraded) {
      const end = data.indexOf(HEADER_END)
      if (end < 0) {
        pending = data
        return
      }
      if (data.compare(STATUS_101, 0, STATUS_101.length, 0, STATUS_101.length) !== 0) {
        fail(new Error(`HTTP ${data.toString('latin1', 9, 12)}`))
        return
      }
      upgraded = true
      data = data.subarray(end + HEADER_END.length)
      if (joinFrame === undefined) onJoined()
    }
    pending = frames(data)
  })
  socket.on('error', (err) => { failure ??= err })
  socket.on('close', () => {
    clearTimeout(timer)
    events.closed(joined ? undefined : failure ?? new Error('closed before joining'))
  })
  return socket
}
