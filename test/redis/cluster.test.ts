// Two and three server nodes on one real Redis: rooms, presence and relay across nodes.
import t, { type Test } from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { RedisBackplane } from '../../lib/redis-backplane.js'
import { startServer, TEST_API_KEY, TestPeer, upgradeStatus, type TestServer } from '../helper.js'
import { requireProgram } from '../support/programs.js'
import { startRedis } from '../support/redis.js'

const auth = { authorization: `Bearer ${TEST_API_KEY}` }

async function nodes (t: Test, count: number, options: { keyPrefix?: string, nodeTtl?: number } = {}): Promise<TestServer[] | undefined> {
  const redis = await startRedis(t)
  if (redis === undefined) return undefined
  const servers: TestServer[] = []
  for (let i = 0; i < count; i++) servers.push(await startServer(t, { redis: { url: redis.url, keyPrefix: options.keyPrefix ?? 'test:', nodeTtl: options.nodeTtl ?? 2000 } }))
  return servers
}

// every test here starts its own redis-server: without one the whole file is skipped, with one line
if (requireProgram(t, 'redis-server') !== undefined) redisTests()

function redisTests (): void {
  t.test('a room created on node A is visible, listable, joinable and deletable on node B; tokens work on every node', async (t) => {
    const servers = await nodes(t, 2)
    if (servers === undefined) return
    const [a, b] = servers as [TestServer, TestServer]
    await a.createRoom({ roomId: 'shared', maxPeers: 3, metadata: { x: 1 } })
    t.match((await b.app.inject({ method: 'GET', url: '/rooms/shared', headers: auth })).json(), { roomId: 'shared', maxPeers: 3, metadata: { x: 1 }, peerCount: 0 })
    t.same((await b.app.inject({ method: 'GET', url: '/rooms', headers: auth })).json().rooms.map((r: { roomId: string }) => r.roomId), ['shared'])
    t.equal((await b.app.inject({ method: 'POST', url: '/rooms', headers: auth, payload: { roomId: 'shared' } })).json().code, 'ROOM_EXISTS')
    const token = await a.issueToken('shared', { peerId: 'p' })
    const { TestPeer } = await import('../helper.js')
    const peer = await TestPeer.connect(t, `${b.wsUrl}?token=${token.token}`)
    t.match(await peer.next('welcome'), { peerId: 'p', roomId: 'shared' })
    t.equal((await a.app.signalling.room('shared')).peerCount, 1, 'node A counts the peer on node B')
    t.equal((await b.app.inject({ method: 'DELETE', url: '/rooms/shared', headers: auth })).statusCode, 204)
    t.same(await peer.next('room-closed'), { type: 'room-closed', roomId: 'shared' })
    t.equal((await peer.closed).code, 4404)
    t.equal((await a.app.inject({ method: 'GET', url: '/rooms/shared', headers: auth })).statusCode, 404)
    const gone = await b.app.inject({ method: 'POST', url: '/rooms/shared/tokens', headers: auth, payload: {} })
    t.equal(gone.statusCode, 404, 'no token for a deleted room')
    t.equal(gone.json().code, 'ROOM_NOT_FOUND')
  })

  t.test('a room deleted on node B closes its peers on node A: room-closed, then 4404', async (t) => {
    const servers = await nodes(t, 2)
    if (servers === undefined) return
    const [a, b] = servers as [TestServer, TestServer]
    await a.createRoom({ roomId: 'gone' })
    const alice = await a.join('gone', 'alice')
    t.equal((await b.app.inject({ method: 'DELETE', url: '/rooms/gone', headers: auth })).statusCode, 204)
    t.same(await alice.next(undefined, 10_000), { type: 'room-closed', roomId: 'gone' })
    t.same(await alice.closed, { code: 4404, reason: 'room closed' })
    t.equal((await a.app.inject({ method: 'GET', url: '/rooms/gone', headers: auth })).statusCode, 404)
    t.same((a.app.signalling.relay.backplane as RedisBackplane).watchedRooms, [], 'node A let go of the room')
  })

  t.test('peers on two nodes see each other and relay every type both ways, in order', async (t) => {
    const servers = await nodes(t, 2)
    if (servers === undefined) return
    const [a, b] = servers as [TestServer, TestServer]
    await a.createRoom({ roomId: 'r' })
    const alice = await a.join('r', 'alice', { name: 'A' })
    const bob = await b.join('r', 'bob', { name: 'B' })
    t.same(bob.welcome?.peers, [{ peerId: 'alice', metadata: { name: 'A' } }], 'welcome lists the peer on the other node')
    t.same(await alice.next(), { type: 'peer-joined', peer: { peerId: 'bob', metadata: { name: 'B' } } })
    for (const type of ['offer', 'answer', 'candidate', 'bye', 'message']) {
      alice.send({ type, to: 'bob', data: { type, sdp: 'v=0 ✓' } })
      t.same(await bob.next(type), { type, from: 'alice', data: { type, sdp: 'v=0 ✓' } }, `${type} A → B`)
      bob.send({ type, to: 'alice', data: [type] })
      t.same(await alice.next(type), { type, from: 'bob', data: [type] }, `${type} B → A`)
    }
    alice.send({ type: 'message', data: 'to everyone' })
    t.same(await bob.next('message'), { type: 'message', from: 'alice', data: 'to everyone' }, 'broadcast crosses nodes')
    // within the per-peer burst allowance, so that none is rate limited
    for (let i = 0; i < 150; i++) alice.send({ type: 'candidate', to: 'bob', data: i })
    const got: unknown[] = []
    for (let i = 0; i < 150; i++) got.push((await bob.next('candidate')).data)
    t.same(got, [...Array(150).keys()], 'per-sender order is preserved across nodes')
    alice.send({ type: 'offer', to: 'nobody', data: 1, id: 'q' })
    t.same(await alice.next('error'), { type: 'error', code: 'PEER_NOT_FOUND', message: 'Peer nobody not found', id: 'q' }, 'PEER_NOT_FOUND across nodes')
    bob.send({ type: 'leave' })
    t.same(await alice.next('peer-left'), { type: 'peer-left', peerId: 'bob', reason: 'left' })
  })

  t.test('messages go only to the nodes that host the room\'s peers; a failed join leaves no subscription behind', async (t) => {
    const redis = await startRedis(t)
    if (redis === undefined) return
    const options = { redis: { url: redis.url, keyPrefix: 'test:', nodeTtl: 2000 } }
    const [a, b, c] = [await startServer(t, options), await startServer(t, options), await startServer(t, options)]
    // Redis's own count of subscribers, not only what the nodes believe
    const client = new Redis(redis.url)
    t.teardown(() => { client.disconnect() })
    const numsub = async (roomId: string): Promise<number> => Number((await client.call('PUBSUB', 'NUMSUB', `test:room:${roomId}`) as [string, number])[1])
    await a.createRoom({ roomId: 'ab' })
    await a.createRoom({ roomId: 'other' })
    const alice = await a.join('ab', 'alice')
    const bob = await b.join('ab', 'bob')
    await c.join('other', 'carol')
    const watched = (s: TestServer) => (s.app.signalling.relay.backplane as RedisBackplane).watchedRooms
    t.same(watched(a), ['ab'])
    t.same(watched(b), ['ab'])
    t.same(watched(c), ['other'], 'node C does not subscribe to a room it has no peers in')
    t.equal(await numsub('ab'), 2)
    t.equal(await numsub('other'), 1)
    alice.send({ type: 'message', to: 'bob', data: 'hi' })
    await bob.next('message')
    bob.send({ type: 'leave' })
    await alice.next('peer-left')
    await sleep(100)
    t.same(watched(b), [], 'node B unsubscribes when its last peer of the room leaves')
    t.equal(await numsub('ab'), 1, 'Redis counts only node A')

    // bob's session is over: resuming it on node C fails once no node hands it over
    const resumeToken = encodeURIComponent(bob.welcome?.resumeToken as string)
    const late = await TestPeer.connect(t, `${c.wsUrl}?token=${resumeToken}&lastSeq=${bob.lastSeq}`)
    t.equal((await late.next('error', 10_000)).code, 'SESSION_EXPIRED')
    t.equal((await late.closed).code, 4410)
    await sleep(100)
    t.same(watched(c), ['other'], 'node C let go of the room of the failed resume')
    t.equal(await numsub('ab'), 1, 'Redis still counts only node A')
  })

  t.test('a peer kicked through node A cannot come back on node B with the token it held', async (t) => {
    const servers = await nodes(t, 2)
    if (servers === undefined) return
    const [a, b] = servers as [TestServer, TestServer]
    await a.createRoom({ roomId: 'r' })
    const { token } = await a.issueToken('r', { peerId: 'bob' })
    const bob = await TestPeer.connect(t, `${b.wsUrl}?token=${token}`)
    await bob.next('welcome')
    t.equal((await a.app.inject({ method: 'DELETE', url: '/rooms/r/peers/bob', headers: auth })).statusCode, 204)
    t.same(await bob.closed, { code: 4403, reason: 'kicked' })
    const again = await upgradeStatus(`${b.wsUrl}?token=${token}`)
    t.equal(again.status, 401)
    t.match(JSON.parse(again.body), { code: 'UNAUTHORIZED', message: /removed from the room/ })
    // the kick goes with the room: a room created again under the same id starts with none
    t.equal((await b.app.inject({ method: 'DELETE', url: '/rooms/r', headers: auth })).statusCode, 204)
    await b.createRoom({ roomId: 'r' })
    t.equal(await b.app.signalling.relay.registry.kickedAt('r', 'bob'), undefined)
  })

  t.test('kick, replace and room expiry work across nodes', async (t) => {
    const servers = await nodes(t, 2)
    if (servers === undefined) return
    const [a, b] = servers as [TestServer, TestServer]
    await a.createRoom({ roomId: 'r', emptyTimeout: 1 })
    const alice = await a.join('r', 'alice')
    const bob = await b.join('r', 'bob')
    await alice.next('peer-joined')

    t.equal((await a.app.inject({ method: 'DELETE', url: '/rooms/r/peers/bob', headers: auth })).statusCode, 204, 'kick on A of a peer on B')
    t.same(await bob.closed, { code: 4403, reason: 'kicked' })
    t.same(await alice.next('peer-left'), { type: 'peer-left', peerId: 'bob', reason: 'kicked' })

    const alice2 = await b.join('r', 'alice', { again: true })
    t.same(await alice.closed, { code: 4409, reason: 'replaced' }, 'the same peerId on node B replaces the connection on node A')
    t.same(alice2.welcome?.peers, [])
    t.equal((await a.app.signalling.room('r')).peerCount, 1)

    alice2.send({ type: 'leave' })
    await alice2.closed
    await sleep(2000)
    t.equal((await a.app.inject({ method: 'GET', url: '/rooms/r', headers: auth })).statusCode, 404, 'the empty room expired on every node')
  })

  t.test('a replaced peer on another node is announced once: peer-left (replaced) then peer-joined', async (t) => {
    const servers = await nodes(t, 2)
    if (servers === undefined) return
    const [a, b] = servers as [TestServer, TestServer]
    await a.createRoom({ roomId: 'r' })
    const watcher = await a.join('r', 'w')
    const first = await a.join('r', 'x', { v: 1 })
    await watcher.next('peer-joined')
    await b.join('r', 'x', { v: 2 })
    t.same(await watcher.next(), { type: 'peer-left', peerId: 'x', reason: 'replaced' })
    t.same(await watcher.next(), { type: 'peer-joined', peer: { peerId: 'x', metadata: { v: 2 } } })
    t.equal((await first.closed).code, 4409)
    await watcher.settle()
    t.same(watcher.received, [], 'no further presence churn')
  })

  t.test('deployments with different key prefixes share one Redis without seeing each other', async (t) => {
    const redis = await startRedis(t)
    if (redis === undefined) return
    const one = await startServer(t, { redis: { url: redis.url, keyPrefix: 'one:' } })
    const two = await startServer(t, { redis: { url: redis.url, keyPrefix: 'two:' } })
    await one.createRoom({ roomId: 'same' })
    t.same(await two.app.signalling.rooms(), [])
    await two.createRoom({ roomId: 'same' })
    t.equal((await one.app.signalling.rooms()).length, 1)
  })
}
