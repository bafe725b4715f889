// Raw-frame fuzzing: malformed WebSocket frames written byte by byte over a plain TCP socket, each answered with the
// close code RFC 6455 (and ws's limits) call for; the process keeps serving and its memory returns to its baseline.
import { once } from 'node:events'
import { createHash, randomBytes } from 'node:crypto'
import net from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import v8 from 'node:v8'
import vm from 'node:vm'
import t, { type Test } from 'tap'
import { startServer, type TestPeer, type TestServer } from '../helper.js'

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'
const OP = { CONTINUATION: 0x0, TEXT: 0x1, BINARY: 0x2, CLOSE: 0x8, PING: 0x9, PONG: 0xa } as const
const MiB = 1024 * 1024

interface Frame { fin: boolean, rsv: number, opcode: number, payload: Buffer }

interface FrameSpec {
  opcode: number
  payload?: Buffer | string
  fin?: boolean
  /** RSV1..3 as bits 4, 2, 1. */
  rsv?: number
  mask?: boolean
  /** A payload length to announce instead of the payload's own (nothing more is sent then). */
  length?: bigint
}

/** One client-to-server frame, masked unless told otherwise. */
function encodeFrame (spec: FrameSpec): Buffer {
  const payload = typeof spec.payload === 'string' ? Buffer.from(spec.payload) : spec.payload ?? Buffer.alloc(0)
  const length = spec.length ?? BigInt(payload.length)
  const mask = spec.mask ?? true
  const head = [((spec.fin ?? true) ? 0x80 : 0) | ((spec.rsv ?? 0) << 4) | spec.opcode]
  let extended = Buffer.alloc(0)
  if (length < 126n) {
    head.push((mask ? 0x80 : 0) | Number(length))
  } else if (length < 65536n) {
    head.push((mask ? 0x80 : 0) | 126)
    extended = Buffer.alloc(2)
    extended.writeUInt16BE(Number(length))
  } else {
    head.push((mask ? 0x80 : 0) | 127)
    extended = Buffer.alloc(8)
    extended.writeBigUInt64BE(length)
  }
  if (!mask) return Buffer.concat([Buffer.from(head), extended, payload])
  const key = randomBytes(4)
  const masked = Buffer.alloc(payload.length)
  for (let i = 0; i < payload.length; i++) masked[i] = payload[i]! ^ key[i & 3]!
  return Buffer.concat([Buffer.from(head), extended, key, masked])
}

const closePayload = (code: number, reason: Buffer | string = ''): Buffer => {
  const buf = Buffer.alloc(2)
  buf.writeUInt16BE(code)
  return Buffer.concat([buf, typeof reason === 'string' ? Buffer.from(reason) : reason])
}

/** `text` cut into `count` fragments (the first TEXT, the rest CONTINUATION), as one buffer. */
function fragments (text: Buffer, count: number, extra: (i: number) => Buffer | undefined = () => undefined): Buffer {
  const parts: Buffer[] = []
  const size = Math.ceil(text.length / count)
  for (let i = 0; i < count; i++) {
    const piece = text.subarray(i * size, (i + 1) * size)
    parts.push(encodeFrame({ opcode: i === 0 ? OP.TEXT : OP.CONTINUATION, fin: i === count - 1, payload: piece }))
    const interleaved = extra(i)
    if (interleaved !== undefined) parts.push(interleaved)
  }
  return Buffer.concat(parts)
}

/** `count` fragments of `size` bytes each, all of one text message, the last one final. */
function fragmentFlood (count: number, size: number): Buffer {
  const frames: Buffer[] = []
  const payload = Buffer.alloc(size, 'x')
  for (let i = 0; i < count; i++) frames.push(encodeFrame({ opcode: i === 0 ? OP.TEXT : OP.CONTINUATION, fin: i === count - 1, payload }))
  return Buffer.concat(frames)
}

/** A WebSocket client written by hand over `node:net`, so it can send what no library would. */
class RawSocket {
  readonly frames: Frame[] = []
  readonly ended: Promise<void>
  #buffer = Buffer.alloc(0)
  #wake: Array<() => void> = []
  #open = true

  private constructor (readonly socket: net.Socket) {
    // writes after the server hung up fail with EPIPE/ECONNRESET: expected here
    socket.on('error', () => {})
    this.ended = new Promise((resolve) => socket.once('close', () => {
      this.#open = false
      this.#notify()
      resolve()
    }))
  }

  static async connect (t: Test, server: TestServer, query: string): Promise<{ raw: RawSocket, status: string }> {
    const { port } = new URL(server.baseUrl)
    const socket = net.connect(Number(port), '127.0.0.1')
    t.teardown(() => { socket.destroy() })
    await once(socket, 'connect')
    const key = randomBytes(16).toString('base64')
    socket.write(`GET /ws?${query} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`)
    let head = Buffer.alloc(0)
    for (;;) {
      const [chunk] = await once(socket, 'data') as [Buffer]
      head = Buffer.concat([head, chunk])
      if (head.includes('\r\n\r\n')) break
    }
    socket.pause()
    const end = head.indexOf('\r\n\r\n')
    const lines = head.subarray(0, end).toString().split('\r\n')
    const accept = lines.find((l) => l.toLowerCase().startsWith('sec-websocket-accept:'))?.split(':')[1]?.trim()
    if (accept !== undefined && accept !== createHash('sha1').update(key + WS_GUID).digest('base64')) throw new Error('bad Sec-WebSocket-Accept')
    const raw = new RawSocket(socket)
    raw.#push(head.subarray(end + 4))
    socket.on('data', (chunk: Buffer) => raw.#push(chunk))
    socket.resume()
    return { raw, status: lines[0]! }
  }

  /** A socket past the handshake and past `welcome`, as peer `peerId` of `roomId`. */
  static async join (t: Test, server: TestServer, roomId: string, peerId: string): Promise<RawSocket> {
    const { token } = await server.issueToken(roomId, { peerId })
    const { raw, status } = await RawSocket.connect(t, server, `token=${token}`)
    if (!status.startsWith('HTTP/1.1 101')) throw new Error(`upgrade refused: ${status}`)
    const welcome = await raw.next((f) => f.opcode === OP.TEXT)
    if (JSON.parse(welcome.payload.toString()).type !== 'welcome') throw new Error(`not a welcome: ${welcome.payload.toString()}`)
    return raw
  }

  #push (chunk: Buffer): void {
    this.#buffer = Buffer.concat([this.#buffer, chunk])
    // server frames are never masked
    for (;;) {
      const b = this.#buffer
      if (b.length < 2) break
      let length = b[1]! & 0x7f
      let offset = 2
      if (length === 126) {
        if (b.length < 4) break
        length = b.readUInt16BE(2)
        offset = 4
      } else if (length === 127) {
        if (b.length < 10) break
        length = Number(b.readBigUInt64BE(2))
        offset = 10
      }
      if (b.length < offset + length) break
      this.frames.push({ fin: (b[0]! & 0x80) !== 0, rsv: (b[0]! >> 4) & 7, opcode: b[0]! & 0x0f, payload: b.subarray(offset, offset + length) })
      this.#buffer = b.subarray(offset + length)
    }
    this.#notify()
  }

  #notify (): void {
    for (const wake of this.#wake.splice(0)) wake()
  }

  write (bytes: Buffer): void {
    this.socket.write(bytes)
  }

  /** The next frame matching `match`, consumed, within `timeout` ms. */
  async next (match: (f: Frame) => boolean, timeout = 5000): Promise<Frame> {
    const deadline = Date.now() + timeout
    for (;;) {
      const i = this.frames.findIndex(match)
      if (i !== -1) return this.frames.splice(i, 1)[0]!
      const left = deadline - Date.now()
      if (!this.#open) throw new Error('the connection closed without the frame awaited')
      if (left <= 0) throw new Error(`no such frame within ${timeout} ms; have opcodes ${this.frames.map((f) => f.opcode).join(',')}`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        this.#wake.push(() => { clearTimeout(timer); resolve() })
      })
    }
  }

  /** The server's close frame: its code and reason; then waits for the server to end the connection. */
  async closed (timeout = 5000): Promise<{ code: number, reason: string }> {
    const frame = await this.next((f) => f.opcode === OP.CLOSE, timeout)
    // our side of the closing handshake, then the TCP connection must go away
    if (!this.socket.destroyed) this.socket.end(encodeFrame({ opcode: OP.CLOSE, payload: frame.payload.subarray(0, 2) }))
    const ended = await Promise.race([this.ended.then(() => true), sleep(timeout).then(() => false)])
    if (!ended) throw new Error('the server sent its close frame but kept the connection open')
    return { code: frame.payload.length >= 2 ? frame.payload.readUInt16BE(0) : 1005, reason: frame.payload.subarray(2).toString() }
  }
}

// no upgrade limit per address: this file opens a socket per case
const SERVER_OPTIONS = { requestRate: { upgrades: false as const } }

async function setup (t: Test): Promise<{ server: TestServer, observer: TestPeer }> {
  const server = await startServer(t, SERVER_OPTIONS)
  await server.createRoom({ roomId: 'r', maxPeers: 1000 })
  const observer = await server.join('r', 'observer')
  return { server, observer }
}

let cases = 0
/** Joins as a raw peer, writes `bytes`, and checks the close code, the hang-up and what the room saw. */
async function expectClose (t: Test, server: TestServer, observer: TestPeer, name: string, bytes: Buffer, code: number): Promise<void> {
  const peerId = `raw${++cases}`
  const raw = await RawSocket.join(t, server, 'r', peerId)
  raw.write(bytes)
  const closed = await raw.closed()
  t.equal(closed.code, code, `${name}: close ${code}`)
  // a peer that broke the protocol is gone at once, not kept for a resume
  t.same(await peerLeft(observer, peerId), { type: 'peer-left', peerId, reason: 'disconnected' }, `${name}: the room saw it leave`)
}

/** The `peer-left` about `peerId` (several sockets may be closing at once). */
async function peerLeft (observer: TestPeer, peerId: string, timeout = 5000): Promise<unknown> {
  const deadline = Date.now() + timeout
  for (;;) {
    const i = observer.received.findIndex((m) => m.type === 'peer-left' && m.peerId === peerId)
    if (i !== -1) return observer.received.splice(i, 1)[0]
    if (Date.now() > deadline) throw new Error(`no peer-left for ${peerId} within ${timeout} ms`)
    await sleep(5)
  }
}

/** A normal peer still joins and relays an offer/answer round trip with the observer. */
async function assertServing (t: Test, server: TestServer, observer: TestPeer): Promise<void> {
  const peer = await server.join('r', `normal${++cases}`)
  peer.send({ type: 'offer', to: 'observer', data: { sdp: 'v=0' } })
  t.same(await observer.next('offer'), { type: 'offer', from: peer.welcome!.peerId, data: { sdp: 'v=0' } }, 'a normal peer still relays')
  observer.send({ type: 'answer', to: peer.welcome!.peerId, data: { sdp: 'v=0 answer' } })
  t.same(await peer.next('answer'), { type: 'answer', from: 'observer', data: { sdp: 'v=0 answer' } }, 'and gets the answer')
}

const ping = '{"type":"ping"}'

t.test('frame-level protocol violations are closed with 1002 (1009 for a length over 64 KiB)', async (t) => {
  const { server, observer } = await setup(t)
  const table: Array<[string, Buffer, number]> = [
    ['unmasked client frame', encodeFrame({ opcode: OP.TEXT, payload: ping, mask: false }), 1002],
    ['unmasked ping', encodeFrame({ opcode: OP.PING, mask: false }), 1002],
    ['RSV1 set (no extension negotiated)', encodeFrame({ opcode: OP.TEXT, payload: ping, rsv: 4 }), 1002],
    ['RSV2 set', encodeFrame({ opcode: OP.TEXT, payload: ping, rsv: 2 }), 1002],
    ['RSV3 set', encodeFrame({ opcode: OP.TEXT, payload: ping, rsv: 1 }), 1002],
    ['all RSV bits on a ping', encodeFrame({ opcode: OP.PING, rsv: 7 }), 1002],
    ...[0x3, 0x4, 0x5, 0x6, 0x7, 0xb, 0xc, 0xd, 0xe, 0xf].map((opcode): [string, Buffer, number] =>
      [`reserved opcode 0x${opcode.toString(16)}`, encodeFrame({ opcode, payload: ping }), 1002]),
    ['ping of 126 bytes', encodeFrame({ opcode: OP.PING, payload: Buffer.alloc(126, 1) }), 1002],
    ['pong of 200 bytes', encodeFrame({ opcode: OP.PONG, payload: Buffer.alloc(200, 1) }), 1002],
    ['close of 126 bytes', encodeFrame({ opcode: OP.CLOSE, payload: closePayload(1000, 'x'.repeat(124)) }), 1002],
    ['fragmented ping', encodeFrame({ opcode: OP.PING, fin: false, payload: 'a' }), 1002],
    ['fragmented close', encodeFrame({ opcode: OP.CLOSE, fin: false, payload: closePayload(1000) }), 1002],
    ['continuation with no message started', encodeFrame({ opcode: OP.CONTINUATION, payload: ping }), 1002],
    ['final continuation with no message started', encodeFrame({ opcode: OP.CONTINUATION, fin: true }), 1002],
    ['a new text frame inside a fragmented message', Buffer.concat([
      encodeFrame({ opcode: OP.TEXT, fin: false, payload: '{"type":' }), encodeFrame({ opcode: OP.TEXT, payload: '"ping"}' })]), 1002],
    ['a binary frame inside a fragmented text message', Buffer.concat([
      encodeFrame({ opcode: OP.TEXT, fin: false, payload: '{"type":' }), encodeFrame({ opcode: OP.BINARY, payload: '"ping"}' })]), 1002],
    ['a close frame of one byte', encodeFrame({ opcode: OP.CLOSE, payload: Buffer.from([3]) }), 1002],
    ['payload length 64 KiB + 1 announced', encodeFrame({ opcode: OP.TEXT, length: 65537n }), 1009],
    ['payload length 2^32 announced', encodeFrame({ opcode: OP.BINARY, length: 2n ** 32n }), 1009],
    ['payload length 2^53 announced', encodeFrame({ opcode: OP.TEXT, length: 2n ** 53n }), 1009],
    ['payload length 2^63 announced (most significant bit set)', encodeFrame({ opcode: OP.TEXT, length: 2n ** 63n }), 1009],
    ['64 KiB text then one more continuation byte', Buffer.concat([
      encodeFrame({ opcode: OP.TEXT, fin: false, payload: Buffer.alloc(65536, 'x') }), encodeFrame({ opcode: OP.CONTINUATION, payload: 'x' })]), 1009]
  ]
  for (const [name, bytes, code] of table) await expectClose(t, server, observer, name, bytes, code)
  t.comment(`${table.length} malformed frames, each closed with its code`)
  await assertServing(t, server, observer)
})

t.test('invalid UTF-8 in a text frame or a close reason is closed with 1007', async (t) => {
  const { server, observer } = await setup(t)
  const bad: Array<[string, number[]]> = [
    ['0xff', [0xff]],
    ['a lone continuation byte', [0x80]],
    ['overlong NUL (C0 80)', [0xc0, 0x80]],
    ['overlong slash (E0 80 AF)', [0xe0, 0x80, 0xaf]],
    ['UTF-16 surrogate (ED A0 80)', [0xed, 0xa0, 0x80]],
    ['above U+10FFFF (F4 90 80 80)', [0xf4, 0x90, 0x80, 0x80]],
    ['a 3-byte sequence cut short at the end', [0x7b, 0xe2, 0x82]],
    ['5-byte form (F8 88 80 80 80)', [0xf8, 0x88, 0x80, 0x80, 0x80]]
  ]
  const table: Array<[string, Buffer, number]> = []
  for (const [name, bytes] of bad) {
    const text = Buffer.concat([Buffer.from('{"type":"message","data":"'), Buffer.from(bytes), Buffer.from('"}')])
    table.push([`text frame with ${name}`, encodeFrame({ opcode: OP.TEXT, payload: text }), 1007])
    table.push([`fragmented text with ${name}`, fragments(text, 5), 1007])
    table.push([`close reason with ${name}`, encodeFrame({ opcode: OP.CLOSE, payload: closePayload(1000, Buffer.from(bytes)) }), 1007])
  }
  for (const [name, bytes, code] of table) await expectClose(t, server, observer, name, bytes, code)
  t.comment(`${table.length} frames with invalid UTF-8, each closed with 1007`)

  // control: a multi-byte character split across fragments is valid, and so is any byte in a binary frame
  const raw = await RawSocket.join(t, server, 'r', 'split')
  await observer.next('peer-joined')
  const text = Buffer.from('{"type":"message","to":"observer","data":"€😀é"}')
  raw.write(fragments(text, text.length))
  t.same(await observer.next('message'), { type: 'message', from: 'split', data: '€😀é' }, 'a character split over fragments is reassembled')
  raw.write(encodeFrame({ opcode: OP.BINARY, payload: Buffer.from([0xff, 0xc0, 0x80]) }))
  const { seq: _seq, ...error } = JSON.parse((await raw.next((f) => f.opcode === OP.TEXT)).payload.toString()) as Record<string, unknown>
  t.same(error, { type: 'error', code: 'INVALID_MESSAGE', message: 'Invalid message: binary frames are not accepted' }, 'a binary frame is refused by the protocol, not by the transport')
  t.comment(`control: a ${text.length}-byte message in ${text.length} one-byte fragments was reassembled; invalid UTF-8 in a binary frame got INVALID_MESSAGE, the socket stayed open`)
  await assertServing(t, server, observer)
})

t.test('invalid close codes are closed with 1002; valid ones are echoed', async (t) => {
  const { server, observer } = await setup(t)
  const invalid = [0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]
  for (const code of invalid) {
    await expectClose(t, server, observer, `close code ${code}`, encodeFrame({ opcode: OP.CLOSE, payload: closePayload(code) }), 1002)
  }
  t.comment(`${invalid.length} invalid close codes (${invalid.join(', ')}), each answered 1002`)
  for (const code of [1000, 1001, 3000, 4999]) {
    const raw = await RawSocket.join(t, server, 'r', `polite${code}`)
    raw.write(encodeFrame({ opcode: OP.CLOSE, payload: closePayload(code, 'bye') }))
    t.equal((await raw.closed()).code, code, `close code ${code} is echoed`)
  }
  t.comment('4 valid close codes (1000, 1001, 3000, 4999), each echoed')
  await assertServing(t, server, observer)
})

/** A `gc` function without --expose-gc on the command line. */
function getGc (): () => void {
  v8.setFlagsFromString('--expose-gc')
  return vm.runInNewContext('gc') as () => void
}

t.test('floods of tiny fragments are cut off and the memory returns to its baseline', async (t) => {
  const { server, observer } = await setup(t)
  const gc = getGc()
  const measure = async () => {
    for (let i = 0; i < 3; i++) {
      gc()
      await sleep(20)
    }
    const { rss, heapUsed } = process.memoryUsage()
    return { rss, heapUsed }
  }
  const mib = (n: number) => `${(n / MiB).toFixed(1)} MiB`

  // warm up every code path once, so the baseline includes compiled code and ws's own buffers
  await expectClose(t, server, observer, 'warm-up: 20,000 one-byte fragments', fragmentFlood(20_000, 1), 1008)
  const before = await measure()

  // ws keeps at most 16,384 fragments per message (then 1008, policy violation) and 64 KiB in total (then 1009)
  const floods: Array<[string, Buffer, number]> = [
    ['100,000 one-byte fragments of one message', fragmentFlood(100_000, 1), 1008],
    ['100,000 empty fragments of one message', fragmentFlood(100_000, 0), 1008],
    ['1,000 fragments of 100 bytes (100 KB in all)', fragmentFlood(1_000, 100), 1009],
    ['16,000 fragments of 8 bytes (128 KB in all)', fragmentFlood(16_000, 8), 1009]
  ]
  let sent = 0
  let peak = before.heapUsed
  const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage().heapUsed) }, 5)
  for (let round = 0; round < 3; round++) {
    // each kind from four sockets at once
    await Promise.all(floods.flatMap(([name, bytes, code]) => [0, 1, 2, 3].map(async () => {
      sent += bytes.length
      await expectClose(t, server, observer, name, bytes, code)
    })))
  }
  clearInterval(sampler)
  const after = await measure()
  t.comment(`sent ${mib(sent)} of fragment floods over ${3 * 4 * floods.length} sockets; heapUsed peaked at ${mib(peak)} meanwhile`)
  t.comment(`heapUsed ${mib(before.heapUsed)} before, ${mib(after.heapUsed)} after (${after.heapUsed >= before.heapUsed ? '+' : ''}${mib(after.heapUsed - before.heapUsed)}); ` +
    `rss ${mib(before.rss)} before, ${mib(after.rss)} after`)
  t.ok(after.heapUsed - before.heapUsed < 20 * MiB, 'heapUsed back within 20 MiB of its baseline')

  // a flood within the limits is a message like any other: 16,000 fragments, pings interleaved, reassembled intact
  const raw = await RawSocket.join(t, server, 'r', 'patient')
  await observer.next('peer-joined')
  const data = 'ü'.repeat(3900) + 'x'.repeat(8000)
  const text = Buffer.from(JSON.stringify({ type: 'candidate', to: 'observer', data }))
  raw.write(fragments(text, 16_000, (i) => i % 1000 === 999 ? encodeFrame({ opcode: OP.PING, payload: `p${i}` }) : undefined))
  const got = await observer.next('candidate')
  t.ok(got.data === data && got.from === 'patient', '16,000 fragments with 16 pings in between: the message arrives intact')
  const pongs: string[] = []
  for (let i = 0; i < 16; i++) pongs.push((await raw.next((f) => f.opcode === OP.PONG)).payload.toString())
  t.same(pongs, Array.from({ length: 16 }, (_, i) => `p${i * 1000 + 999}`), 'every ping in between was answered, in order')
  await assertServing(t, server, observer)
})

t.test('the server answers the frames it should: ping with pong, and a normal close', async (t) => {
  const { server, observer } = await setup(t)
  const raw = await RawSocket.join(t, server, 'r', 'control')
  raw.write(encodeFrame({ opcode: OP.PING, payload: 'x'.repeat(125) }))
  t.equal((await raw.next((f) => f.opcode === OP.PONG)).payload.toString(), 'x'.repeat(125), 'a 125-byte ping is answered with the same payload')
  raw.write(encodeFrame({ opcode: OP.TEXT, payload: Buffer.alloc(65536 - 15, ' ') }))
  raw.write(encodeFrame({ opcode: OP.TEXT, payload: ping }))
  t.match(JSON.parse((await raw.next((f) => f.opcode === OP.TEXT)).payload.toString()), { type: 'error', code: 'INVALID_MESSAGE', message: 'Invalid message: not valid JSON' }, 'a frame of exactly 64 KiB less 15 bytes is read (and refused as not JSON)')
  t.match(JSON.parse((await raw.next((f) => f.opcode === OP.TEXT)).payload.toString()), { type: 'pong' }, 'and the socket goes on')
  raw.write(encodeFrame({ opcode: OP.TEXT, payload: Buffer.concat([Buffer.from(ping), Buffer.alloc(65536 - ping.length, ' ')]) }))
  t.match(JSON.parse((await raw.next((f) => f.opcode === OP.TEXT)).payload.toString()), { type: 'pong' }, 'a frame of exactly 64 KiB is accepted')
  raw.write(encodeFrame({ opcode: OP.CLOSE, payload: closePayload(1000) }))
  const closed = await raw.closed()
  t.comment(`125-byte ping answered with its payload; frames of 65,521 and 65,536 bytes read; a close 1000 answered ${closed.code}`)
  t.same(closed, { code: 1000, reason: '' })
  t.same(await peerLeft(observer, 'control'), { type: 'peer-left', peerId: 'control', reason: 'disconnected' })
  await assertServing(t, server, observer)
})
