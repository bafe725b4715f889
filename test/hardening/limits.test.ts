// Abuse limits and backpressure: each with its figure in the test output.
import t from 'tap'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { startServer, upgradeStatus } from '../helper.js'

const ms = (since: number): string => `${(performance.now() - since).toFixed(0)} ms`

/** Polls `done` every 10 ms (real timers), for at most 10 s. */
async function until (done: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !done(); i++) await sleep(10)
}

/**
 * Runs `body` with `performance.now` frozen (the token bucket's clock, in this same process), so the bucket refills
 * only when the test moves the clock on: exact counts on a machine of any speed. The real clock is back afterwards.
 */
async function withFrozenClock (body: (advance: (ms: number) => void) => Promise<void>): Promise<void> {
  let now = performance.now()
  performance.now = () => now
  try {
    await body((ms) => { now += ms })
  } finally {
    // the frozen clock was an own property over the prototype's method
    Reflect.deleteProperty(performance, 'now')
  }
}

t.test('a trickle-ICE burst of 200 passes; past the bucket each message is answered RATE_LIMITED and dropped', async (t) => {
  const server = await startServer(t)
  await server.createRoom({ roomId: 'r' })
  const a = await server.join('r', 'a')
  const b = await server.join('r', 'b')
  await a.next('peer-joined')
  const limitedError = { type: 'error', code: 'RATE_LIMITED', message: 'Rate limited: more than 50 messages per second' }
  await withFrozenClock(async (advance) => {
    for (let i = 0; i < 200; i++) a.send({ type: 'candidate', to: 'b', data: i })
    for (let i = 0; i < 200; i++) t.equal((await b.next('candidate')).data, i)
    advance(20) // the ping of settle() needs a token of its own: 20 ms at 50/s
    await a.settle()
    t.same(a.received, [], 'the burst of 200 passed without an error')

    // the bucket is empty and the clock stands still: every further message is refused, none delivered
    for (let i = 0; i < 50; i++) a.send({ type: 'candidate', to: 'b', data: `extra ${i}`, id: i })
    // the server (in this process) must have read them all before the clock moves on
    await until(() => a.received.length >= 50)
    advance(20)
    await a.settle()
    await b.settle()
    const limited = a.received.splice(0)
    const delivered = b.received.splice(0)
    t.comment(`burst: 200 sent at once, 200 delivered, 0 refused; then 50 more on an empty bucket: ${limited.length} answered RATE_LIMITED, ${delivered.length} delivered`)
    t.same(limited, Array.from({ length: 50 }, () => limitedError), 'each of the 50 answered RATE_LIMITED (no id: the frame is not read)')
    t.same(delivered, [], 'and none delivered')

    // one second on, the bucket holds 50 again: 50 pass and the 51st is refused
    advance(1000)
    for (let i = 0; i < 51; i++) a.send({ type: 'candidate', to: 'b', data: `refilled ${i}` })
    await until(() => a.received.length + b.received.length >= 51)
    advance(20)
    await a.settle()
    await b.settle()
    const refused = a.received.splice(0)
    const passed = b.received.splice(0).map((m) => m.data)
    t.comment(`1 s later (on the frozen clock): 51 sent, ${passed.length} delivered, ${refused.length} answered RATE_LIMITED (refill 50/s)`)
    t.same(passed, Array.from({ length: 50 }, (_, i) => `refilled ${i}`), 'the first 50 delivered, in order')
    t.same(refused, [limitedError], 'the 51st refused')
  })
  t.equal(a.socket.readyState, a.socket.OPEN, 'refused messages alone do not close the socket')
})

t.test('the wall clock stepping back an hour does not empty the bucket', async (t) => {
  const server = await startServer(t)
  await server.createRoom({ roomId: 'r' })
  const a = await server.join('r', 'a')
  const b = await server.join('r', 'b')
  await a.next('peer-joined')
  const realNow = Date.now
  const stepped = realNow() - 3_600_000
  Date.now = () => stepped
  try {
    for (let i = 0; i < 10; i++) a.send({ type: 'candidate', to: 'b', data: i })
    for (let i = 0; i < 10; i++) t.equal((await b.next('candidate')).data, i)
    await a.settle()
  } finally {
    Date.now = realNow
  }
  t.same(a.received, [], 'no RATE_LIMITED: the bucket runs on a monotonic clock')
})

t.test('sustained abuse closes the socket with 4429 and the others see peer-left', async (t) => {
  const server = await startServer(t, { messageRate: { perSecond: 20, burst: 20, abuseSeconds: 2 } })
  await server.createRoom({ roomId: 'r' })
  const a = await server.join('r', 'a')
  const b = await server.join('r', 'b')
  await a.next('peer-joined')
  const started = Date.now()
  let sent = 0
  while (a.socket.readyState === a.socket.OPEN && Date.now() - started < 20_000) {
    for (let i = 0; i < 20; i++) a.send({ type: 'candidate', to: 'b', data: sent++ })
    await sleep(10)
  }
  const closed = await a.closed
  const seconds = (Date.now() - started) / 1000
  const limited = a.received.filter((m) => m.type === 'error' && m.code === 'RATE_LIMITED').length
  const delivered = b.received.filter((m) => m.type === 'candidate').length
  t.comment(`flood of ${sent} messages in ${seconds.toFixed(1)} s (${(sent / seconds).toFixed(0)}/s) against 20/s (burst 20, abuseSeconds 2): ` +
    `closed with ${closed.code}; ${delivered} delivered, ${limited} answered RATE_LIMITED before the close`)
  t.same(closed, { code: 4429, reason: 'rate limit exceeded' })
  t.same(await b.next('peer-left'), { type: 'peer-left', peerId: 'a', reason: 'disconnected' })
  t.ok(limited > 0, 'the flood was answered RATE_LIMITED before the socket was closed')
  t.same(a.received.filter((m) => m.type !== 'error' || m.code !== 'RATE_LIMITED'), [], 'and with nothing else')
  const metrics = await (await fetch(`${server.baseUrl}/metrics`)).text()
  t.match(metrics, /^signalling_limit_refusals_total\{limit="message_abuse"\} 1$/m, 'the close is counted under its limit')
  t.match(metrics, new RegExp(`^signalling_limit_refusals_total\\{limit="message_rate"\\} ${limited}$`, 'm'), 'and every drop')
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
  t.comment(`origins: evil ${evil.status}, look-alike 403, allowed 101, none 101; with requireOrigin, none ${none.status}`)
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
  await sender.next('peer-joined')
  await x.next('peer-joined')
  // the slow client stops reading: the kernel buffers fill, then the server's
  ;(slow.socket as unknown as { _socket: { pause: () => void } })._socket.pause()
  const mib = (n: number): string => `${(n / 2 ** 20).toFixed(1)} MiB`
  const before = process.memoryUsage()
  const chunk = 'x'.repeat(60 * 1024)
  const started = performance.now()
  let sent = 0
  while (sender.received.every((m) => m.type !== 'peer-left') && sent < 2000) {
    sender.send({ type: 'message', to: 'slow', data: chunk })
    sent++
    if (sent % 20 === 0) await sleep(5)
  }
  const left = await sender.next('peer-left', 10_000)
  const leftAfter = ms(started)
  t.same(left, { type: 'peer-left', peerId: 'slow', reason: 'disconnected' })
  const after = process.memoryUsage()
  t.ok(sent < 2000, 'the slow peer was closed before the sender gave up')
  t.ok(after.heapUsed - before.heapUsed < 64 * 2 ** 20, 'the server did not keep the unread messages')
  ;(slow.socket as unknown as { _socket: { resume: () => void } })._socket.resume()
  const closed = await slow.closed
  await sender.settle()
  // what the sender had in flight when the server let the slow peer go found no one
  const late = sender.received.splice(0)
  const accepted = sent - late.length
  t.comment(`slow consumer (cap 256 KiB): closed with ${closed.code} after ${accepted} messages of 60 KiB (${mib(accepted * 60 * 1024)}) were accepted for it; ` +
    `peer-left after ${leftAfter}; ${late.length} sent later answered PEER_NOT_FOUND`)
  t.comment(`memory: heapUsed ${mib(before.heapUsed)} before, ${mib(after.heapUsed)} after; rss ${mib(before.rss)} before, ${mib(after.rss)} after`)
  t.same(closed, { code: 1013, reason: 'too slow to read' }, 'try again later')
  t.ok(accepted * 60 * 1024 > 256 * 1024, 'more was accepted for it than the cap')
  t.same(late, late.map(() => ({ type: 'error', code: 'PEER_NOT_FOUND', message: 'Peer slow not found' })), 'the sender got no other error than PEER_NOT_FOUND once the slow peer was gone')
  x.send({ type: 'offer', to: 'y', data: 'still fine' })
  t.same(await y.next('offer'), { type: 'offer', from: 'x', data: 'still fine' })
  const ready = await (await fetch(`${server.baseUrl}/ready`)).json() as { refusedLastMinute: Record<string, number> }
  t.equal(ready.refusedLastMinute.slow_consumer, 1, '/ready counts the slow consumer under its limit')
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
  t.comment(text.split('\n').filter((l) => /^signalling_(messages_relayed_total\{type="offer"|errors_total|upgrades_rejected_total\{reason="unauthorized"|connected_peers|joins_total|resumes_total|event_loop_delay_seconds\{quantile="0.99")/.test(l)).join('; '))
  // only the offer that reached its peer counts as relayed; the other is an error
  t.match(text, /^signalling_messages_relayed_total\{type="offer"\} 1$/m)
  t.match(text, /^signalling_errors_total\{code="PEER_NOT_FOUND"\} 1$/m)
  t.match(text, /^signalling_errors_total\{code="INVALID_MESSAGE"\} 1$/m)
  t.match(text, /^signalling_upgrades_rejected_total\{reason="unauthorized"\} 1$/m)
  t.match(text, /^signalling_connected_peers 2$/m)
  t.match(text, /^signalling_joins_total 2$/m)
  t.match(text, /^signalling_resumes_total 0$/m)
  // NaN when no delay was sampled since the previous scrape, as Prometheus summaries do
  t.match(text, /^signalling_event_loop_delay_seconds\{quantile="0\.99"\} (NaN|\d+(\.\d+)?(e-?\d+)?)$/m)
})
