// Two server nodes on one real Redis: messages from the backend and metadata updates reach the peers of both.
import t, { type Test } from 'tap'
import { joinClaims } from '../../lib/join-token.js'
import { Relay } from '../../lib/relay.js'
import { RelaySocket } from '../../lib/relay-socket.js'
import { RedisBackplane } from '../../lib/redis-backplane.js'
import type { PeerSummary } from '../../lib/schemas.js'
import { startServer, TEST_API_KEY, TestPeer, type TestServer } from '../helper.js'
import { requireProgram } from '../support/programs.js'
import { startRedis, type RedisProcess } from '../support/redis.js'

const auth = { authorization: `Bearer ${TEST_API_KEY}` }

async function twoNodes (t: Test): Promise<{ a: TestServer, b: TestServer, redis: RedisProcess } | undefined> {
  const redis = await startRedis(t)
  if (redis === undefined) return undefined
  const options = { redis: { url: redis.url, keyPrefix: 'test:', nodeTtl: 2000 }, resume: { grace: 5000 } }
  return { a: await startServer(t, options), b: await startServer(t, options), redis }
}

const metadataOf = async (server: TestServer, peerId: string): Promise<unknown> =>
  (await server.app.signalling.room('r')).peers.find((p) => p.peerId === peerId)?.metadata

if (requireProgram(t, 'redis-server') !== undefined) redisTests()

function redisTests (): void {
  t.test('a message from the backend reaches one peer or every peer, on both nodes, sent from either', async (t) => {
    const nodes = await twoNodes(t)
    if (nodes === undefined) return
    const { a, b } = nodes
    await a.createRoom({ roomId: 'r' })
    const alice = await a.join('r', 'alice')
    const bob = await b.join('r', 'bob')
    await alice.next('peer-joined')

    const toBob = await a.app.inject({ method: 'POST', url: '/rooms/r/messages', headers: auth, payload: { to: 'bob', data: { from: 'A' } } })
    t.equal(toBob.statusCode, 202)
    t.same(await bob.next('message'), { type: 'message', from: '@server', data: { from: 'A' } }, 'node A to a peer on node B')
    await b.app.signalling.send('r', 'from B', { to: 'alice' })
    t.same(await alice.next('message'), { type: 'message', from: '@server', data: 'from B' }, 'node B to a peer on node A')
    for (const [server, name] of [[a, 'A'], [b, 'B']] as const) {
      t.equal((await server.app.inject({ method: 'POST', url: '/rooms/r/messages', headers: auth, payload: { data: `all from ${name}` } })).statusCode, 202)
      t.same(await alice.next('message'), { type: 'message', from: '@server', data: `all from ${name}` })
      t.same(await bob.next('message'), { type: 'message', from: '@server', data: `all from ${name}` })
    }
    const nobody = await b.app.inject({ method: 'POST', url: '/rooms/r/messages', headers: auth, payload: { to: 'nobody', data: 1 } })
    t.equal(nobody.statusCode, 404)
    t.equal(nobody.json().code, 'PEER_NOT_FOUND', 'a peer in the room on no node')

    // a peer on one node cannot pass as the backend to a peer on the other
    alice.send({ type: 'message', to: 'bob', data: 'x', from: '@server' })
    t.same(await bob.next('message'), { type: 'message', from: 'alice', data: 'x' })
  })

  t.test('PATCH on one node: peers on both are told, both nodes show it, and the session keeps it when it moves', async (t) => {
    const nodes = await twoNodes(t)
    if (nodes === undefined) return
    const { a, b } = nodes
    await a.createRoom({ roomId: 'r' })
    const alice = await a.join('r', 'alice')
    const bob = await b.join('r', 'bob', { name: 'Bob' })
    await alice.next('peer-joined')

    const metadata = { name: 'Robert', tags: [], nested: { list: [1, 'two', null], empty: {} }, n: 1.5 }
    const res = await a.app.inject({ method: 'PATCH', url: '/rooms/r/peers/bob', headers: auth, payload: { metadata } })
    t.equal(res.statusCode, 200)
    const peer = res.json() as PeerSummary
    t.same(peer.metadata, metadata)
    const told = { type: 'peer-updated', peer }
    t.same(await alice.next('peer-updated'), told, 'the peer on the node of the request')
    t.same(await bob.next('peer-updated'), told, 'the updated peer, on the other node')
    t.same(await metadataOf(a, 'bob'), metadata, 'node A shows it, [] and {} as they were')
    t.same(await metadataOf(b, 'bob'), metadata, 'node B shows it')

    // bob's connection drops; it resumes on node A, which takes the session over from node B
    bob.socket.terminate()
    await bob.closed
    const moved = await TestPeer.connect(t, `${a.wsUrl}?token=${encodeURIComponent(bob.welcome?.resumeToken as string)}&lastSeq=${bob.lastSeq}`, {}, bob.lastSeq)
    const welcome = await moved.next('welcome', 10_000)
    t.equal(welcome.resumed, true)
    t.same(a.app.signalling.verifyToken(welcome.resumeToken as string).metadata, metadata, 'node A resumed the session with the new metadata')
    t.same(await metadataOf(b, 'bob'), metadata)
    await alice.settle()
    t.same(alice.received.filter((m) => m.type === 'peer-left' || m.type === 'peer-joined'), [], 'no churn')

    const nobody = await b.app.inject({ method: 'PATCH', url: '/rooms/r/peers/nobody', headers: auth, payload: { metadata: {} } })
    t.equal(nobody.json().code, 'PEER_NOT_FOUND')
    const noRoom = await b.app.inject({ method: 'PATCH', url: '/rooms/gone/peers/bob', headers: auth, payload: { metadata: {} } })
    t.equal(noRoom.json().code, 'ROOM_NOT_FOUND')
  })

  t.test('a peer\'s own update on one node reaches the other; without the claim it is refused; the right moves with the session', async (t) => {
    const nodes = await twoNodes(t)
    if (nodes === undefined) return
    const { a, b } = nodes
    await a.createRoom({ roomId: 'r' })
    const alice = await a.join('r', 'alice')
    alice.send({ type: 'update-metadata', metadata: { name: 'A' }, id: 1 })
    t.same(await alice.next('error'), { type: 'error', code: 'FORBIDDEN', message: 'Forbidden: this peer\'s join token does not allow it to update its metadata', id: 1 })
    const { token } = await a.issueToken('r', { peerId: 'bob', canUpdateMetadata: true })
    const bob = await TestPeer.connect(t, `${b.wsUrl}?token=${token}`)
    bob.welcome = await bob.next('welcome')
    await alice.next('peer-joined')
    bob.send({ type: 'update-metadata', metadata: { name: 'B' } })
    t.same(((await alice.next('peer-updated')).peer as PeerSummary).metadata, { name: 'B' }, 'across nodes')
    t.same(((await bob.next('peer-updated')).peer as PeerSummary).metadata, { name: 'B' })
    t.same(await metadataOf(a, 'bob'), { name: 'B' })

    bob.socket.terminate()
    await bob.closed
    const moved = await TestPeer.connect(t, `${a.wsUrl}?token=${encodeURIComponent(bob.welcome.resumeToken as string)}&lastSeq=${bob.lastSeq}`, {}, bob.lastSeq)
    t.equal((await moved.next('welcome', 10_000)).resumed, true)
    moved.send({ type: 'update-metadata', metadata: { name: 'B on A' } })
    t.same(((await alice.next('peer-updated')).peer as PeerSummary).metadata, { name: 'B on A' }, 'the session handed to node A keeps its right')
  })

  t.test('with Redis gone, messages and updates answer BACKPLANE_UNAVAILABLE', async (t) => {
    const nodes = await twoNodes(t)
    if (nodes === undefined) return
    const { a, redis } = nodes
    await a.createRoom({ roomId: 'r' })
    await a.join('r', 'alice')
    await redis.kill()
    const message = await a.app.inject({ method: 'POST', url: '/rooms/r/messages', headers: auth, payload: { data: 1 } })
    t.equal(message.statusCode, 503)
    t.equal(message.json().code, 'BACKPLANE_UNAVAILABLE')
    const update = await a.app.inject({ method: 'PATCH', url: '/rooms/r/peers/alice', headers: auth, payload: { metadata: { x: 1 } } })
    t.equal(update.statusCode, 503)
    t.equal(update.json().code, 'BACKPLANE_UNAVAILABLE')
  })

  t.test('an update fires `updated` once, on the node where it was made, not on the node of the peer', async (t) => {
    const redis = await startRedis(t)
    if (redis === undefined) return
    const updated: string[] = []
    const node = async (name: string): Promise<Relay> => {
      const backplane = new RedisBackplane({ url: redis.url, keyPrefix: 'ev:', nodeTtl: 2000 })
      await backplane.start()
      const relay = new Relay({
        registry: backplane,
        backplane,
        heartbeatInterval: 0,
        events: { joined () {}, left () {}, updated: (roomId, peer) => updated.push(`${name} ${roomId} ${peer.peerId} ${JSON.stringify(peer.metadata)}`) }
      })
      t.teardown(async () => { await relay.close() })
      return relay
    }
    const [a, b] = [await node('A'), await node('B')]
    await a.registry.create({ roomId: 'r', maxPeers: 4, emptyTimeout: 60, metadata: {}, createdAt: new Date(Date.now() - 10_000).toISOString() })
    const frames: any[] = []
    const socket = new RelaySocket({ frame: (text) => frames.push(JSON.parse(text)), closed: () => {} })
    b.connect(socket.asWebSocket, joinClaims('r', 'bob', 60, {}, Date.now(), undefined, true))
    const deadline = Date.now() + 5000
    while (!frames.some((f) => f.type === 'welcome') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10))
    await a.updatePeer('r', 'bob', { by: 'A' })
    while (!frames.some((f) => f.type === 'peer-updated') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10))
    socket.receive('{"type":"update-metadata","metadata":{"by":"bob"}}')
    while (frames.filter((f) => f.type === 'peer-updated').length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10))
    t.same(frames.filter((f) => f.type === 'peer-updated').map((f) => f.peer.metadata), [{ by: 'A' }, { by: 'bob' }])
    t.same(updated, ['A r bob {"by":"A"}', 'B r bob {"by":"bob"}'], 'once each, where each was made')
  })
}
