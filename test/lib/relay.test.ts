// The relay with the in-memory registry and no backplane: a join is settled within the call that hands it the
// socket. Real ws sockets over loopback, no HTTP route in between.
import { test, type Test } from 'tap'
import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { WebSocket, WebSocketServer } from 'ws'
import { joinClaims } from '../../lib/join-token.js'
import { Relay } from '../../lib/relay.js'
import { MemoryRoomRegistry } from '../../lib/room-registry.js'

const ROOM = { roomId: 'r1', maxPeers: 4, emptyTimeout: 60, metadata: {}, createdAt: new Date(Date.now() - 10_000).toISOString() }

interface Pair { server: WebSocket, client: WebSocket, frames: string[] }

async function until (condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

/** A relay over a bare ws server on loopback; `pair()` opens a client and hands back both ends. */
async function setup (t: Test, heartbeatInterval = 0): Promise<{ relay: Relay, registry: MemoryRoomRegistry, pair: () => Promise<Pair> }> {
  const registry = new MemoryRoomRegistry()
  const relay = new Relay({ registry, heartbeatInterval })
  const http = createServer()
  const wss = new WebSocketServer({ server: http })
  http.listen(0, '127.0.0.1')
  await once(http, 'listening')
  const { port } = http.address() as AddressInfo
  t.teardown(async () => {
    for (const socket of wss.clients) socket.terminate()
    wss.close()
    http.close()
    await relay.close()
  })
  const pair = async (): Promise<Pair> => {
    const client = new WebSocket(`ws://127.0.0.1:${port}/`)
    const frames: string[] = []
    client.on('message', (data) => frames.push(String(data)))
    const [[server]] = await Promise.all([once(wss, 'connection') as Promise<[WebSocket]>, once(client, 'open')])
    return { server, client, frames }
  }
  await registry.create(ROOM)
  return { relay, registry, pair }
}

test('with the in-memory registry, welcome is sent and the peer registered within the turn of connect', async (t) => {
  const { relay, registry, pair } = await setup(t)
  await relay.admit(joinClaims('r1', 'alice', 60, {}))
  const { server, frames } = await pair()
  relay.connect(server, joinClaims('r1', 'alice', 60, {}))
  // an immediate runs after every microtask of this turn: the in-memory join awaits nothing else
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(relay.localPeerCount, 1, 'seated within the turn')
  t.same((await registry.peers('r1')).map((p) => p.peerId), ['alice'], 'registered')
  await until(() => frames.length > 0, 'welcome')
  t.match(JSON.parse(frames[0]!), { type: 'welcome', peerId: 'alice', roomId: 'r1', peers: [] })
})

test('admission refusals are rejected with their codes', async (t) => {
  const { relay, registry } = await setup(t)
  await t.rejects(relay.admit(joinClaims('nope', 'alice', 60, {})), { code: 'ROOM_NOT_FOUND' })
  const early = joinClaims('r1', 'alice', 60, {}, Date.parse(ROOM.createdAt) - 60_000)
  await t.rejects(relay.admit(early), { code: 'UNAUTHORIZED' }, 'a token from before the room was created')
  await registry.create({ ...ROOM, roomId: 'small', maxPeers: 1 })
  await registry.join('small', { peerId: 'bob', metadata: {}, joinedAt: new Date().toISOString() }, 'c1')
  await t.rejects(relay.admit(joinClaims('small', 'alice', 60, {})), { code: 'ROOM_FULL' })
  await t.resolves(relay.admit(joinClaims('small', 'bob', 60, {})), 'the peer already in a full room may come back')
  await registry.recordKick('r1', 'carol', Math.floor(Date.now() / 1000))
  await t.rejects(relay.admit(joinClaims('r1', 'carol', 60, {}, Date.now() - 5000)), { code: 'UNAUTHORIZED' }, 'a token of a kicked peer')
})

test('a join that fails in the registry tells the client why and leaves no room behind', async (t) => {
  const { relay, registry, pair } = await setup(t)
  const { server, client, frames } = await pair()
  // the room is gone between the admission and the upgrade
  await registry.delete('r1')
  relay.connect(server, joinClaims('r1', 'alice', 60, {}))
  const [code] = await once(client, 'close') as [number]
  t.equal(code, 4404, 'closed as a closed room')
  t.match(JSON.parse(frames[0]!), { type: 'error', code: 'ROOM_NOT_FOUND' })
  t.equal(relay.localRoomCount, 0, 'no local room kept for it')
})

test('a socket handed over already closed leaves no peer behind', async (t) => {
  const { relay, registry, pair } = await setup(t)
  const { server, client } = await pair()
  client.close()
  await once(server, 'close')
  relay.connect(server, joinClaims('r1', 'alice', 60, {}))
  await new Promise((resolve) => setImmediate(resolve))
  t.same(await registry.peers('r1'), [], 'the registry does not hold the peer')
  t.equal(relay.localPeerCount, 0, 'nor does the relay')
  t.equal(relay.localRoomCount, 0, 'nor a room for it')
})

test('a peer that leaves is removed from the registry at once, and the others are told', async (t) => {
  const { relay, registry, pair } = await setup(t)
  const a = await pair()
  relay.connect(a.server, joinClaims('r1', 'alice', 60, {}))
  const b = await pair()
  relay.connect(b.server, joinClaims('r1', 'bob', 60, {}))
  await until(() => b.frames.length > 0, "bob's welcome")
  const closed = once(b.client, 'close')
  b.client.send(JSON.stringify({ type: 'leave' }))
  await until(() => a.frames.length >= 3, "alice's presence messages")
  t.same((await registry.peers('r1')).map((p) => p.peerId), ['alice'], 'bob is out of the registry once alice hears of it')
  t.equal((await closed)[0], 1000, "bob's socket closed normally")
  const types = a.frames.map((f) => JSON.parse(f) as { type: string, peerId?: string, reason?: string })
  t.match(types.map((m) => m.type), ['welcome', 'peer-joined', 'peer-left'])
  t.match(types[2], { peerId: 'bob', reason: 'left' })
})

test('the heartbeat pings every peer once per interval, a slice of the rooms at a time', async (t) => {
  // 1,000 ms: ten slices of 100 ms; 20 rooms of one peer, two rooms a slice
  const { relay, registry, pair } = await setup(t, 1000)
  const pings: Array<{ peer: number, at: number }> = []
  for (let i = 0; i < 20; i++) {
    await registry.create({ ...ROOM, roomId: `beat-${i}` })
    const { server, client } = await pair()
    client.on('ping', () => pings.push({ peer: i, at: Date.now() }))
    relay.connect(server, joinClaims(`beat-${i}`, `p${i}`, 60, {}))
  }
  await until(() => new Set(pings.map((p) => p.peer)).size === 20 && pings.length >= 40, 'two pings for every peer')
  const firsts = new Map<number, number>()
  const seconds = new Map<number, number>()
  for (const { peer, at } of pings) {
    if (!firsts.has(peer)) firsts.set(peer, at)
    else if (!seconds.has(peer)) seconds.set(peer, at)
  }
  // the first round's pings, grouped into the slices they came in (a slice's pings leave within a few ms)
  const times = [...firsts.values()].sort((a, b) => a - b)
  let slices = 1
  for (let i = 1; i < times.length; i++) if (times[i]! - times[i - 1]! > 40) slices++
  // ten slices in all; a busy machine may read two of them in one go
  t.ok(slices >= 4, `the first round came in ${slices} slices, not at once`)
  t.ok(times.at(-1)! - times[0]! >= 400, 'spread over most of the interval')
  for (const [peer, first] of firsts) {
    const gap = (seconds.get(peer) ?? Infinity) - first
    t.ok(gap >= 500 && gap <= 2500, `peer ${peer}: the next ping ${gap} ms later, about one interval`)
  }
  t.equal(relay.localPeerCount, 20, 'every peer that answered stays')
})
