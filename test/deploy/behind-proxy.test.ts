// The deployment recipe of deploy/: two standalone nodes on one redis-server behind the shipped nginx and HAProxy
// configs, configured by environment settings alone, with clients from distinct loopback addresses.
import t, { type Test } from 'tap'
import { request } from 'node:http'
import { Redis } from 'ioredis'
import { TEST_API_KEY, TEST_SECRET, TestPeer, upgradeStatus } from '../helper.js'
import { startHaproxy, startNginx, type RunningProxy } from '../support/proxy.js'
import { startRedis, type RedisProcess } from '../support/redis.js'
import { startServerProcess, type ServerProcess } from '../support/server-process.js'

const UPGRADE_LIMIT = 20

interface Node { process: ServerProcess, port: number }

async function startNodes (t: Test, redis: RedisProcess, prefix: string): Promise<Node[]> {
  const env = {
    SIGNALLING_API_KEY: TEST_API_KEY,
    SIGNALLING_JWT_SECRET: TEST_SECRET,
    REDIS_URL: redis.url,
    REDIS_KEY_PREFIX: prefix,
    // the proxy reaches the nodes from 127.0.0.1, and the clients come from other 127.0.0.x addresses
    TRUST_PROXY: '127.0.0.1',
    UPGRADE_RATE_LIMIT: String(UPGRADE_LIMIT),
    DEMO: 'false',
    LOG_LEVEL: 'info'
  }
  const nodes: Node[] = []
  for (const process of [startServerProcess(t, env), startServerProcess(t, env)]) nodes.push({ process, port: await process.listening })
  return nodes
}

/** A REST call through the proxy with the API key, from 127.0.0.1 (the app's backend). */
async function backend (proxy: RunningProxy, method: string, path: string, body?: object): Promise<{ status: number, json: () => Record<string, unknown> }> {
  const res = await fetch(`${proxy.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${TEST_API_KEY}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body)
  })
  const text = await res.text()
  return { status: res.status, json: () => { try { return JSON.parse(text) as Record<string, unknown> } catch { throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 200)}`) } } }
}

/** GET from a given source address, the way a browser behind its own NAT would reach the proxy. */
async function getFrom (localAddress: string, url: string): Promise<number> {
  return await new Promise((resolve, reject) => {
    const req = request(url, { localAddress }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode ?? 0)) })
    req.on('error', reject)
    req.end()
  })
}

/** Runs `task` over `items`, `concurrency` at a time. */
async function inParallel<T, R> (items: T[], concurrency: number, task: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length)
  let next = 0
  const workers = Array.from({ length: concurrency }, async () => {
    while (next < items.length) {
      const index = next++
      results[index] = await task(items[index]!, index)
    }
  })
  await Promise.all(workers)
  return results
}

/** Which node hosts each peer, from the nodes' own sets in Redis: `${room}\n${peer}` -> node id. */
async function hostsOf (redis: RedisProcess, prefix: string): Promise<Map<string, string>> {
  const client = new Redis(redis.url)
  try {
    const hosts = new Map<string, string>()
    for (const key of await client.keys(`${prefix}node:*:peers`)) {
      const node = key.slice(`${prefix}node:`.length, -':peers'.length)
      for (const member of await client.smembers(key)) {
        const [room, peer] = member.split('\n')
        hosts.set(`${room}\n${peer}`, node)
      }
    }
    return hosts
  } finally {
    client.disconnect()
  }
}

const clientAddress = (i: number): string => `127.0.0.${10 + (i % 40)}`

async function deployment (t: Test, proxyName: 'nginx' | 'haproxy', pairs: number): Promise<void> {
  const redis = await startRedis(t)
  if (redis === undefined) return
  const prefix = `deploy-${proxyName}:`
  const nodes = await startNodes(t, redis, prefix)
  const start = proxyName === 'nginx' ? startNginx : startHaproxy
  const proxy = await start(t, nodes.map((node) => ({ host: '127.0.0.1', port: node.port })))
  if (proxy === undefined) return
  const wsUrl = proxy.url.replace('http', 'ws') + '/ws'

  // the backend: rooms and a few thousand tokens a minute from one address, far past the per-address REST limit
  const rooms = Array.from({ length: pairs }, (_, i) => `room-${i}`)
  const created = await inParallel(rooms, 16, async (roomId) => (await backend(proxy, 'POST', '/rooms', { roomId })).status)
  t.same(new Set(created), new Set([201]), `${pairs} rooms created through the proxy`)
  const tokenRequests = Array.from({ length: proxyName === 'nginx' ? 2000 : 700 }, (_, i) => ({ roomId: rooms[i % pairs]!, peerId: `p${i}` }))
  const started = Date.now()
  const issued = await inParallel(tokenRequests, 16, async ({ roomId, peerId }) => await backend(proxy, 'POST', `/rooms/${roomId}/tokens`, { peerId }))
  const seconds = (Date.now() - started) / 1000
  const refused = issued.filter((res) => res.status !== 201).length
  t.comment(`${proxyName}: ${issued.length} tokens with the API key from one address in ${seconds.toFixed(1)} s (${(issued.length / seconds * 60).toFixed(0)} a minute), ${refused} refused`)
  t.equal(refused, 0, 'the backend is never throttled by the per-address limit (600 a minute)')

  // an address over its upgrade limit, while the others join: upgrades without a token, least_conn spreads them
  const flooder = '127.0.0.250'
  const flood = (async () => {
    const statuses: number[] = []
    for (let i = 0; i < 2 * UPGRADE_LIMIT + 4; i++) statuses.push((await upgradeStatus(wsUrl, { localAddress: flooder })).status)
    return statuses
  })()

  // two peers per room, each from one of 40 client addresses, on whichever node the proxy picks
  const joinStarted = Date.now()
  const peers = await inParallel(Array.from({ length: 2 * pairs }, (_, i) => i), 32, async (i) => {
    const { roomId, peerId } = { roomId: rooms[Math.floor(i / 2)]!, peerId: i % 2 === 0 ? 'a' : 'b' }
    const token = (await backend(proxy, 'POST', `/rooms/${roomId}/tokens`, { peerId })).json().token as string
    const peer = await TestPeer.connect(t, `${wsUrl}?token=${token}`, { localAddress: clientAddress(i), headers: { 'x-forwarded-for': '203.0.113.66' } })
    peer.welcome = await peer.next('welcome', 15_000)
    return peer
  })
  const joinSeconds = (Date.now() - joinStarted) / 1000
  t.equal(peers.filter((peer) => peer.welcome?.type === 'welcome').length, 2 * pairs, `${2 * pairs} sessions joined through ${proxyName} from 40 addresses in ${joinSeconds.toFixed(1)} s`)

  const floodStatuses = await flood
  const firstRefusal = floodStatuses.indexOf(429)
  t.comment(`${proxyName}: the address over its limit (${UPGRADE_LIMIT} upgrades a minute per node): ${floodStatuses.join(' ')}`)
  t.ok(firstRefusal > 0 && firstRefusal <= 2 * UPGRADE_LIMIT, 'one address over its limit gets 429, on the node it exhausted')
  t.same(new Set(floodStatuses.slice(0, firstRefusal)), new Set([401]), 'before that, its tokenless upgrades get 401')

  // every pair relays both ways, across the two nodes where the proxy split them
  await inParallel(rooms, 32, async (_roomId, r) => {
    const [a, b] = [peers[2 * r]!, peers[2 * r + 1]!]
    a.send({ type: 'message', to: 'b', data: { r, from: 'a' } })
    b.send({ type: 'message', to: 'a', data: { r, from: 'b' } })
    t.same(await b.next('message', 10_000), { type: 'message', from: 'a', data: { r, from: 'a' } })
    t.same(await a.next('message', 10_000), { type: 'message', from: 'b', data: { r, from: 'b' } })
  })
  const hosts = await hostsOf(redis, prefix)
  const split = rooms.filter((roomId) => hosts.get(`${roomId}\na`) !== hosts.get(`${roomId}\nb`)).length
  const perNode = [...new Set(hosts.values())].map((node) => [...hosts.values()].filter((n) => n === node).length)
  t.comment(`${proxyName}: sessions per node ${perNode.join(' and ')}; ${split} of ${pairs} pairs span the two nodes`)
  t.equal(perNode.length, 2, 'both nodes host sessions')
  t.ok(split > 0, 'some pairs relay across the nodes')

  // the nodes saw the clients' addresses, not the proxy's nor the spoofed X-Forwarded-For
  const logs = nodes.map((node) => node.process.run.stdout).join('')
  t.match(logs, /"remoteAddress":"127\.0\.0\.(1\d|[2-4]\d)"/, 'the logs show the client\'s address')
  t.notMatch(logs, /"remoteAddress":"203\.0\.113\.66"/, 'an X-Forwarded-For the client wrote itself is not believed')
  const metrics = await Promise.all(nodes.map(async (node) => await (await fetch(`http://127.0.0.1:${node.port}/metrics`)).text()))
  const upgradeRefusals = metrics.map((text) => Number(/^signalling_limit_refusals_total\{limit="upgrade"\} (\d+)$/m.exec(text)?.[1]))
  t.ok(upgradeRefusals.some((n) => n > 0), `the refusals are counted by limit (${upgradeRefusals.join(' and ')})`)
  t.equal(await getFrom('127.0.0.77', `${proxy.url}/ready`), 200, 'another client still reaches the nodes')
  const joinedAfter = await TestPeer.connect(t, `${wsUrl}?token=${(await backend(proxy, 'POST', `/rooms/${rooms[0]}/tokens`, { peerId: 'late' })).json().token as string}`, { localAddress: '127.0.0.78' })
  t.equal((await joinedAfter.next('welcome')).type, 'welcome', 'and joins, while the flooding address is refused')
  if (proxyName === 'haproxy') await drainOne(t, proxy, wsUrl, nodes[1]!, rooms)
}

/** A rolling restart: the node draining answers 503 on /ready and to upgrades; HAProxy sends the joins elsewhere. */
async function drainOne (t: Test, proxy: RunningProxy, wsUrl: string, node: Node, rooms: string[]): Promise<void> {
  node.process.child.kill('SIGTERM')
  const joins = await inParallel(rooms.slice(0, 20), 4, async (roomId, i) => {
    const token = (await backend(proxy, 'POST', `/rooms/${roomId}/tokens`, { peerId: `after-${i}` })).json().token as string
    const peer = await TestPeer.connect(t, `${wsUrl}?token=${token}`, { localAddress: clientAddress(i) })
    return (await peer.next('welcome', 15_000)).type
  })
  t.same(joins, Array(20).fill('welcome'), 'while one node drains and exits, every new join lands on the other')
  t.equal((await node.process.exited).code, 0, 'the drained node exits cleanly')
}

t.test('nginx (deploy/nginx.conf): several hundred sessions from distinct addresses join and relay across two nodes on Redis', async (t) => {
  await deployment(t, 'nginx', 150)
})

t.test('HAProxy (deploy/haproxy.cfg): the same, and a draining node leaves the pool while joins go on', async (t) => {
  await deployment(t, 'haproxy', 40)
})
