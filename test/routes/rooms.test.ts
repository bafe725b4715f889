import t from 'tap'
import { buildTestApp, startServer, TEST_API_KEY } from '../helper.js'

const auth = { authorization: `Bearer ${TEST_API_KEY}` }

t.test('POST /rooms creates a room with defaults and a generated id', async (t) => {
  const app = await buildTestApp(t)
  const res = await app.inject({ method: 'POST', url: '/rooms', headers: auth })
  t.equal(res.statusCode, 201)
  const room = res.json()
  t.match(room.roomId, /^[A-Za-z0-9_-]{1,64}$/)
  t.equal(room.maxPeers, 50)
  t.equal(room.emptyTimeout, 300)
  t.same(room.metadata, {})
  t.equal(room.peerCount, 0)
  t.equal(new Date(room.createdAt).toISOString(), room.createdAt, 'createdAt is ISO 8601')
})

t.test('POST /rooms keeps the given fields', async (t) => {
  const app = await buildTestApp(t)
  const body = { roomId: 'team-42_a', maxPeers: 2, emptyTimeout: 0, metadata: { topic: 'standup', n: [1, 2] } }
  const res = await app.inject({ method: 'POST', url: '/rooms', headers: auth, payload: body })
  t.equal(res.statusCode, 201)
  t.match(res.json(), { ...body, peerCount: 0 })
})

t.test('POST /rooms answers 409 ROOM_EXISTS for a taken id', async (t) => {
  const app = await buildTestApp(t)
  await app.inject({ method: 'POST', url: '/rooms', headers: auth, payload: { roomId: 'dup' } })
  const res = await app.inject({ method: 'POST', url: '/rooms', headers: auth, payload: { roomId: 'dup' } })
  t.equal(res.statusCode, 409)
  t.same(res.json(), { statusCode: 409, code: 'ROOM_EXISTS', error: 'Conflict', message: 'Room dup already exists' })
})

t.test('POST /rooms answers 400 INVALID_REQUEST for each malformed body', async (t) => {
  const app = await buildTestApp(t)
  const bad: Array<[string, unknown]> = [
    ['unknown field', { roomId: 'a', color: 'red' }],
    ['roomId with a space', { roomId: 'a b' }],
    ['roomId too long', { roomId: 'x'.repeat(65) }],
    ['empty roomId', { roomId: '' }],
    ['maxPeers below 2', { maxPeers: 1 }],
    ['maxPeers above 1000', { maxPeers: 1001 }],
    ['maxPeers not an integer', { maxPeers: 2.5 }],
    ['maxPeers as a string', { maxPeers: '10' }],
    ['negative emptyTimeout', { emptyTimeout: -1 }],
    ['emptyTimeout above a day', { emptyTimeout: 86401 }],
    ['metadata not an object', { metadata: 'x' }],
    ['metadata an array', { metadata: [1] }],
    ['metadata over 4 KiB', { metadata: { blob: 'x'.repeat(4100) } }],
    ['body not an object', [1, 2]],
    ['body null', null]
  ]
  for (const [name, payload] of bad) {
    const res = await app.inject({ method: 'POST', url: '/rooms', headers: { ...auth, 'content-type': 'application/json' }, payload: JSON.stringify(payload) })
    t.equal(res.statusCode, 400, name)
    t.equal(res.json().code, 'INVALID_REQUEST', name)
    t.same(Object.keys(res.json()).sort(), ['code', 'error', 'message', 'statusCode'], `${name}: error shape`)
  }
  // nested deeper than JSON.stringify can recurse, yet well under the body limit
  const deep = await app.inject({ method: 'POST', url: '/rooms', headers: { ...auth, 'content-type': 'application/json' }, payload: `{"metadata":{"a":${'['.repeat(12_000)}${']'.repeat(12_000)}}}` })
  t.equal(deep.statusCode, 400, 'deeply nested metadata')
  t.equal(deep.json().code, 'INVALID_REQUEST', 'deeply nested metadata')
  const notJson = await app.inject({ method: 'POST', url: '/rooms', headers: { ...auth, 'content-type': 'application/json' }, payload: '{"roomId":' })
  t.equal(notJson.statusCode, 400)
  t.equal(notJson.json().code, 'INVALID_REQUEST', 'invalid JSON')
  t.equal((await app.inject({ method: 'GET', url: '/rooms', headers: auth })).json().rooms.length, 0, 'nothing was created')
})

t.test('every /rooms route answers 401 UNAUTHORIZED without the API key', async (t) => {
  const app = await buildTestApp(t)
  const routes: Array<[string, string]> = [
    ['POST', '/rooms'], ['GET', '/rooms'], ['GET', '/rooms/a'], ['DELETE', '/rooms/a'],
    ['DELETE', '/rooms/a/peers/b'], ['POST', '/rooms/a/tokens']
  ]
  const headers: Array<[string, Record<string, string>]> = [
    ['no header', {}],
    ['wrong key', { authorization: 'Bearer nope' }],
    ['key as prefix', { authorization: `Bearer ${TEST_API_KEY}x` }],
    ['same length, last character changed', { authorization: `Bearer ${TEST_API_KEY.slice(0, -1)}X` }],
    ['a prefix of the key', { authorization: `Bearer ${TEST_API_KEY.slice(0, -1)}` }],
    ['not a bearer', { authorization: `Basic ${TEST_API_KEY}` }]
  ]
  for (const [method, url] of routes) {
    for (const [name, h] of headers) {
      const res = await app.inject({ method: method as 'GET', url, headers: h })
      t.equal(res.statusCode, 401, `${method} ${url} ${name}`)
      t.equal(res.json().code, 'UNAUTHORIZED', `${method} ${url} ${name}`)
    }
  }
})

t.test('GET /rooms lists every room', async (t) => {
  const app = await buildTestApp(t)
  for (const roomId of ['a', 'b']) await app.inject({ method: 'POST', url: '/rooms', headers: auth, payload: { roomId } })
  const res = await app.inject({ method: 'GET', url: '/rooms', headers: auth })
  t.equal(res.statusCode, 200)
  t.same(res.json().rooms.map((r: { roomId: string }) => r.roomId).sort(), ['a', 'b'])
})

t.test('GET /rooms/{roomId} shows the room with its peers; 404 ROOM_NOT_FOUND otherwise', async (t) => {
  const server = await startServer(t)
  await server.createRoom({ roomId: 'r', metadata: { a: 1 } })
  await server.join('r', 'alice', { name: 'Alice' })
  const res = await server.app.inject({ method: 'GET', url: '/rooms/r', headers: auth })
  t.equal(res.statusCode, 200)
  const room = res.json()
  t.match(room, { roomId: 'r', peerCount: 1, metadata: { a: 1 } })
  t.equal(room.peers.length, 1)
  t.match(room.peers[0], { peerId: 'alice', metadata: { name: 'Alice' } })
  t.equal(new Date(room.peers[0].joinedAt).toISOString(), room.peers[0].joinedAt)
  const missing = await server.app.inject({ method: 'GET', url: '/rooms/nope', headers: auth })
  t.equal(missing.statusCode, 404)
  t.same(missing.json(), { statusCode: 404, code: 'ROOM_NOT_FOUND', error: 'Not Found', message: 'Room nope not found' })
  const invalid = await server.app.inject({ method: 'GET', url: '/rooms/bad%20id', headers: auth })
  t.equal(invalid.json().code, 'INVALID_REQUEST')
})

t.test('DELETE /rooms/{roomId} answers 204, then 404', async (t) => {
  const app = await buildTestApp(t)
  await app.inject({ method: 'POST', url: '/rooms', headers: auth, payload: { roomId: 'gone' } })
  const res = await app.inject({ method: 'DELETE', url: '/rooms/gone', headers: auth })
  t.equal(res.statusCode, 204)
  t.equal(res.body, '')
  const again = await app.inject({ method: 'DELETE', url: '/rooms/gone', headers: auth })
  t.equal(again.statusCode, 404)
  t.equal(again.json().code, 'ROOM_NOT_FOUND')
})

t.test('DELETE /rooms/{roomId}/peers/{peerId} answers 404 ROOM_NOT_FOUND or PEER_NOT_FOUND', async (t) => {
  const app = await buildTestApp(t)
  let res = await app.inject({ method: 'DELETE', url: '/rooms/none/peers/p', headers: auth })
  t.equal(res.statusCode, 404)
  t.equal(res.json().code, 'ROOM_NOT_FOUND')
  await app.inject({ method: 'POST', url: '/rooms', headers: auth, payload: { roomId: 'r' } })
  res = await app.inject({ method: 'DELETE', url: '/rooms/r/peers/p', headers: auth })
  t.equal(res.statusCode, 404)
  t.same(res.json(), { statusCode: 404, code: 'PEER_NOT_FOUND', error: 'Not Found', message: 'Peer p not found' })
})

t.test('unknown routes answer 404 ROUTE_NOT_FOUND in the same error shape', async (t) => {
  const app = await buildTestApp(t)
  const res = await app.inject({ method: 'GET', url: '/nope?token=secret' })
  t.equal(res.statusCode, 404)
  t.same(res.json(), { statusCode: 404, code: 'ROUTE_NOT_FOUND', error: 'Not Found', message: 'Route GET /nope?[redacted] not found' })
})
