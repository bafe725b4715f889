import t from 'tap'
import { createSigner } from 'fast-jwt'
import WebSocket from 'ws'
import { buildTestApp, startServer, TEST_SECRET, TestPeer, upgradeStatus } from '../helper.js'

const now = () => Math.floor(Date.now() / 1000)
const claims = (extra: Record<string, unknown> = {}) =>
  ({ sub: 'mallory', room: 'r', aud: 'signalling-join', iat: now(), exp: now() + 60, ...extra })
const sign = (payload: Record<string, unknown>, key = TEST_SECRET) =>
  createSigner({ key, algorithm: 'HS256', noTimestamp: false })(payload)

t.test('the upgrade is refused with 401 for every bad token, before any socket opens', async (t) => {
  const server = await startServer(t)
  await server.createRoom({ roomId: 'r' })
  const good = (await server.issueToken('r', { peerId: 'p' })).token
  const [head, body, signature] = good.split('.') as [string, string, string]
  const tampered = JSON.parse(Buffer.from(body, 'base64url').toString())
  tampered.sub = 'admin'
  const cases: Array<[string, string | undefined]> = [
    ['missing token', undefined],
    ['malformed token', 'not-a-jwt'],
    ['expired past the skew', sign(claims({ iat: now() - 120, exp: now() - 30 }))],
    ['wrong secret', sign(claims(), 'another-secret-another-secret-0000')],
    ['alg none', createSigner({ algorithm: 'none' })(claims())],
    ['no exp', sign({ sub: 'mallory', room: 'r', aud: 'signalling-join', iat: now() })],
    ['wrong aud', sign(claims({ aud: 'something-else' }))],
    ['nbf in the future', sign(claims({ nbf: now() + 120 }))],
    ['tampered payload', `${head}.${Buffer.from(JSON.stringify(tampered)).toString('base64url')}.${signature}`],
    ['peer id outside the pattern', sign(claims({ sub: 'no spaces allowed' }))],
    ['HS512 with the right secret', createSigner({ key: TEST_SECRET, algorithm: 'HS512' })(claims())]
  ]
  for (const [name, token] of cases) {
    const url = token === undefined ? server.wsUrl : `${server.wsUrl}?token=${encodeURIComponent(token)}`
    const { status, body, headers } = await upgradeStatus(url)
    t.equal(status, 401, name)
    t.equal(JSON.parse(body).code, 'UNAUTHORIZED', name)
    // the socket is destroyed after the answer: a proxy must not keep the connection for another request
    t.equal(headers.connection, 'close', `${name}: the refused upgrade ends its connection`)
  }
  t.equal((await server.app.signalling.room('r')).peerCount, 0, 'no one joined')
})

t.test('an expired token says so in its error message', async (t) => {
  const server = await startServer(t)
  await server.createRoom({ roomId: 'r' })
  const { body } = await upgradeStatus(`${server.wsUrl}?token=${sign(claims({ iat: now() - 120, exp: now() - 30 }))}`)
  t.equal(JSON.parse(body).message, 'Unauthorized: the join token has expired')
})

t.test('a token expired by less than the clock skew is still accepted', async (t) => {
  const server = await startServer(t)
  await server.createRoom({ roomId: 'r' })
  const { status } = await upgradeStatus(`${server.wsUrl}?token=${sign(claims({ iat: now() - 3, exp: now() - 1 }))}`)
  t.equal(status, 101)
})

t.test('a token issued before its room was created (a deleted room of the same id) is refused', async (t) => {
  const server = await startServer(t)
  await server.createRoom({ roomId: 'r' })
  const old = await upgradeStatus(`${server.wsUrl}?token=${sign(claims({ iat: now() - 60, exp: now() + 60 }))}`)
  t.equal(old.status, 401)
  t.match(JSON.parse(old.body), { code: 'UNAUTHORIZED', message: /issued before the room was created/ })
  // within the allowed clock skew, a token issued just before the room is still good
  t.equal((await upgradeStatus(`${server.wsUrl}?token=${sign(claims({ iat: now() - 3, exp: now() + 60 }))}`)).status, 101)
})

t.test('the token is also accepted as Authorization: Bearer', async (t) => {
  const server = await startServer(t)
  await server.createRoom({ roomId: 'r' })
  const { token } = await server.issueToken('r', { peerId: 'p' })
  const peer = await TestPeer.connect(t, server.wsUrl, { headers: { authorization: `Bearer ${token}` } })
  t.match(await peer.next('welcome'), { peerId: 'p', roomId: 'r' })
})

t.test('a room that does not exist is 404 ROOM_NOT_FOUND; a full room is 403 ROOM_FULL', async (t) => {
  const server = await startServer(t)
  await server.createRoom({ roomId: 'small', maxPeers: 2 })
  const ghost = await server.issueToken('small', { peerId: 'ghost' })
  await server.app.signalling.deleteRoom('small')
  const gone = await upgradeStatus(`${server.wsUrl}?token=${ghost.token}`)
  t.equal(gone.status, 404)
  t.equal(JSON.parse(gone.body).code, 'ROOM_NOT_FOUND')

  await server.createRoom({ roomId: 'small', maxPeers: 2 })
  await server.join('small', 'a')
  await server.join('small', 'b')
  const { token } = await server.issueToken('small', { peerId: 'c' })
  const full = await upgradeStatus(`${server.wsUrl}?token=${token}`)
  t.equal(full.status, 403)
  t.same(JSON.parse(full.body), { statusCode: 403, code: 'ROOM_FULL', error: 'Forbidden', message: 'Room small is full' })
  const again = await server.issueToken('small', { peerId: 'a' })
  t.equal((await upgradeStatus(`${server.wsUrl}?token=${again.token}`)).status, 101, 'a peer already inside may replace itself in a full room')
})

t.test("another room's token only ever joins that other room", async (t) => {
  const server = await startServer(t)
  await server.createRoom({ roomId: 'a' })
  await server.createRoom({ roomId: 'b' })
  const inA = await server.join('a', 'alice')
  const inB = await server.join('b', 'mallory')
  t.equal(inB.welcome?.roomId, 'b')
  t.same(inB.welcome?.peers, [])
  inB.send({ type: 'offer', to: 'alice', data: 'x' })
  t.match(await inB.next('error'), { code: 'PEER_NOT_FOUND' })
  await inA.settle()
  t.same(inA.received, [], 'alice got nothing from the other room')
})

t.test('injectWS: a quick join without a listening server', async (t) => {
  const app = await buildTestApp(t)
  await app.signalling.createRoom({ roomId: 'r' })
  const { token } = await app.signalling.issueToken('r', { peerId: 'solo' })
  let welcome!: Promise<WebSocket.RawData>
  const socket = await app.injectWS(`/ws?token=${token}`, {}, {
    // the welcome can arrive before injectWS resolves: listen from the start
    onInit: (ws) => { welcome = new Promise((resolve) => ws.once('message', resolve)) }
  })
  t.teardown(() => { socket.terminate() })
  t.match(JSON.parse((await welcome).toString()), { type: 'welcome', peerId: 'solo', roomId: 'r', peers: [] })
})
