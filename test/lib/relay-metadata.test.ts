// A peer's metadata replaced through the relay: the host's `updated` event, once per update, and only for updates made.
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

test('every update fires `updated` once, with the peer as the REST API shows it; a refused one fires nothing', async (t) => {
  const registry = new MemoryRoomRegistry()
  await registry.create(ROOM)
  const updated: unknown[] = []
  const relay = new Relay({
    registry,
    heartbeatInterval: 0,
    events: { joined () {}, left () {}, updated: (roomId, peer) => updated.push([roomId, peer]) }
  })
  t.teardown(async () => { await relay.close() })
  const join = (peerId: string, canUpdateMetadata: boolean): { socket: RelaySocket, frames: any[] } => {
    const frames: any[] = []
    const socket = new RelaySocket({ frame: (text) => frames.push(JSON.parse(text)), closed: () => {} })
    relay.connect(socket.asWebSocket, joinClaims('r1', peerId, 60, { n: 0 }, Date.now(), undefined, canUpdateMetadata))
    return { socket, frames }
  }
  const a = join('a', false)
  const b = join('b', true)
  await until(() => a.frames.some((f) => f.type === 'peer-joined'), 'both joined')
  const joinedAt = (await registry.peers('r1')).find((p) => p.peerId === 'a')!.joinedAt

  t.same(await relay.updatePeer('r1', 'a', { n: 1 }), { peerId: 'a', metadata: { n: 1 }, joinedAt })
  t.same(updated, [['r1', { peerId: 'a', metadata: { n: 1 }, joinedAt }]])
  a.socket.receive('{"type":"update-metadata","metadata":{"n":2}}')
  await until(() => a.frames.some((f) => f.type === 'error'), 'the refusal')
  t.equal(a.frames.find((f) => f.type === 'error').code, 'FORBIDDEN')
  b.socket.receive('{"type":"update-metadata","metadata":{"n":3}}')
  await until(() => updated.length === 2, 'the own update')
  t.same((updated[1] as [string, { metadata: unknown }])[1].metadata, { n: 3 })
  await t.rejects(relay.updatePeer('r1', 'nobody', {}), { code: 'PEER_NOT_FOUND' })
  await t.rejects(relay.updatePeer('r2', 'a', {}), { code: 'ROOM_NOT_FOUND' })
  t.equal(updated.length, 2, 'neither the refused nor the failed updates fired')
  t.same(a.frames.filter((f) => f.type === 'peer-updated').map((f) => f.peer.metadata), [{ n: 1 }, { n: 3 }])
  t.same(b.frames.filter((f) => f.type === 'peer-updated').map((f) => f.peer.metadata), [{ n: 1 }, { n: 3 }])
})

test('a listener that throws is logged; the update is made and announced all the same', async (t) => {
  const registry = new MemoryRoomRegistry()
  await registry.create(ROOM)
  const errors: string[] = []
  const relay = new Relay({
    registry,
    heartbeatInterval: 0,
    log: { info () {}, warn () {}, error: (_obj, msg) => errors.push(msg) },
    events: { joined () {}, left () {}, updated () { throw new Error('listener bug') } }
  })
  t.teardown(async () => { await relay.close() })
  const frames: any[] = []
  const socket = new RelaySocket({ frame: (text) => frames.push(JSON.parse(text)), closed: () => {} })
  relay.connect(socket.asWebSocket, joinClaims('r1', 'a', 60, {}))
  await until(() => frames.some((f) => f.type === 'welcome'), 'welcome')
  await relay.updatePeer('r1', 'a', { x: true })
  t.same(errors, ['event listener failed'])
  t.same(frames.find((f) => f.type === 'peer-updated')?.peer.metadata, { x: true })
})
