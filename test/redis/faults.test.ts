// Faults with real processes: a node killed with SIGKILL, Redis killed and restarted mid-session.
import t, { type Test } from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { startServer, TEST_API_KEY, TEST_SECRET, TestPeer, upgradeStatus, type TestServer } from '../helper.js'
import { requireProgram } from '../support/programs.js'
import { startRedis } from '../support/redis.js'
import { killHard, startServerProcess } from '../support/server-process.js'

const auth = { authorization: `Bearer ${TEST_API_KEY}` }

/** A server node in its own process (the standalone entry), so that it can be killed for real. */
async function nodeProcess (t: Test, redisUrl: string): Promise<{ wsUrl: string, kill: () => Promise<void> }> {
  const node = startServerProcess(t, {
    SIGNALLING_API_KEY: TEST_API_KEY,
    SIGNALLING_JWT_SECRET: TEST_SECRET,
    REDIS_URL: redisUrl,
    REDIS_KEY_PREFIX: 'test:',
    REDIS_NODE_TTL: '2',
    DEMO: 'false'
  })
  const port = await node.listening
  return { wsUrl: `ws://127.0.0.1:${port}/ws`, kill: async () => { await killHard(node.child) } }
}

// every test here starts its own redis-server: without one the whole file is skipped, with one line
if (requireProgram(t, 'redis-server') !== undefined) redisTests()

function redisTests (): void {
  t.test('a node killed with SIGKILL: its peers are reported peer-left (disconnected) and the counts corrected', async (t) => {
    const redis = await startRedis(t)
    if (redis === undefined) return
    const a = await startServer(t, { redis: { url: redis.url, keyPrefix: 'test:', nodeTtl: 2000 } })
    const doomed = await nodeProcess(t, redis.url)
    await a.createRoom({ roomId: 'r' })
    const alice = await a.join('r', 'alice')
    for (const peerId of ['bob', 'carol']) {
      const { token } = await a.issueToken('r', { peerId })
      const peer = await TestPeer.connect(t, `${doomed.wsUrl}?token=${token}`)
      await peer.next('welcome')
    }
    await alice.next('peer-joined')
    await alice.next('peer-joined')
    t.equal((await a.app.signalling.room('r')).peerCount, 3)
    const killedAt = Date.now()
    await doomed.kill()
    const left = [await alice.next('peer-left', 15_000), await alice.next('peer-left', 15_000)]
    const seconds = (Date.now() - killedAt) / 1000
    t.same(left.map((m) => m.peerId).sort(), ['bob', 'carol'])
    t.ok(left.every((m) => m.reason === 'disconnected'), 'reason disconnected')
    t.comment(`peers of the killed node reported gone after ${seconds.toFixed(1)} s (node TTL 2 s)`)
    t.equal((await a.app.signalling.room('r')).peerCount, 1, 'the room counts only alice')
    alice.send({ type: 'offer', to: 'bob', data: 1 })
    t.equal((await alice.next('error')).code, 'PEER_NOT_FOUND')
  })

  t.test('Redis down: same-node relay works, cross-node gets BACKPLANE_UNAVAILABLE, /ready says so; Redis back: everything resumes without restart', async (t) => {
    const redis = await startRedis(t)
    if (redis === undefined) return
    const options = { redis: { url: redis.url, keyPrefix: 'test:', nodeTtl: 2000 } }
    const a: TestServer = await startServer(t, options)
    const b: TestServer = await startServer(t, options)
    await a.createRoom({ roomId: 'r', maxPeers: 5, metadata: { keep: true } })
    const alice = await a.join('r', 'alice')
    const amy = await a.join('r', 'amy')
    const bob = await b.join('r', 'bob')
    await alice.next('peer-joined')
    await alice.next('peer-joined')
    t.match((await a.app.inject({ url: '/ready' })).json(), { status: 'ready', backplane: 'up' })

    const late = await b.issueToken('r', { peerId: 'late' })
    await redis.kill()
    await sleep(300)
    const refusedJoin = await upgradeStatus(`${a.wsUrl}?token=${late.token}`)
    t.equal(refusedJoin.status, 503, 'a join while Redis is down is refused before the upgrade')
    t.equal(JSON.parse(refusedJoin.body).code, 'BACKPLANE_UNAVAILABLE')
    const ready = await a.app.inject({ url: '/ready' })
    t.equal(ready.statusCode, 503)
    t.match(ready.json(), { status: 'degraded', backplane: 'down' })
    t.equal((await a.app.inject({ url: '/health' })).statusCode, 200, 'the process is still alive')

    alice.send({ type: 'offer', to: 'amy', data: 'same node' })
    t.same(await amy.next('offer'), { type: 'offer', from: 'alice', data: 'same node' }, 'same-node relay keeps working')
    alice.send({ type: 'offer', to: 'bob', data: 'other node', id: 'x1' })
    t.same(await alice.next('error'), { type: 'error', code: 'BACKPLANE_UNAVAILABLE', message: 'Backplane unavailable: the peer is on another node', id: 'x1' })
    for (let i = 0; i < 1000; i++) alice.send({ type: 'candidate', to: 'bob', data: i })
    const codes: Record<string, number> = {}
    for (let i = 0; i < 1000; i++) {
      const { code } = await alice.next('error')
      codes[code as string] = (codes[code as string] ?? 0) + 1
    }
    t.comment(`1000 messages for another node while Redis was down: ${JSON.stringify(codes)}`)
    t.equal((codes.BACKPLANE_UNAVAILABLE ?? 0) + (codes.RATE_LIMITED ?? 0), 1000, 'every message was answered (BACKPLANE_UNAVAILABLE, or RATE_LIMITED past the burst), none queued')
    t.ok((codes.BACKPLANE_UNAVAILABLE ?? 0) >= 190, 'the burst allowance all got BACKPLANE_UNAVAILABLE')
    await t.rejects(a.app.signalling.issueToken('r', { peerId: 'late' }), { code: 'BACKPLANE_UNAVAILABLE', statusCode: 503 }, 'issuing a token needs the room store')
    const token = await a.app.inject({ method: 'POST', url: '/rooms/r/tokens', headers: auth, payload: { peerId: 'late' } })
    t.equal(token.statusCode, 503, 'the token route too')
    t.equal(token.json().code, 'BACKPLANE_UNAVAILABLE')
    const rooms = await a.app.inject({ method: 'GET', url: '/rooms', headers: auth })
    t.equal(rooms.statusCode, 503, 'REST answers 503 while Redis is down')
    t.equal(rooms.json().code, 'BACKPLANE_UNAVAILABLE')

    await redis.restart()
    const backAt = Date.now()
    for (let i = 0; i < 100 && (await a.app.inject({ url: '/ready' })).statusCode !== 200; i++) await sleep(100)
    for (let i = 0; i < 100 && (await b.app.inject({ url: '/ready' })).statusCode !== 200; i++) await sleep(100)
    t.equal((await a.app.inject({ url: '/ready' })).statusCode, 200, 'node A ready again')
    t.equal((await b.app.inject({ url: '/ready' })).statusCode, 200, 'node B ready again')
    let room: Record<string, unknown> | undefined
    for (let i = 0; i < 50; i++) {
      const res = await b.app.inject({ method: 'GET', url: '/rooms/r', headers: auth })
      if (res.statusCode === 200 && res.json().peerCount === 3) { room = res.json(); break }
      await sleep(100)
    }
    t.comment(`rooms resynchronised ${((Date.now() - backAt) / 1000).toFixed(1)} s after Redis came back (empty)`)
    t.match(room, { roomId: 'r', maxPeers: 5, metadata: { keep: true }, peerCount: 3 }, 'the room and its peers are back in the new, empty Redis')
    alice.send({ type: 'offer', to: 'bob', data: 'after' })
    t.same(await bob.next('offer'), { type: 'offer', from: 'alice', data: 'after' }, 'cross-node relay works again')
    bob.send({ type: 'answer', to: 'alice', data: 'back' })
    t.same(await alice.next('answer'), { type: 'answer', from: 'bob', data: 'back' })
    await alice.settle()
    t.notOk(alice.received.some((m) => m.type === 'peer-left' || m.type === 'peer-joined'), 'no presence churn for peers that never left')
  })
}
