// A RelaySocket served by the relay as a WebSocket would be: frames in and out as text, the relay's closes and the
// connection's end reported once.
import { test } from 'tap'
import { joinClaims } from '../../lib/join-token.js'
import { Relay } from '../../lib/relay.js'
import { RelaySocket } from '../../lib/relay-socket.js'
import { MemoryRoomRegistry } from '../../lib/room-registry.js'

const ROOM = { roomId: 'r1', maxPeers: 4, emptyTimeout: 60, metadata: {}, createdAt: new Date(Date.now() - 10_000).toISOString() }

async function until (condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

function peer (relay: Relay, peerId: string): { socket: RelaySocket, frames: any[], closes: number[] } {
  const frames: any[] = []
  const closes: number[] = []
  const socket = new RelaySocket({ frame: (text) => frames.push(JSON.parse(text)), closed: (code) => closes.push(code) })
  relay.connect(socket.asWebSocket, joinClaims('r1', peerId, 60, {}))
  return { socket, frames, closes }
}

test('two relay sockets join a room and relay an offer both ways', async (t) => {
  const registry = new MemoryRoomRegistry()
  await registry.create(ROOM)
  const relay = new Relay({ registry, heartbeatInterval: 0 })
  t.teardown(async () => { await relay.close() })
  const a = peer(relay, 'a')
  const b = peer(relay, 'b')
  await until(() => b.frames.some((f) => f.type === 'welcome'), 'b welcomed')
  t.match(b.frames[0], { type: 'welcome', peerId: 'b', peers: [{ peerId: 'a' }] })
  await until(() => a.frames.some((f) => f.type === 'peer-joined'), 'a told of b')
  a.socket.receive(JSON.stringify({ type: 'offer', to: 'b', data: { sdp: 'x' } }))
  await until(() => b.frames.some((f) => f.type === 'offer'), 'offer at b')
  t.match(b.frames.find((f) => f.type === 'offer'), { from: 'a', data: { sdp: 'x' }, seq: 1 })
  b.socket.receive(JSON.stringify({ type: 'answer', to: 'a', data: 'y' }))
  await until(() => a.frames.some((f) => f.type === 'answer'), 'answer at a')
  t.same(await registry.peers('r1').then((peers) => peers.map((p) => p.peerId).sort()), ['a', 'b'])
})

test('a kick closes the relay socket once with 4403; the end of a connection is a departure', async (t) => {
  const registry = new MemoryRoomRegistry()
  await registry.create(ROOM)
  const relay = new Relay({ registry, heartbeatInterval: 0, resume: { grace: 0 } })
  t.teardown(async () => { await relay.close() })
  const a = peer(relay, 'a')
  const b = peer(relay, 'b')
  await until(() => b.frames.some((f) => f.type === 'welcome'), 'b welcomed')
  await relay.kick('r1', 'a')
  t.same(a.closes, [4403])
  a.socket.close(4403)
  t.same(a.closes, [4403], 'closed once')
  await until(() => b.frames.some((f) => f.type === 'peer-left'), 'b told')
  t.match(b.frames.find((f) => f.type === 'peer-left'), { peerId: 'a', reason: 'kicked' })
  b.socket.end(1000)
  await until(() => relay.localPeerCount === 0, 'b gone')
  t.equal(b.socket.readyState, 3)
  b.socket.receive('{"type":"ping"}')
  t.notOk(b.frames.some((f) => f.type === 'pong'), 'nothing after the end')
})
