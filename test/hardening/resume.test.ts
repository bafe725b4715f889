// Resume after a network drop: on the same node, refused past the bounds, and on another node over Redis.
import t, { type Test } from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import WebSocket from 'ws'
import { SignallingClient } from '../../client/index.js'
import type { RedisBackplane } from '../../lib/redis-backplane.js'
import { startServer, TestPeer, type TestServer } from '../helper.js'
import { startRedis } from '../support/redis.js'

async function resume (t: Test, server: TestServer, peer: TestPeer, lastSeq = peer.lastSeq): Promise<TestPeer> {
  const token = peer.welcome?.resumeToken as string
  const resumed = await TestPeer.connect(t, `${server.wsUrl}?token=${encodeURIComponent(token)}&lastSeq=${lastSeq}`, {}, lastSeq)
  resumed.welcome = await resumed.next('welcome')
  return resumed
}

t.test('a dropped peer resumes with every missed message, in order, and the others see no churn', async (t) => {
  const server = await startServer(t)
  await server.createRoom({ roomId: 'r' })
  const alice = await server.join('r', 'alice')
  const bob = await server.join('r', 'bob')
  await alice.next('peer-joined')
  bob.send({ type: 'offer', to: 'alice', data: 'before' })
  await alice.next('offer')
  const seen = alice.lastSeq
  alice.socket.terminate()
  await sleep(100)
  for (let i = 0; i < 5; i++) bob.send({ type: 'candidate', to: 'alice', data: i })
  bob.send({ type: 'message', data: 'to all' })
  await bob.settle()

  const back = await resume(t, server, alice)
  t.equal(back.welcome?.resumed, true)
  t.same(back.welcome?.peers, [{ peerId: 'bob', metadata: {} }])
  for (let i = 0; i < 5; i++) t.same(await back.next(), { type: 'candidate', from: 'bob', data: i }, `missed candidate ${i}`)
  t.same(await back.next(), { type: 'message', from: 'bob', data: 'to all' })
  t.equal(back.lastSeq, seen + 6, 'numbering goes on where it stopped')
  t.same(back.seqGaps, [], 'no gap and no duplicate')
  bob.send({ type: 'answer', to: 'alice', data: 'live' })
  t.same(await back.next('answer'), { type: 'answer', from: 'bob', data: 'live' })
  await bob.settle()
  t.notOk(bob.received.some((m) => m.type === 'peer-left' || m.type === 'peer-joined'), 'bob saw no peer-left or peer-joined')
  t.equal((await server.app.signalling.room('r')).peerCount, 2)
})

t.test('frames lost in flight before the drop are replayed too (lastSeq older than the last one sent)', async (t) => {
  const server = await startServer(t)
  await server.createRoom({ roomId: 'r' })
  const alice = await server.join('r', 'alice')
  const bob = await server.join('r', 'bob')
  await alice.next('peer-joined')
  for (let i = 0; i < 3; i++) bob.send({ type: 'candidate', to: 'alice', data: i })
  for (let i = 0; i < 3; i++) await alice.next('candidate')
  alice.socket.terminate()
  await sleep(100)
  const back = await resume(t, server, alice, alice.lastSeq - 2)
  t.same(await back.next(), { type: 'candidate', from: 'bob', data: 1 })
  t.same(await back.next(), { type: 'candidate', from: 'bob', data: 2 })
})

t.test('the join token also resumes; a replaced old socket that is still open is closed with 4409', async (t) => {
  const server = await startServer(t)
  await server.createRoom({ roomId: 'r' })
  const { token } = await server.issueToken('r', { peerId: 'alice' })
  const first = await TestPeer.connect(t, `${server.wsUrl}?token=${token}`)
  await first.next('welcome')
  const again = await TestPeer.connect(t, `${server.wsUrl}?token=${token}&lastSeq=0`)
  t.match(await again.next('welcome'), { resumed: true })
  t.equal((await first.closed).code, 4409)
})

t.test('past the grace period the peer is reported gone and a resume token is refused with 4410', async (t) => {
  const server = await startServer(t, { resume: { grace: 300 } })
  await server.createRoom({ roomId: 'r' })
  const alice = await server.join('r', 'alice')
  const bob = await server.join('r', 'bob')
  alice.socket.terminate()
  t.same(await bob.next('peer-left', 3000), { type: 'peer-left', peerId: 'alice', reason: 'disconnected' })
  const late = await TestPeer.connect(t, `${server.wsUrl}?token=${alice.welcome?.resumeToken as string}&lastSeq=${alice.lastSeq}`)
  t.match(await late.next('error'), { code: 'SESSION_EXPIRED' })
  t.equal((await late.closed).code, 4410)
  const { token } = await server.issueToken('r', { peerId: 'alice' })
  const fresh = await TestPeer.connect(t, `${server.wsUrl}?token=${token}&lastSeq=${alice.lastSeq}`)
  t.match(await fresh.next('welcome'), { resumed: false }, 'with a join token the client starts over')
  t.same(await bob.next('peer-joined'), { type: 'peer-joined', peer: { peerId: 'alice', metadata: {} } })
})

t.test('past the buffer bounds the resume is refused and the peer leaves at once', async (t) => {
  const server = await startServer(t, { resume: { grace: 60_000, maxMessages: 5 } })
  await server.createRoom({ roomId: 'r' })
  const alice = await server.join('r', 'alice')
  const bob = await server.join('r', 'bob')
  alice.socket.terminate()
  await sleep(100)
  for (let i = 0; i < 10; i++) bob.send({ type: 'candidate', to: 'alice', data: i })
  t.same(await bob.next('peer-left'), { type: 'peer-left', peerId: 'alice', reason: 'disconnected' })
  const late = await TestPeer.connect(t, `${server.wsUrl}?token=${alice.welcome?.resumeToken as string}&lastSeq=${alice.lastSeq}`)
  t.equal((await late.closed).code, 4410)
})

t.test('a resume token cannot join afresh, and needs lastSeq', async (t) => {
  const server = await startServer(t)
  await server.createRoom({ roomId: 'r' })
  const alice = await server.join('r', 'alice')
  const { upgradeStatus } = await import('../helper.js')
  const res = await upgradeStatus(`${server.wsUrl}?token=${alice.welcome?.resumeToken as string}`)
  t.equal(res.status, 401)
  t.match(JSON.parse(res.body).message, /send lastSeq/)
})

t.test('the client SDK resumes by itself after a drop', async (t) => {
  const server = await startServer(t)
  await server.createRoom({ roomId: 'r' })
  const bob = await server.join('r', 'bob')
  const { token } = await server.issueToken('r', { peerId: 'alice' })
  const sockets: WebSocket[] = []
  class Tracked extends WebSocket {
    constructor (url: string) {
      super(url)
      sockets.push(this)
    }
  }
  const client = new SignallingClient({ url: server.wsUrl, token, WebSocket: Tracked as unknown as typeof WebSocket, reconnect: { initialDelay: 50, maxDelay: 200 } })
  t.teardown(async () => { await client.close() })
  const received: unknown[] = []
  client.on('candidate', (m) => received.push(m.data))
  const welcomes: boolean[] = []
  client.on('welcome', (w) => welcomes.push(w.resumed === true))
  await client.connect()
  await bob.next('peer-joined')
  bob.send({ type: 'candidate', to: 'alice', data: 'one' })
  for (let i = 0; i < 50 && received.length < 1; i++) await sleep(20)
  sockets[0]!.terminate()
  await sleep(20)
  bob.send({ type: 'candidate', to: 'alice', data: 'two' })
  bob.send({ type: 'candidate', to: 'alice', data: 'three' })
  for (let i = 0; i < 100 && received.length < 3; i++) await sleep(20)
  t.same(received, ['one', 'two', 'three'], 'nothing lost, nothing doubled')
  t.same(welcomes, [false, true], 'the second welcome is a resume')
  await bob.settle()
  t.notOk(bob.received.some((m) => m.type === 'peer-left'), 'bob saw no churn')
})

t.test('with Redis, a peer dropped on node A resumes on node B', async (t) => {
  const redis = await startRedis(t)
  if (redis === undefined) return
  const options = { redis: { url: redis.url, keyPrefix: 'resume:', nodeTtl: 2000 } }
  const a = await startServer(t, options)
  const b = await startServer(t, options)
  await a.createRoom({ roomId: 'r' })
  const alice = await a.join('r', 'alice')
  const bob = await b.join('r', 'bob')
  await alice.next('peer-joined')
  alice.socket.terminate()
  await sleep(100)
  for (let i = 0; i < 20; i++) bob.send({ type: 'candidate', to: 'alice', data: i })
  await bob.settle()
  const back = await resume(t, b, alice)
  t.equal(back.welcome?.resumed, true)
  for (let i = 0; i < 20; i++) t.same((await back.next('candidate')).data, i)
  t.same(back.seqGaps, [], 'no gap and no duplicate')
  bob.send({ type: 'answer', to: 'alice', data: 'live' })
  t.same(await back.next('answer'), { type: 'answer', from: 'bob', data: 'live' })
  await bob.settle()
  t.notOk(bob.received.some((m) => m.type === 'peer-left' || m.type === 'peer-joined'), 'bob saw no churn')
  t.same((a.app.signalling.relay.backplane as RedisBackplane).watchedRooms, [], 'node A let go of the room')
  t.equal((await a.app.signalling.room('r')).peerCount, 2)
})

t.test('draining one node of two: its peers get 1012 and resume on the other with nothing lost', async (t) => {
  const redis = await startRedis(t)
  if (redis === undefined) return
  const options = { redis: { url: redis.url, keyPrefix: 'drain:', nodeTtl: 2000 }, drainTimeout: 5000 }
  const a = await startServer(t, options)
  const b = await startServer(t, options)
  await a.createRoom({ roomId: 'r' })
  const alice = await a.join('r', 'alice')
  const bob = await b.join('r', 'bob')
  await alice.next('peer-joined')
  const closing = a.app.close()
  t.equal((await alice.closed).code, 1012, 'service restart')
  bob.send({ type: 'offer', to: 'alice', data: 'while moving' })
  const back = await resume(t, b, alice)
  t.equal(back.welcome?.resumed, true)
  t.same(await back.next('offer'), { type: 'offer', from: 'bob', data: 'while moving' })
  await closing
  t.comment('node A finished closing once its peer had moved')
  bob.send({ type: 'answer', to: 'alice', data: 'after' })
  t.same(await back.next('answer'), { type: 'answer', from: 'bob', data: 'after' })
  await bob.settle()
  t.notOk(bob.received.some((m) => m.type === 'peer-left' || m.type === 'peer-joined'), 'bob saw no churn')
})
