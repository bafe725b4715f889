// Server nodes on a real Redis Cluster (3 masters, 3 replicas): rooms over many slots, the cross-node rules, a master
// killed (SIGKILL) and its replica promoted in the middle of a session.
import t, { type Test } from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { RedisBackplane } from '../../lib/redis-backplane.js'
import { startServer, TEST_API_KEY, TEST_SECRET, TestPeer, type TestServer } from '../helper.js'
import { requireProgram } from '../support/programs.js'
import { startRedisCluster, untilRelayBack } from '../support/redis-cluster.js'
import { killHard, startServerProcess } from '../support/server-process.js'

const auth = { authorization: `Bearer ${TEST_API_KEY}` }

// the cluster takes a few seconds to form: one cluster for the file, each test under its own key prefix
if (requireProgram(t, 'redis-server') !== undefined && requireProgram(t, 'redis-cli', 'apt-get install redis-tools') !== undefined) await clusterTests()

async function clusterTests (): Promise<void> {
  const cluster = await startRedisCluster(t)
  if (cluster === undefined) return
  const nodesOf = async (t: Test, count: number, keyPrefix: string): Promise<TestServer[]> => {
    const servers: TestServer[] = []
    for (let i = 0; i < count; i++) servers.push(await startServer(t, { redis: { cluster: { nodes: cluster.seeds.slice(0, 2) }, keyPrefix, nodeTtl: 2000, commandTimeout: 1000 } }))
    return servers
  }

  t.test('rooms over many slots: visible and listed on every node, joined, relayed and announced across nodes', async (t) => {
    const [a, b, c] = await nodesOf(t, 3, 'spread:') as [TestServer, TestServer, TestServer]
    const ids = [...Array(12).keys()].map((i) => `room-${i}`)
    const probe = new Redis(cluster.nodes[0]!.port, '127.0.0.1')
    t.teardown(() => { probe.disconnect() })
    const slots = new Set(await Promise.all(ids.map(async (id) => await probe.call('CLUSTER', 'KEYSLOT', `spread:room:{${id}}`))))
    t.ok(slots.size >= 10, 'the rooms fall in different slots')
    const masters = new Set(await Promise.all(ids.map(async (id) => (await cluster.masterOf(`spread:room:{${id}}`)).port)))
    t.equal(masters.size, 3, 'the rooms are spread over the three masters')
    for (const id of ids) await a.createRoom({ roomId: id, metadata: { id } })
    t.same((await b.app.signalling.rooms()).map((r) => r.roomId).sort(), [...ids].sort(), 'node B lists every room')
    t.equal((await c.app.inject({ method: 'POST', url: '/rooms', headers: auth, payload: { roomId: 'room-3' } })).json().code, 'ROOM_EXISTS')
    for (const id of ids) {
      const alice = await a.join(id, 'alice', { on: 'a' })
      const bob = await b.join(id, 'bob', { on: 'b' })
      t.same(bob.welcome?.peers, [{ peerId: 'alice', metadata: { on: 'a' } }], `${id}: welcome lists the peer on the other node`)
      t.same(await alice.next('peer-joined'), { type: 'peer-joined', peer: { peerId: 'bob', metadata: { on: 'b' } } })
      alice.send({ type: 'offer', to: 'bob', data: { sdp: id } })
      t.same(await bob.next('offer'), { type: 'offer', from: 'alice', data: { sdp: id } }, `${id}: offer A → B`)
      bob.send({ type: 'answer', to: 'alice', data: { sdp: id } })
      t.same(await alice.next('answer'), { type: 'answer', from: 'bob', data: { sdp: id } }, `${id}: answer B → A`)
    }
    const carol = await c.join('room-0', 'carol')
    const [alice0] = await Promise.all([a.join('room-0', 'alice2')])
    carol.send({ type: 'message', data: 'all' })
    t.same(await alice0.next('message'), { type: 'message', from: 'carol', data: 'all' }, 'broadcast from a third node')
    alice0.send({ type: 'offer', to: 'nobody', data: 1, id: 'q' })
    t.same(await alice0.next('error'), { type: 'error', code: 'PEER_NOT_FOUND', message: 'Peer nobody not found', id: 'q' })
    // sharded pub/sub: the room's channel lives on its own master only
    const owner = await cluster.masterOf('spread:room:{room-0}')
    t.equal(Number((await owner.cli('PUBSUB', 'SHARDNUMSUB', 'spread:room:{room-0}')).split('\n')[1]), 3, 'three nodes subscribed on the room\'s shard')
    t.equal((a.app.signalling.relay.backplane as RedisBackplane).watchedRooms.length, 12)
  })

  t.test('kick, delete and expiry across nodes on the cluster', async (t) => {
    const [a, b] = await nodesOf(t, 2, 'rules:') as [TestServer, TestServer]
    await a.createRoom({ roomId: 'k' })
    await a.createRoom({ roomId: 'gone' })
    await a.createRoom({ roomId: 'brief', emptyTimeout: 1 })
    const alice = await a.join('k', 'alice')
    const bob = await b.join('k', 'bob')
    await alice.next('peer-joined')
    t.equal((await a.app.inject({ method: 'DELETE', url: '/rooms/k/peers/bob', headers: auth })).statusCode, 204, 'kick on A of a peer on B')
    t.same(await bob.closed, { code: 4403, reason: 'kicked' })
    t.same(await alice.next('peer-left'), { type: 'peer-left', peerId: 'bob', reason: 'kicked' })
    const carol = await a.join('gone', 'carol')
    t.equal((await b.app.inject({ method: 'DELETE', url: '/rooms/gone', headers: auth })).statusCode, 204)
    t.same(await carol.next('room-closed', 10_000), { type: 'room-closed', roomId: 'gone' })
    t.equal((await carol.closed).code, 4404)
    const dave = await b.join('brief', 'dave')
    dave.send({ type: 'leave' })
    await dave.closed
    await sleep(2000)
    t.equal((await a.app.inject({ method: 'GET', url: '/rooms/brief', headers: auth })).statusCode, 404, 'the empty room expired')
    t.notOk((await a.app.signalling.rooms()).some((r) => r.roomId === 'brief' || r.roomId === 'gone'))
  })

  t.test('a node killed with SIGKILL: its peers in rooms on every shard are reported gone (settings from the environment)', async (t) => {
    const [a] = await nodesOf(t, 1, 'reap:') as [TestServer]
    const doomed = startServerProcess(t, {
      SIGNALLING_API_KEY: TEST_API_KEY,
      SIGNALLING_JWT_SECRET: TEST_SECRET,
      REDIS_CLUSTER_NODES: cluster.seeds.slice(2, 4).join(','),
      REDIS_KEY_PREFIX: 'reap:',
      REDIS_NODE_TTL: '2',
      DEMO: 'false'
    })
    const port = await doomed.listening
    const watchers: TestPeer[] = []
    for (const id of ['r1', 'r2', 'r3', 'r4']) {
      await a.createRoom({ roomId: id })
      watchers.push(await a.join(id, 'alice'))
      const { token } = await a.issueToken(id, { peerId: 'bob' })
      const bob = await TestPeer.connect(t, `ws://127.0.0.1:${port}/ws?token=${token}`)
      await bob.next('welcome')
    }
    for (const alice of watchers) await alice.next('peer-joined')
    await killHard(doomed.child)
    for (const alice of watchers) t.same(await alice.next('peer-left', 10_000), { type: 'peer-left', peerId: 'bob', reason: 'disconnected' })
    for (const id of ['r1', 'r2', 'r3', 'r4']) t.equal((await a.app.signalling.room(id)).peerCount, 1, `${id}: counted again`)
  })

  t.test('a master killed mid-session: its replica takes over, same-node relay never stops, cross-node relay and the room come back', async (t) => {
    const [a, b] = await nodesOf(t, 2, 'failover:') as [TestServer, TestServer]
    await a.createRoom({ roomId: 'f' })
    const alice = await a.join('f', 'alice')
    const amy = await a.join('f', 'amy')
    const bob = await b.join('f', 'bob')
    await alice.next('peer-joined')
    await alice.next('peer-joined')
    const victim = await cluster.masterOf('failover:room:{f}')
    // the replica has every write first: a write in the master's last moments can be lost (asynchronous replication)
    await victim.cli('WAIT', '1', '5000')
    const killedAt = Date.now()
    await victim.kill()
    // same node: through the local rooms, Redis is not involved
    for (let i = 0; i < 5; i++) {
      alice.send({ type: 'message', to: 'amy', data: i })
      t.same(await amy.next('message'), { type: 'message', from: 'alice', data: i }, `same-node frame ${i} while the master is down`)
    }
    // cross node: each frame either fails with BACKPLANE_UNAVAILABLE or arrives; until one arrives after the failover
    const { back, refused } = await untilRelayBack(t, alice, bob, 'bob', killedAt)
    t.ok(back >= 0, 'cross-node relay came back')
    t.ok(refused > 0, 'frames sent while the shard was down were refused with BACKPLANE_UNAVAILABLE, not dropped silently')
    t.comment(`cross-node relay back ${back} ms after the master was killed (${refused} frames refused meanwhile)`)
    await cluster.healthy()
    // the room and its peers, as after any outage
    await waitFor(async () => (await b.app.signalling.room('f')).peerCount === 3)
    t.equal((await b.app.signalling.room('f')).peerCount, 3, 'the room has its three peers on the promoted replica')
    bob.send({ type: 'offer', to: 'amy', data: 'after' })
    t.same(await amy.next('offer', 10_000), { type: 'offer', from: 'bob', data: 'after' }, 'B → A after the failover')
    const late = await b.join('f', 'zoe')
    t.same((late.welcome?.peers as Array<{ peerId: string }>).map((p) => p.peerId).sort(), ['alice', 'amy', 'bob'], 'a newcomer sees every peer')
    // announced once: the peers the resync put back are not news to their neighbours
    t.same(await alice.next('peer-joined', 10_000), { type: 'peer-joined', peer: { peerId: 'zoe', metadata: {} } })
    await settleAll([alice, amy, bob])
  })
}

async function waitFor (check: () => Promise<boolean>, timeout = 15_000): Promise<void> {
  const deadline = Date.now() + timeout
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return
    await sleep(100)
  }
}

async function settleAll (peers: TestPeer[]): Promise<void> {
  await Promise.all(peers.map(async (peer) => await peer.settle()))
}
