// Webhooks from two standalone nodes on a real redis-server: one deliverer at a time, and a node killed with
// SIGKILL while its deliveries are pending loses none of them.
import t from 'tap'
import { Redis } from 'ioredis'
import { TestPeer } from '../helper.js'
import { startRedis } from '../support/redis.js'
import { killHard, startServerProcess, type ServerProcess } from '../support/server-process.js'
import { startReceiver, TEST_WEBHOOK_SECRET, until } from './receiver.js'

const API_KEY = 'outbox-test-key'

t.test('a killed deliverer loses no event, and each event is delivered once, not once per node', async (t) => {
  const redis = await startRedis(t)
  if (redis === undefined) return
  const receiver = await startReceiver(t)
  receiver.answer(500)
  const env = {
    REDIS_URL: redis.url,
    REDIS_NODE_TTL: '2',
    SIGNALLING_API_KEY: API_KEY,
    SIGNALLING_JWT_SECRET: 's'.repeat(32),
    WEBHOOK_URLS: receiver.url,
    WEBHOOK_SECRET: TEST_WEBHOOK_SECRET,
    WEBHOOK_BACKOFF_INITIAL: '1',
    WEBHOOK_BACKOFF_MAX: '1',
    WEBHOOK_RETRY_FOR: '600',
    DEMO: 'false',
    LOG_LEVEL: 'info'
  }
  const nodes: Array<{ process: ServerProcess, port: number }> = []
  for (let i = 0; i < 2; i++) {
    const process = startServerProcess(t, env)
    nodes.push({ process, port: await process.listening })
  }
  const api = async (port: number, method: string, path: string, body?: object): Promise<any> => {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, {
      method,
      headers: { authorization: `Bearer ${API_KEY}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body)
    })
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`)
    return res.status === 204 ? undefined : await res.json()
  }
  const delivering = async (port: number): Promise<boolean> =>
    /^signalling_webhook_delivering 1$/m.test(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text())
  let leader = -1
  for (let tries = 0; leader === -1 && tries < 100; tries++) {
    for (let i = 0; i < nodes.length; i++) if (await delivering(nodes[i]!.port)) leader = i
    if (leader === -1) await new Promise((resolve) => setTimeout(resolve, 50))
  }
  t.not(leader, -1, 'one node delivers')
  t.equal((await Promise.all(nodes.map(async (n) => await delivering(n.port)))).filter(Boolean).length, 1, 'only one')
  const [a, b] = [nodes[leader]!, nodes[1 - leader]!]

  // four rooms, each created on one node, joined and left on the other, deleted on the first
  for (let i = 0; i < 4; i++) {
    const [home, away] = i % 2 === 0 ? [a, b] : [b, a]
    await api(home.port, 'POST', '/rooms', { roomId: `r${i}` })
    const { token } = await api(away.port, 'POST', `/rooms/r${i}/tokens`, { peerId: 'p' })
    const peer = await TestPeer.connect(t, `ws://127.0.0.1:${away.port}/ws?token=${token}`)
    await peer.next('welcome')
    peer.send({ type: 'leave' })
    await peer.closed
    await api(home.port, 'DELETE', `/rooms/r${i}`)
  }
  // and a peer that stays on the node about to die
  await api(b.port, 'POST', '/rooms', { roomId: 'stay' })
  const { token } = await api(b.port, 'POST', '/rooms/stay/tokens', { peerId: 'q' })
  const staying = await TestPeer.connect(t, `ws://127.0.0.1:${a.port}/ws?token=${token}`)
  await staying.next('welcome')

  const client = new Redis(redis.url)
  t.teardown(() => { client.disconnect() })
  await until(() => receiver.deliveries.length >= 5, 'refused attempts from the deliverer')
  let length = 0
  for (let tries = 0; length < 18 && tries < 200; tries++) {
    length = await client.xlen('signalling:{events}:outbox')
    if (length < 18) await new Promise((resolve) => setTimeout(resolve, 25))
  }
  t.equal(length, 18, 'every event is in the outbox, none delivered yet')
  t.ok(receiver.deliveries.every((d) => d.status === 500), 'nothing accepted before the kill')

  await killHard(a.process.child)
  receiver.answer(200)
  // after the lease runs out, the other node claims the pending entries; its reaper reports the dead node's peer
  await until(() => new Set(receiver.accepted().map((e) => e.id)).size === 19, 'every event accepted', 30_000)
  await new Promise((resolve) => setTimeout(resolve, 1500))

  t.same(receiver.forged, [])
  const accepted = receiver.accepted()
  const counts = new Map<string, number>()
  for (const event of accepted) counts.set(event.id, (counts.get(event.id) ?? 0) + 1)
  t.same([...counts.values()].filter((n) => n !== 1), [], 'each event accepted exactly once')
  for (let i = 0; i < 4; i++) {
    t.same(accepted.filter((e) => e.roomId === `r${i}`).map((e) => `${e.seq} ${e.type}`),
      ['1 room.created', '2 peer.joined', '3 peer.left', '4 room.deleted'], `r${i}: every event, numbered across both nodes, in order`)
  }
  t.match(accepted.filter((e) => e.roomId === 'stay'), [
    { seq: 1, type: 'room.created' }, { seq: 2, type: 'peer.joined' }, { seq: 3, type: 'peer.left', data: { peer: { peerId: 'q' }, reason: 'disconnected' } }
  ], 'the dead node\'s peer is reported gone by the survivor, once')
  t.ok(await delivering(b.port), 'the survivor delivers now')
  t.equal(await client.xlen('signalling:{events}:outbox'), 0, 'delivered entries leave the stream')
  t.same(await client.xpending('signalling:{events}:outbox', 'webhooks'), [0, null, null, null], 'nothing pending')
})
