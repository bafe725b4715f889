// Request limits per client address and per backend credential, and the client's address through a trusted proxy.
import t from 'tap'
import { Writable } from 'node:stream'
import { startServer, TEST_API_KEY, upgradeStatus } from '../helper.js'

const auth = { authorization: `Bearer ${TEST_API_KEY}` }
const wrongKey = { authorization: 'Bearer not-the-key' }

async function statuses (count: number, request: () => Promise<Response>): Promise<number[]> {
  const out: number[] = []
  for (let i = 0; i < count; i++) out.push((await request()).status)
  return out
}

async function metricsText (baseUrl: string): Promise<string> {
  return await (await fetch(`${baseUrl}/metrics`)).text()
}

t.test('REST requests with the API key are not counted per address; wrong or missing keys are, and get 429', async (t) => {
  const server = await startServer(t, { requestRate: { rest: { max: 5, timeWindow: 60_000 }, upgrades: { max: 3, timeWindow: 60_000 } } })
  const rooms = `${server.baseUrl}/rooms`
  const backend = await statuses(20, async () => await fetch(rooms, { headers: auth }))
  t.same(backend, Array(20).fill(200), 'the backend is not limited per address')
  const guesses = await statuses(7, async () => await fetch(rooms, { headers: wrongKey }))
  t.same(guesses, [401, 401, 401, 401, 401, 429, 429], 'a wrong key is counted before it is refused')
  const none = await fetch(rooms)
  t.equal(none.status, 429, 'no key: the same address, over its limit')
  t.match(await none.json(), { statusCode: 429, code: 'RATE_LIMITED', error: 'Too Many Requests', message: /^Rate limited: at most 5 requests in 1 minute/ })
  t.ok(Number(none.headers.get('retry-after')) > 0, 'with Retry-After')
  t.equal((await fetch(rooms, { headers: auth })).status, 200, 'the backend still passes from the limited address')
  const upgrades = await statuses(5, async () => ({ status: (await upgradeStatus(server.wsUrl)).status }) as Response)
  t.same(upgrades, [401, 401, 401, 429, 429], 'upgrades are limited per address, before the token check')
  t.comment(`REST limit 5/min: backend 20 × 200; wrong key ${guesses.join(' ')}; /ws limit 3/min: ${upgrades.join(' ')}`)

  const text = await metricsText(server.baseUrl)
  t.match(text, /^signalling_limit_refusals_total\{limit="rest"\} 3$/m)
  t.match(text, /^signalling_limit_refusals_total\{limit="upgrade"\} 2$/m)
  t.match(text, /^signalling_limit_refusals_total\{limit="api_key"\} 0$/m)
  const ready = await fetch(`${server.baseUrl}/ready`)
  t.equal(ready.status, 200, 'a node refusing clients over their limits is still ready')
  t.match(await ready.json(), { status: 'ready', refusedLastMinute: { rest: 3, upgrade: 2, api_key: 0, message_rate: 0, room_full: 0 } })
})

t.test('the authenticated limit counts each credential on its own, apart from the per-address limit', async (t) => {
  // the host's own check: two backends with their own keys
  const keys = new Set(['Bearer backend-a', 'Bearer backend-b'])
  const server = await startServer(t, {
    apiKey: undefined,
    authorize: (request) => keys.has(request.headers.authorization ?? ''),
    requestRate: { rest: { max: 2, timeWindow: 60_000 }, authenticated: { max: 4, timeWindow: 60_000 } }
  })
  const rooms = `${server.baseUrl}/rooms`
  const a = await statuses(6, async () => await fetch(rooms, { headers: { authorization: 'Bearer backend-a' } }))
  const b = await statuses(6, async () => await fetch(rooms, { headers: { authorization: 'Bearer backend-b' } }))
  t.same(a, [200, 200, 200, 200, 429, 429], 'backend a: its own limit of 4')
  t.same(b, [200, 200, 200, 200, 429, 429], 'backend b: a limit of its own too')
  const anonymous = await statuses(3, async () => await fetch(rooms))
  t.same(anonymous, [401, 401, 429], 'the address has its own count, untouched by the backends')
  const text = await metricsText(server.baseUrl)
  t.match(text, /^signalling_limit_refusals_total\{limit="api_key"\} 4$/m)
  t.match(text, /^signalling_limit_refusals_total\{limit="rest"\} 1$/m)
})

t.test('a limit of 0 requests is refused at registration; false turns a limit off', async (t) => {
  await t.rejects(startServer(t, { requestRate: { rest: { max: 0, timeWindow: 60_000 } } }), { message: 'signalling: `requestRate.rest.max` must be an integer from 1 to 10000000, got 0' })
  const server = await startServer(t, { requestRate: { rest: false, upgrades: false } })
  t.same(await statuses(30, async () => await fetch(`${server.baseUrl}/rooms`)), Array(30).fill(401), 'no limit')
})

t.test('X-Forwarded-For names the client only behind a trusted proxy', async (t) => {
  const limited = { requestRate: { upgrades: { max: 2, timeWindow: 60_000 } } }
  const from = (address: string) => ({ headers: { 'x-forwarded-for': address } })

  const direct = await startServer(t, limited)
  const spoofed = [
    (await upgradeStatus(direct.wsUrl, from('10.0.0.1'))).status,
    (await upgradeStatus(direct.wsUrl, from('10.0.0.2'))).status,
    (await upgradeStatus(direct.wsUrl, from('10.0.0.3'))).status
  ]
  t.same(spoofed, [401, 401, 429], 'without trustProxy a client cannot escape its limit by naming other addresses')

  const lines: string[] = []
  const logger = { level: 'info', stream: new Writable({ write (chunk, _encoding, done) { lines.push(String(chunk)); done() } }) }
  const proxied = await startServer(t, { ...limited, trustProxy: '127.0.0.1', logger })
  const one = [
    (await upgradeStatus(proxied.wsUrl, from('10.0.0.1'))).status,
    (await upgradeStatus(proxied.wsUrl, from('10.0.0.1'))).status,
    (await upgradeStatus(proxied.wsUrl, from('10.0.0.1'))).status
  ]
  const other = (await upgradeStatus(proxied.wsUrl, from('10.0.0.2'))).status
  t.same(one, [401, 401, 429], 'behind the trusted proxy, each forwarded address has its own limit')
  t.equal(other, 401, 'another client behind the same proxy is not limited by the first')
  t.ok(lines.some((line) => JSON.parse(line).req?.remoteAddress === '10.0.0.2'), 'the logs show the forwarded address')

  const untrusted = await startServer(t, { ...limited, trustProxy: '192.0.2.1' })
  const notOurProxy = [
    (await upgradeStatus(untrusted.wsUrl, from('10.0.0.1'))).status,
    (await upgradeStatus(untrusted.wsUrl, from('10.0.0.2'))).status,
    (await upgradeStatus(untrusted.wsUrl, from('10.0.0.3'))).status
  ]
  t.same(notOurProxy, [401, 401, 429], 'a peer that is not the trusted proxy cannot forward addresses')
})

t.test('a hop count trusts that many proxies nearest the server', async (t) => {
  const server = await startServer(t, { trustProxy: 1, requestRate: { upgrades: { max: 1, timeWindow: 60_000 } } })
  // the client's own entry comes first; the proxy one hop away appends the address it saw
  const chain = (client: string) => ({ headers: { 'x-forwarded-for': `203.0.113.9, ${client}` } })
  t.equal((await upgradeStatus(server.wsUrl, chain('10.0.0.1'))).status, 401)
  t.equal((await upgradeStatus(server.wsUrl, chain('10.0.0.1'))).status, 429, 'the address the nearest proxy saw is the one limited')
  t.equal((await upgradeStatus(server.wsUrl, chain('10.0.0.2'))).status, 401, 'whatever the client wrote before it')
})
