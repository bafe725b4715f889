// Webhooks on one node, to a real receiver that verifies every delivery: retries, order per room, dead letters, replay.
import t, { type Test } from 'tap'
import type { SignallingEvent } from '../../lib/events/types.js'
import type { WebhookOptions } from '../../lib/events/webhook-options.js'
import { startServer, TEST_API_KEY, type TestServer } from '../helper.js'
import { startReceiver, TEST_WEBHOOK_SECRET, until, type Receiver } from './receiver.js'

const auth = { authorization: `Bearer ${TEST_API_KEY}` }

async function setup (t: Test, webhooks: Partial<WebhookOptions> = {}): Promise<{ server: TestServer, receiver: Receiver, emitted: SignallingEvent[] }> {
  const receiver = await startReceiver(t)
  const server = await startServer(t, {
    resume: { grace: 0 },
    webhooks: { endpoints: [receiver.url], secret: TEST_WEBHOOK_SECRET, backoff: { initial: 20, max: 100 }, timeout: 2000, ...webhooks }
  })
  const emitted: SignallingEvent[] = []
  for (const type of ['room.created', 'room.deleted', 'peer.joined', 'peer.left'] as const) server.app.signalling.on(type, (event) => emitted.push(event))
  return { server, receiver, emitted }
}

async function metric (server: TestServer, series: string): Promise<number> {
  const text = (await server.app.inject({ url: '/metrics' })).body
  const line = text.split('\n').find((l) => l.startsWith(`${series} `))
  if (line === undefined) throw new Error(`no ${series} in /metrics`)
  return Number(line.slice(series.length + 1))
}

/** Some traffic in three rooms: created, joined, left, kicked, deleted. */
async function traffic (server: TestServer, tag: string): Promise<void> {
  for (const roomId of [`a${tag}`, `b${tag}`, `c${tag}`]) {
    await server.createRoom({ roomId })
    const one = await server.join(roomId, 'one')
    await server.join(roomId, 'two')
    one.send({ type: 'leave' })
    await one.closed
  }
  await server.app.signalling.kick(`a${tag}`, 'two')
  await server.app.signalling.deleteRoom(`b${tag}`)
}

t.test('through 500s and a receiver that is down, every event arrives once acknowledged, in order per room, signed', async (t) => {
  const { server, receiver, emitted } = await setup(t, { retryFor: 60_000 })
  receiver.answer(500)
  await traffic(server, '1')
  await until(() => receiver.deliveries.length >= 10, 'some refused deliveries')
  await receiver.stop()
  await traffic(server, '2')
  await until(() => emitted.length === 28, 'the events of the second round')
  // attempts meanwhile fail to connect, and are retried
  const refused = await metric(server, 'signalling_webhook_failed_attempts_total')
  await new Promise((resolve) => setTimeout(resolve, 300))
  t.ok(await metric(server, 'signalling_webhook_failed_attempts_total') > refused, 'attempts to a closed port fail and are retried')
  await receiver.start()
  receiver.answer(200)
  await until(() => new Set(receiver.accepted().map((e) => e.id)).size === emitted.length, 'every event accepted', 20_000)

  t.same(receiver.forged, [], 'every delivery verified with standardwebhooks')
  const accepted = receiver.accepted()
  t.same(new Set(accepted.map((e) => e.id)), new Set(emitted.map((e) => e.id)), 'none missing, none unknown')
  for (const delivery of receiver.deliveries) {
    const original = emitted.find((e) => e.id === delivery.webhookId)
    t.same(delivery.event, original, `delivery of ${delivery.webhookId}: the webhook-id is the event id, the body the same every time`)
  }
  const rooms = new Set(emitted.map((e) => e.roomId))
  for (const roomId of rooms) {
    const expected = emitted.filter((e) => e.roomId === roomId).map((e) => e.seq)
    t.same(expected, expected.map((_, i) => i + 1), `${roomId}: numbered 1..n`)
    // an event of the room was tried only after the previous one was accepted
    const done = new Set<number>()
    let ordered = true
    for (const delivery of receiver.deliveries.filter((d) => d.event.roomId === roomId)) {
      if (delivery.event.seq > 1 && !done.has(delivery.event.seq - 1)) ordered = false
      if (delivery.status === 200) done.add(delivery.event.seq)
    }
    t.ok(ordered, `${roomId}: never an event before the previous one of its room succeeded`)
    t.same([...done], expected, `${roomId}: accepted in order`)
  }
  t.ok(await metric(server, 'signalling_webhook_failed_attempts_total') >= 10, 'failed attempts counted')
  t.ok(await metric(server, 'signalling_webhook_deliveries_total') >= emitted.length, 'deliveries counted')
  t.equal(await metric(server, 'signalling_webhook_queue_depth'), 0, 'nothing waits any more')
})

t.test('a delivery retried past retryFor is a dead letter, listed with its reason, and replayed with the same webhook-id', async (t) => {
  const { server, receiver } = await setup(t, { retryFor: 300 })
  receiver.answer(500)
  await server.createRoom({ roomId: 'r' })
  await until(() => server.app.signalling.metrics.render().includes('signalling_webhook_dead_letters_total{reason="retries-exhausted"} 1'), 'the dead letter')
  const unauthorized = await server.app.inject({ url: '/webhooks/dead-letters' })
  t.equal(unauthorized.statusCode, 401)
  const list = await server.app.inject({ url: '/webhooks/dead-letters', headers: auth })
  t.equal(list.statusCode, 200)
  const [letter] = list.json().deadLetters
  t.match(letter, { id: /^dl_[0-9a-f]{32}$/, url: receiver.url, reason: 'retries-exhausted', lastError: 'HTTP 500', event: { type: 'room.created', roomId: 'r', seq: 1 } })
  t.ok(letter.attempts >= 1)
  const refused = receiver.deliveries.length
  t.ok(receiver.deliveries.every((d) => d.webhookId === letter.event.id))

  receiver.answer(204)
  const replay = await server.app.inject({ method: 'POST', url: `/webhooks/dead-letters/${letter.id}/replay`, headers: auth })
  t.equal(replay.statusCode, 202)
  await until(() => receiver.accepted().length === 1, 'the replay')
  t.equal(receiver.deliveries.length, refused + 1, 'one more attempt, accepted')
  t.equal(receiver.deliveries.at(-1)!.webhookId, letter.event.id, 'the same webhook-id: the receiver can tell it is the same event')
  t.same((await server.app.inject({ url: '/webhooks/dead-letters', headers: auth })).json(), { deadLetters: [] })
  const again = await server.app.inject({ method: 'POST', url: `/webhooks/dead-letters/${letter.id}/replay`, headers: auth })
  t.equal(again.statusCode, 404)
  t.equal(again.json().code, 'DEAD_LETTER_NOT_FOUND')
  const bad = await server.app.inject({ method: 'POST', url: '/webhooks/dead-letters/nope/replay', headers: auth })
  t.equal(bad.statusCode, 400)
})

t.test('410 Gone dead-letters the delivery at once; the room\'s next event goes on', async (t) => {
  const { server, receiver } = await setup(t)
  receiver.answer(410)
  await server.createRoom({ roomId: 'r' })
  await until(() => server.app.signalling.metrics.render().includes('signalling_webhook_dead_letters_total{reason="gone"} 1'), 'the dead letter')
  t.equal(receiver.deliveries.length, 1, 'one attempt only')
  receiver.answer(200)
  await server.app.signalling.deleteRoom('r')
  await until(() => receiver.accepted().length === 1, 'the next event')
  t.match(receiver.accepted()[0], { type: 'room.deleted', seq: 2 })
  t.match((await server.app.signalling.deadLetters())[0], { reason: 'gone', attempts: 1, lastError: 'HTTP 410' })
})

t.test('a full queue moves its oldest waiting delivery to the dead letters, counted in /metrics', async (t) => {
  const { server, receiver } = await setup(t, { queueSize: 3, concurrency: 1, backoff: { initial: 60_000, max: 60_000 } })
  await receiver.stop()
  for (let i = 0; i < 6; i++) await server.createRoom({ roomId: `r${i}` })
  await until(() => server.app.signalling.metrics.render().includes('signalling_webhook_dead_letters_total{reason="queue-full"} 3'), 'three dropped')
  const letters = await server.app.signalling.deadLetters()
  t.equal(letters.length, 3)
  t.ok(letters.every((l) => l.reason === 'queue-full'))
  t.equal(await metric(server, 'signalling_webhook_queue_depth'), 3, 'the queue holds its size')
})

t.test('an endpoint with a filter gets only its event types', async (t) => {
  const all = await startReceiver(t)
  const joins = await startReceiver(t)
  const server = await startServer(t, {
    webhooks: { endpoints: [all.url, { url: joins.url, events: ['peer.joined'] }], secret: TEST_WEBHOOK_SECRET, backoff: { initial: 20, max: 100 } }
  })
  await server.createRoom({ roomId: 'r' })
  await server.join('r', 'alice')
  await until(() => all.accepted().length === 2 && joins.accepted().length === 1, 'the deliveries')
  t.same(all.accepted().map((e) => e.type), ['room.created', 'peer.joined'])
  t.match(joins.accepted(), [{ type: 'peer.joined', seq: 2, data: { peer: { peerId: 'alice' } } }])
})

t.test('bad webhook options stop the plugin with the option named', async (t) => {
  const receiver = await startReceiver(t)
  const build = async (webhooks: WebhookOptions): Promise<unknown> => await startServer(t, { webhooks })
  await t.rejects(build({ endpoints: [receiver.url], secret: 'nope' }), /webhooks\.secret/)
  await t.rejects(build({ endpoints: [], secret: TEST_WEBHOOK_SECRET }), /webhooks\.endpoints/)
  await t.rejects(build({ endpoints: ['ftp://x'], secret: TEST_WEBHOOK_SECRET }), /http\(s\)/)
  await t.rejects(build({ endpoints: [{ url: receiver.url, events: ['peer.nope' as 'peer.joined'] }], secret: TEST_WEBHOOK_SECRET }), /unknown webhook event type/)
  await t.rejects(build({ endpoints: [receiver.url], secret: TEST_WEBHOOK_SECRET, timeout: 0 }), /webhooks\.timeout/)
})

t.test('an attempt that gets no answer times out and is retried; the relay meanwhile goes on', async (t) => {
  const { createServer } = await import('node:http')
  const hanging = createServer(() => {})
  hanging.listen(0, '127.0.0.1')
  await new Promise((resolve) => hanging.once('listening', resolve))
  t.teardown(async () => { await new Promise((resolve) => { hanging.close(resolve); hanging.closeAllConnections() }) })
  const url = `http://127.0.0.1:${(hanging.address() as { port: number }).port}/hook`
  const server = await startServer(t, { webhooks: { endpoints: [url], secret: TEST_WEBHOOK_SECRET, timeout: 100, retryFor: 400, backoff: { initial: 20, max: 50 } } })
  await server.createRoom({ roomId: 'r' })
  const alice = await server.join('r', 'alice')
  await server.join('r', 'bob')
  t.match(await alice.next('peer-joined'), { peer: { peerId: 'bob' } }, 'joins are not held up by the hanging receiver')
  await until(() => server.app.signalling.metrics.render().includes('signalling_webhook_dead_letters_total{reason="retries-exhausted"} 1'), 'the first dead letter')
  const [letter] = await server.app.signalling.deadLetters()
  t.match(letter, { reason: 'retries-exhausted', lastError: 'timeout after 100 ms', event: { type: 'room.created' } })
  t.ok(letter!.attempts >= 2, 'retried before giving up')
})
