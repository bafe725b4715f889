// Resume after a network drop: on the same node, refused past the bounds, and on another node over Redis.
import t, { type Test } from 'tap'
import { performance } from 'node:perf_hooks'
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

/** The value of an unlabelled series in the server's /metrics text. */
async function metric (t: Test, server: TestServer, name: string): Promise<number> {
  const res = await fetch(`${server.baseUrl}/metrics`)
  t.equal(res.status, 200, `GET /metrics for ${name}`)
  const line = new RegExp(`^${name} (\\d+)$`, 'm').exec(await res.text())
  if (line === null) throw new Error(`no ${name} in /metrics`)
  return Number(line[1])
}

const ms = (since: number): string => `${(performance.now() - since).toFixed(0)} ms`

t.test('a dropped peer resumes with every missed message, in order, and the others see no churn', async (t) => {
  const server = await startServer(t)
  await server.createRoom({ roomId: 'r' })
  const alice = await server.join('r', 'alice')
  const bob = await server.join('r', 'bob')
  await alice.next('peer-joined')
  bob.send({ type: 'offer', to: 'alice', data: 'before' })
  await alice.next('offer')
  const seen = alice.lastSeq
  t.equal(await metric(t, server, 'signalling_resumes_total'), 0, 'no resume counted before the drop')
  alice.socket.terminate()
  await sleep(100)
  for (let i = 0; i < 5; i++) bob.send({ type: 'candidate', to: 'alice', data: i })
  bob.send({ type: 'message', data: 'to all' })
  await bob.settle()
  t.same(bob.received, [], 'bob got no error and no peer-left while alice was away')

  const started = performance.now()
  const back = await resume(t, server, alice)
  const welcomed = ms(started)
  t.match(back.welcome, { type: 'welcome', peerId: 'alice', roomId: 'r', resumed: true, resumeToken: String })
  t.same(back.welcome?.peers, [{ peerId: 'bob', metadata: {} }])
  for (let i = 0; i < 5; i++) t.same(await back.next(), { type: 'candidate', from: 'bob', data: i }, `missed candidate ${i}`)
  t.same(await back.next(), { type: 'message', from: 'bob', data: 'to all' })
  const replayed = back.lastSeq - seen
  t.comment(`6 frames missed during the drop, ${replayed} replayed (seq ${seen + 1}..${back.lastSeq}); welcome after ${welcomed}, replay done after ${ms(started)}`)
  t.equal(replayed, 6, 'numbering goes on where it stopped: exactly the 6 missed frames')
  t.same(back.seqGaps, [], 'no gap and no duplicate')
  await back.settle()
  t.same(back.received, [], 'nothing else was replayed')
  const beforeLive = back.lastSeq
  bob.send({ type: 'answer', to: 'alice', data: 'live' })
  t.same(await back.next('answer'), { type: 'answer', from: 'bob', data: 'live' })
  t.equal(back.lastSeq, beforeLive + 1, 'live frames are numbered on')
  t.same(back.seqGaps, [], 'still no gap')
  await bob.settle()
  t.same(bob.received, [], 'bob saw no peer-left, no peer-joined and no error')
  t.equal((await server.app.signalling.room('r')).peerCount, 2)
  const resumes = await metric(t, server, 'signalling_resumes_total')
  t.comment(`signalling_resumes_total ${resumes} after one resume`)
  t.equal(resumes, 1, 'the resume is counted once in /metrics')
})

t.test('frames lost in flight before the drop are replayed too (lastSeq older than the last one sent)', async (t) => {
  const server = await startServer(t)
  await server.createRoom({ roomId: 'r' })
  const alice = await server.join('r', 'alice')
  const bob = await server.join('r', 'bob')
  await alice.next('peer-joined')
  for (let i = 0; i < 3; i++) bob.send({ type: 'candidate', to: 'alice', data: i })
  for (let i = 0; i < 3; i++) await alice.next('candidate')
  const last = alice.lastSeq
  alice.socket.terminate()
  await sleep(100)
  const started = performance.now()
  const back = await resume(t, server, alice, last - 2)
  t.equal(back.welcome?.resumed, true)
  t.same(await back.next(), { type: 'candidate', from: 'bob', data: 1 })
  t.same(await back.next(), { type: 'candidate', from: 'bob', data: 2 })
  t.comment(`client saw up to seq ${last} but claimed ${last - 2}: ${back.lastSeq - (last - 2)} frames replayed in ${ms(started)}`)
  t.equal(back.lastSeq, last, 'replayed up to the last frame sent, no further')
  t.same(back.seqGaps, [], 'no gap and no duplicate')
  await back.settle()
  t.same(back.received, [], 'only the 2 frames after lastSeq were replayed')
})

t.test('the join token also resumes; a replaced old socket that is still open is closed with 4409', async (t) => {
  const server = await startServer(t)
  await server.createRoom({ roomId: 'r' })
  const { token } = await server.issueToken('r', { peerId: 'alice' })
  const first = await TestPeer.connect(t, `${server.wsUrl}?token=${token}`)
  await first.next('welcome')
  const started = performance.now()
  const again = await TestPeer.connect(t, `${server.wsUrl}?token=${token}&lastSeq=0`)
  t.match(await again.next('welcome'), { type: 'welcome', peerId: 'alice', resumed: true })
  const closed = await first.closed
  t.comment(`the old socket was closed with ${closed.code} (${closed.reason}) ${ms(started)} after the second connection began`)
  t.same(closed, { code: 4409, reason: 'replaced' })
  t.equal((await server.app.signalling.room('r')).peerCount, 1, 'still one alice in the room')
})

t.test('past the grace period the peer is reported gone and a resume token is refused with 4410', async (t) => {
  const server = await startServer(t, { resume: { grace: 300 } })
  await server.createRoom({ roomId: 'r' })
  const alice = await server.join('r', 'alice')
  const bob = await server.join('r', 'bob')
  const dropped = performance.now()
  alice.socket.terminate()
  t.same(await bob.next('peer-left', 3000), { type: 'peer-left', peerId: 'alice', reason: 'disconnected' })
  const leftAfter = ms(dropped)
  const late = await TestPeer.connect(t, `${server.wsUrl}?token=${alice.welcome?.resumeToken as string}&lastSeq=${alice.lastSeq}`)
  t.match(await late.next('error'), { type: 'error', code: 'SESSION_EXPIRED' })
  const closed = await late.closed
  t.comment(`grace 300 ms: peer-left reached bob ${leftAfter} after the drop; the late resume was closed with ${closed.code}`)
  t.equal(closed.code, 4410)
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
  await alice.next('peer-joined')
  // the frames alice already had stay in her replay window, and count toward the bound as well
  const held = alice.lastSeq
  t.equal(held, 1, 'alice had one frame (peer-joined) before the drop')
  alice.socket.terminate()
  await sleep(100)
  let leftAt: number | undefined
  for (let i = 1; i <= 10; i++) {
    bob.send({ type: 'candidate', to: 'alice', data: i, id: i })
    await bob.settle()
    if (leftAt === undefined && bob.received.some((m) => m.type === 'peer-left')) leftAt = i
  }
  const overflow = 5 - held + 1
  t.comment(`bound 5 frames (${held} kept from before the drop): peer-left after missed frame ${leftAt ?? 'none'} of 10; ` +
    `${bob.received.filter((m) => m.type === 'error').length} later frames answered PEER_NOT_FOUND`)
  t.equal(leftAt, overflow, `alice left at the frame that made ${5 + 1} held, not before`)
  t.same(bob.received, [
    { type: 'peer-left', peerId: 'alice', reason: 'disconnected' },
    ...Array.from({ length: 10 - overflow }, (_, k) => ({ type: 'error', code: 'PEER_NOT_FOUND', id: overflow + 1 + k, message: 'Peer alice not found' }))
  ], 'once she left, every later frame for her is answered PEER_NOT_FOUND')
  const late = await TestPeer.connect(t, `${server.wsUrl}?token=${alice.welcome?.resumeToken as string}&lastSeq=${alice.lastSeq}`)
  t.match(await late.next('error'), { type: 'error', code: 'SESSION_EXPIRED' })
  t.equal((await late.closed).code, 4410)
})

t.test('a resume token cannot join afresh, and needs lastSeq', async (t) => {
  const server = await startServer(t)
  await server.createRoom({ roomId: 'r' })
  const alice = await server.join('r', 'alice')
  const { upgradeStatus } = await import('../helper.js')
  const res = await upgradeStatus(`${server.wsUrl}?token=${alice.welcome?.resumeToken as string}`)
  t.comment(`a resume token without lastSeq: HTTP ${res.status} before the upgrade`)
  t.equal(res.status, 401)
  t.match(JSON.parse(res.body), { code: 'UNAUTHORIZED', message: /send lastSeq/ })
  t.equal((await server.app.signalling.room('r')).peerCount, 1, 'alice alone, once')
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
  t.same(received, ['one'])
  const dropped = performance.now()
  sockets[0]!.terminate()
  await sleep(20)
  bob.send({ type: 'candidate', to: 'alice', data: 'two' })
  bob.send({ type: 'candidate', to: 'alice', data: 'three' })
  for (let i = 0; i < 250 && received.length < 3; i++) await sleep(20)
  t.comment(`the SDK reconnected ${sockets.length - 1} time(s); 2 frames missed, ${received.length - 1} delivered, all within ${ms(dropped)} of the drop`)
  t.same(received, ['one', 'two', 'three'], 'nothing lost, nothing doubled')
  t.same(welcomes, [false, true], 'the second welcome is a resume')
  t.equal(sockets.length, 2, 'one reconnection')
  await bob.settle()
  t.same(bob.received, [], 'bob saw no peer-left, no peer-joined and no error')
  t.equal(await metric(t, server, 'signalling_resumes_total'), 1, 'one resume counted')
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
  const seen = alice.lastSeq
  for (let i = 0; i < 20; i++) bob.send({ type: 'candidate', to: 'alice', data: i })
  await bob.settle()
  t.same(bob.received, [], 'every candidate was accepted for alice while she was away')
  const started = performance.now()
  const back = await resume(t, b, alice)
  const welcomed = ms(started)
  t.equal(back.welcome?.resumed, true)
  for (let i = 0; i < 20; i++) t.same(await back.next(), { type: 'candidate', from: 'bob', data: i }, `missed candidate ${i}`)
  t.comment(`across nodes: 20 frames missed on node A, ${back.lastSeq - seen} replayed by node B; welcome after ${welcomed}, replay done after ${ms(started)}`)
  t.equal(back.lastSeq, seen + 20, 'exactly the 20 missed frames')
  t.same(back.seqGaps, [], 'no gap and no duplicate')
  bob.send({ type: 'answer', to: 'alice', data: 'live' })
  t.same(await back.next('answer'), { type: 'answer', from: 'bob', data: 'live' })
  await back.settle()
  t.same(back.received, [], 'nothing doubled')
  await bob.settle()
  t.same(bob.received, [], 'bob saw no peer-left, no peer-joined and no error')
  t.equal(await metric(t, b, 'signalling_resumes_total'), 1, 'node B counts the resume')
  t.equal(await metric(t, a, 'signalling_resumes_total'), 0, 'node A does not')
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
  const seen = alice.lastSeq
  const started = performance.now()
  let drained: string | undefined
  const closing = a.app.close().then(() => { drained = ms(started) })
  const closed = await alice.closed
  const closedAfter = ms(started)
  t.equal(closed.code, 1012, 'service restart')
  bob.send({ type: 'offer', to: 'alice', data: 'while moving' })
  const back = await resume(t, b, alice)
  const resumedAfter = ms(started)
  t.equal(back.welcome?.resumed, true)
  t.same(await back.next(), { type: 'offer', from: 'bob', data: 'while moving' })
  t.equal(back.lastSeq, seen + 1, 'exactly the one frame sent while moving')
  await closing
  t.comment(`drain of node A: alice closed with ${closed.code} after ${closedAfter}, resumed on node B after ${resumedAfter} with ${back.lastSeq - seen} missed frame replayed; node A closed after ${drained ?? '?'}`)
  bob.send({ type: 'answer', to: 'alice', data: 'after' })
  t.same(await back.next('answer'), { type: 'answer', from: 'bob', data: 'after' })
  t.same(back.seqGaps, [], 'no gap and no duplicate')
  await bob.settle()
  t.same(bob.received, [], 'bob saw no peer-left, no peer-joined and no error')
  t.equal(await metric(t, b, 'signalling_resumes_total'), 1, 'node B counts the resume')
})
