import t from 'tap'
import { createHmac } from 'node:crypto'
import { buildTestApp, startServer, TEST_API_KEY } from '../helper.js'

const ice = { stunUrls: 'stun:stun.example.com:3478', turnUrls: 'turn:turn.example.com:3478?transport=udp,turns:turn.example.com:5349', turnSecret: 'coturn-shared-secret', turnTtl: 600 }

function expectedCredential (username: string): string {
  return createHmac('sha1', ice.turnSecret).update(username).digest('base64')
}

t.test('GET /ice-servers with a join token: STUN, and TURN with credentials minted for that peer', async (t) => {
  const app = await buildTestApp(t, { ice })
  await app.signalling.createRoom({ roomId: 'r' })
  const { token } = await app.signalling.issueToken('r', { peerId: 'alice' })
  const before = Math.floor(Date.now() / 1000)
  for (const request of [{ url: `/ice-servers?token=${token}` }, { url: '/ice-servers', headers: { authorization: `Bearer ${token}` } }]) {
    const res = await app.inject(request)
    t.equal(res.statusCode, 200)
    const body = res.json()
    t.equal(body.ttl, 600)
    t.same(body.iceServers[0], { urls: ['stun:stun.example.com:3478'] })
    const turn = body.iceServers[1]
    t.same(turn.urls, ['turn:turn.example.com:3478?transport=udp', 'turns:turn.example.com:5349'])
    const [expiry, peerId] = turn.username.split(':')
    t.equal(peerId, 'alice')
    t.ok(Number(expiry) >= before + 600 && Number(expiry) <= before + 602, 'expires ttl seconds from now')
    t.equal(turn.credential, expectedCredential(turn.username), 'base64(HMAC-SHA1(secret, username))')
    t.notOk(JSON.stringify(body).includes(ice.turnSecret), 'the secret never leaves the server')
  }
})

t.test('GET /ice-servers with the API key mints for ?peerId; without either it is 401', async (t) => {
  const app = await buildTestApp(t, { ice })
  const res = await app.inject({ url: '/ice-servers?peerId=backend-7', headers: { authorization: `Bearer ${TEST_API_KEY}` } })
  t.equal(res.statusCode, 200)
  t.match(res.json().iceServers[1].username, /^\d+:backend-7$/)
  const none = await app.inject({ url: '/ice-servers' })
  t.equal(none.statusCode, 401)
  t.equal(none.json().code, 'UNAUTHORIZED')
  const bad = await app.inject({ url: '/ice-servers?token=nope' })
  t.equal(bad.statusCode, 401)
})

t.test('with nothing configured iceServers is empty, in welcome and at /ice-servers', async (t) => {
  const server = await startServer(t)
  await server.createRoom({ roomId: 'r' })
  const alice = await server.join('r', 'alice')
  t.same(alice.welcome?.iceServers, [])
  const { token } = await server.issueToken('r', { peerId: 'bob' })
  t.same((await server.app.inject({ url: `/ice-servers?token=${token}` })).json(), { iceServers: [], ttl: 3600 })
})

t.test('welcome carries the peer\'s TURN credentials, and an ice-servers message refreshes them without reconnecting', async (t) => {
  const server = await startServer(t, { ice })
  await server.createRoom({ roomId: 'r' })
  const alice = await server.join('r', 'alice')
  const turn = (alice.welcome?.iceServers as Array<{ username?: string, credential?: string }>)[1]!
  t.match(turn.username, /^\d+:alice$/)
  t.equal(turn.credential, expectedCredential(turn.username!))
  await new Promise((resolve) => setTimeout(resolve, 1100))
  alice.send({ type: 'ice-servers' })
  const fresh = await alice.next('ice-servers')
  t.equal(fresh.ttl, 600)
  const renewed = (fresh.iceServers as Array<{ username: string, credential: string }>)[1]!
  t.ok(Number(renewed.username.split(':')[0]) > Number(turn.username!.split(':')[0]), 'a later expiry')
  t.equal(renewed.credential, expectedCredential(renewed.username))
})

t.test('a bad ICE setting fails registration with a clear message', async (t) => {
  await t.rejects(buildTestApp(t, { ice: { turnUrls: 'http://turn.example.com', turnSecret: 's' } }), /Invalid ICE configuration \(turnUrls\)/)
  await t.rejects(buildTestApp(t, { ice: { turnUrls: 'turn:turn.example.com' } }), /turnSecret/)
})
