// The relay's own frame size backstop (behind the WebSocket server's maxPayload), measured in bytes. Here for want
// of a relay test directory of this change's own: the relay runs on a bare ws server without maxPayload.
import t from 'tap'
import { once } from 'node:events'
import WebSocket, { WebSocketServer } from 'ws'
import { MAX_FRAME_BYTES } from '../../lib/protocol.js'
import { Relay } from '../../lib/relay.js'
import { MemoryRoomRegistry } from '../../lib/room-registry.js'

t.test('a frame of multi-byte characters over MAX_FRAME_BYTES bytes (but not characters) is refused with 1009', async (t) => {
  const registry = new MemoryRoomRegistry()
  const relay = new Relay({ registry, heartbeatInterval: 0, messageRate: false })
  t.teardown(async () => { await relay.close() })
  await registry.create({ roomId: 'r', maxPeers: 2, emptyTimeout: 10, metadata: {}, createdAt: new Date().toISOString() })
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
  t.teardown(async () => { await new Promise((resolve) => wss.close(resolve)) })
  await once(wss, 'listening')
  wss.on('connection', (socket) => relay.connect(socket, { sub: 'p', room: 'r', aud: 'join', iat: 0, exp: 0, metadata: {} } as never))
  const { port } = wss.address() as { port: number }
  const client = new WebSocket(`ws://127.0.0.1:${port}`)
  t.teardown(() => { client.terminate() })
  const received: string[] = []
  client.on('message', (data) => received.push(data.toString()))
  const closed = once(client, 'close')
  await once(client, 'open')
  // 3 bytes per character: about 30 000 characters, 90 000 bytes
  const data = '€'.repeat(Math.ceil(MAX_FRAME_BYTES / 2))
  const frame = JSON.stringify({ type: 'message', data })
  t.ok(frame.length < MAX_FRAME_BYTES && Buffer.byteLength(frame) > MAX_FRAME_BYTES)
  for (let i = 0; i < 100 && received.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 50))
  t.match(JSON.parse(received[0] ?? '{}'), { type: 'welcome' })
  client.send(frame)
  const [code] = await closed as [number]
  t.equal(code, 1009)
})
