// Abuse limits and backpressure: each with its figure in the test output.
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { startServer, TEST_API_KEY, upgradeStatus } from '../helper.js'

const auth = { authorization: `Bearer ${TEST_API_KEY}` }

t.test('a trickle-ICE burst of 200 passes; past the bucket each message is answered RATE_LIMITED and dropped', async (t) => {
  const server = await startServer(t)
  await server.createRoom({ roomId: 'r' })
  const a = await server.join('r', 'a')
  const b = await server.join('r', 'b')
  for (let i = 0; i < 200; i++) a.send({ type: 'candidate', to: 'b', data: i })
  for (let i = 0; i < 200; i++) t.equal((await b.next('candidate')).data, i)
  t.notOk(a.received.some((m) => m.type === 'error'), 'the burst passed without an error')
  for (let i = 0; i < 50; i++) a.send({ type: 'candidate', to: 'b', data: `extra ${i}`, id: i })
  const count = () => ({
    limited: a.received.filter((m) => m.type === 'error' && m.code === 'RATE_LIMITED').length,
    delivered: b.received.filter((m) => m.type === 'candidate').length
  })
  for (let i = 0; i < 100 && count().limited + count().delivered < 50; i++) await sleep(50)
  const { limited, delivered } = count()
  t.comment(`50 more at once: ${limited} answered RATE_LIMITED, ${delivered} delivered (the bucket refills at 50/s)`)
  t.ok(limited >= 25, 'the excess is refused')
  t.equal(limited + delivered, 50, 'each message was either delivered or answered RATE_LIMITED')
})

t.test('sustained abuse closes the socket with 4429 and the others see peer-left', async (t) => {
  const server = await startServer(t, { messageRate: { perSecond: 20, burst: 20, abuseSeconds: 2 } })
  await server.createRoom({ roomId: 'r' })
  const a = await server.join('r', 'a')
  const b = await server.join('r', 'b')
  const started = Date.now()
  let sent = 0
  while (a.socket.readyState === a.socket.OPEN && Date.now() - started < 10_000) {
    for (let i = 0; i < 20; i++) a.send({ type: 'candidate', to: 'b', data: sent++ })
    await sleep(10)
  }
  const closed = await a.closed
  t.comment(`flood of ~2000 messages/s against 20/s: closed after ${((Date.now() - started) / 1000).toFixed(1)} s and ${sent} messages`)
  t.same(closed, { code: 4429, reason: 'rate limit exceeded' })
  t.same(await b.next('peer-left'), { type: 'peer-left', peerId: 'a', reason: 'disconnected' })
})

t.test('REST routes and /ws upgrade attempts are limited per client address with 429', async (t) => {
  const server = await startServer(t, { requestRate: { rest: { max: 5, timeWindow: 60_000 }, upgrades: { max: 3, timeWindow: 60_000 } } })
  const statuses: number[] = []
  for (let i = 0; i < 7; i++) statuses.push((await fetch(`${server.baseUrl}/rooms`, { headers: auth })).status)
  t.same(statuses, [200, 200, 200, 200, 200, 429, 429])
  const limited = await fetch(`${server.baseUrl}/rooms`, { headers: auth })
  t.match(await limited.json(), { statusCode: 429, code: 'RATE_LIMITED', error: 'Too Many Requests' })
  const upgrades: number[] = []
  for (let i = 0; i < 5; i++) upgrades.push((await upgradeStatus(server.wsUrl)).status)
  t.same(upgrades, [401, 401, 401, 429, 429], 'bad upgrades count too, and the limit answers before the token check')
})

t.test('ALLOWED_ORIGINS: another Origin gets 403 before the upgrade; no Origin passes unless required', async (t) => {
  const server = await startServer(t, { allowedOrigins: ['https://app.example.com'] })
  await server.createRoom({ roomId: 'r' })
  const { token } = await server.issueToken('r', { peerId: 'p' })
  const url = `${server.wsUrl}?token=${token}`
  const evil = await upgradeStatus(url, { origin: 'https://evil.example.com' })
  t.equal(evil.status, 403)
  t.same(JSON.parse(evil.body), { statusCode: 403, code: 'ORIGIN_NOT_ALLOWED', error: 'Forbidden', message: 'Origin not allowed: https://evil.example.com' })
  t.equal((await upgradeStatus(url, { origin: 'https://app.example.com.evil.com' })).status, 403, 'exact match only')
  t.equal((await upgradeStatus(url, { origin: 'https://app.example.com' })).status, 101)
  t.equal((await upgradeStatus(url)).status, 101, 'a non-browser client without Origin')

  const strict = await startServer(t, { allowedOrigins: ['https://app.example.com'], requireOrigin: true })
  await strict.createRoom({ roomId: 'r' })
  const strictToken = (await strict.issueToken('r', { peerId: 'p' })).token
  const none = await upgradeStatus(`${strict.wsUrl}?token=${strictToken}`)
  t.equal(none.status, 403)
  t.equal(JSON.parse(none.body).code, 'ORIGIN_NOT_ALLOWED')
})

t.test('a peer that does not read is closed with 1013 and reported gone; other rooms are unaffected', async (t) => {
  const server = await startServer(t, { maxBufferedBytes: 256 * 1024, messageRate: false })
  await server.createRoom({ roomId: 'r' })
  await server.createRoom({ roomId: 'other' })
  const sender = await server.join('r', 'sender')
  const slow = await server.join('r', 'slow')
  const x = await server.join('other', 'x')
  const y = await server.join('other', 'y')
  // the slow client stops reading: the kernel buffers fill, then the server's
  ;(slow.socket as unknown as { _socket: { pause: () => void } })._socket.pause()
  const heapBefore = process.memoryUsage().heapUsed
  const chunk = 'x'.repeat(60 * 1024)
  let sent = 0
  while (sender.received.every((m) => m.type !== 'peer-left') && sent < 2000) {
    sender.send({ type: 'message', to: 'slow', data: chunk })
    sent++
    if (sent % 20 === 0) await sleep(5)
  }
  const left = await sender.next('peer-left', 10_000)
  t.same(left, { type: 'peer-left', peerId: 'slow', reason: 'disconnected' })
  const heapAfter = process.memoryUsage().heapUsed
  t.comment(`closed after ${sent} messages of 60 KiB (${(sent * 60 / 1024).toFixed(1)} MiB sent); heap ${(heapBefore / 2 ** 20).toFixed(1)} → ${(heapAfter / 2 ** 20).toFixed(1)} MiB`)
  t.ok(sent * 60 * 1024 > 256 * 1024, 'more was sent than the cap')
  t.ok(heapAfter - heapBefore < 64 * 2 ** 20, 'the server did not keep the unread messages')
  ;(slow.socket as unknown as { _socket: { resume: () => void } })._socket.resume()
  t.equal((await slow.closed).code, 1013, 'try again later')
  x.send({ type: 'offer', to: 'y', data: 'still fine' })
  t.same(await y.next('offer'), { type: 'offer', from: 'x', data: 'still fine' })
})

t.test('metrics count what happened', async (t) => {
  const server = await startServer(t)
  await server.createRoom({ roomId: 'r' })
  const a = await server.join('r', 'a')
  await server.join('r', 'b')
  a.send({ type: 'offer', to: 'b', data: 1 })
  a.send({ type: 'offer', to: 'nobody', data: 1 })
  a.send('not json')
  await a.settle()
  await upgradeStatus(server.wsUrl)
  const res = await fetch(`${server.baseUrl}/metrics`)
  t.equal(res.status, 200)
  const text = await res.text()
  t.match(text, /signalling_messages_relayed_total\{type="offer"\} 2/)
  t.match(text, /signalling_errors_total\{code="PEER_NOT_FOUND"\} 1/)
  t.match(text, /signalling_errors_total\{code="INVALID_MESSAGE"\} 1/)
  t.match(text, /signalling_upgrades_rejected_total\{reason="unauthorized"\} 1/)
  t.match(text, /signalling_connected_peers 2/)
  t.match(text, /signalling_joins_total 2/)
  t.match(text, /signalling_event_loop_delay_seconds\{quantile="0.99"\}/)
})
