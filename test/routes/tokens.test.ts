import t from 'tap'
import { createDecoder } from 'fast-jwt'
import { MemoryRoomRegistry } from '../../lib/room-registry.js'
import { buildTestApp, TEST_API_KEY } from '../helper.js'

const auth = { authorization: `Bearer ${TEST_API_KEY}` }
const decode = createDecoder({ complete: true })

t.test('POST /rooms/{roomId}/tokens issues an HS256 join token with the claims', async (t) => {
  const app = await buildTestApp(t)
  await app.inject({ method: 'POST', url: '/rooms', headers: auth, payload: { roomId: 'r' } })
  const before = Math.floor(Date.now() / 1000)
  const res = await app.inject({ method: 'POST', url: '/rooms/r/tokens', headers: auth, payload: { peerId: 'alice', ttl: 60, metadata: { name: 'Alice ✓' } } })
  t.equal(res.statusCode, 201)
  const body = res.json()
  t.same(Object.keys(body).sort(), ['expiresAt', 'peerId', 'roomId', 'token'])
  t.equal(body.peerId, 'alice')
  t.equal(body.roomId, 'r')
  const { header, payload } = decode(body.token)
  t.equal(header.alg, 'HS256')
  t.match(payload, { sub: 'alice', room: 'r', aud: 'signalling-join', metadata: { name: 'Alice ✓' } })
  t.equal(payload.exp - payload.iat, 60, 'exp is iat + ttl')
  t.ok(payload.iat >= before && payload.iat <= before + 2, 'iat is now')
  t.equal(body.expiresAt, new Date(payload.exp * 1000).toISOString())
})

t.test('a token without peerId gets a random one; ttl defaults to an hour; no body is fine', async (t) => {
  const app = await buildTestApp(t)
  await app.inject({ method: 'POST', url: '/rooms', headers: auth, payload: { roomId: 'r' } })
  const a = (await app.inject({ method: 'POST', url: '/rooms/r/tokens', headers: auth })).json()
  const b = (await app.inject({ method: 'POST', url: '/rooms/r/tokens', headers: auth, payload: {} })).json()
  t.match(a.peerId, /^[A-Za-z0-9_-]{1,64}$/)
  t.not(a.peerId, b.peerId)
  const { payload } = decode(a.token)
  t.equal(payload.exp - payload.iat, 3600)
})

t.test('generated peer and room ids are 32 hex digits that never repeat, across refills of the random pool', async (t) => {
  const app = await buildTestApp(t)
  const room = await app.signalling.createRoom({})
  const ids = [room.roomId]
  // the pool holds 256 ids: 600 cross two refills
  for (let i = 0; i < 600; i++) ids.push((await app.signalling.issueToken(room.roomId)).peerId)
  t.equal(ids.filter((id) => /^[0-9a-f]{32}$/.test(id)).length, ids.length, 'all 32 hex digits')
  t.equal(new Set(ids).size, ids.length, 'all different')
})

t.test('POST /rooms/{roomId}/tokens answers 404 for a missing room and 400 for bad input', async (t) => {
  const app = await buildTestApp(t)
  const missing = await app.inject({ method: 'POST', url: '/rooms/none/tokens', headers: auth, payload: {} })
  t.equal(missing.statusCode, 404)
  t.equal(missing.json().code, 'ROOM_NOT_FOUND')
  await app.inject({ method: 'POST', url: '/rooms', headers: auth, payload: { roomId: 'r' } })
  const bad: Array<[string, unknown]> = [
    ['ttl below 10', { ttl: 9 }],
    ['ttl above a day', { ttl: 86401 }],
    ['peerId with a slash', { peerId: 'a/b' }],
    ['metadata over 1 KiB', { metadata: { name: 'x'.repeat(1030) } }],
    ['unknown field', { role: 'admin' }]
  ]
  for (const [name, payload] of bad) {
    const res = await app.inject({ method: 'POST', url: '/rooms/r/tokens', headers: auth, payload: payload as object })
    t.equal(res.statusCode, 400, name)
    t.equal(res.json().code, 'INVALID_REQUEST', name)
  }
  const deep = await app.inject({ method: 'POST', url: '/rooms/r/tokens', headers: { ...auth, 'content-type': 'application/json' }, payload: `{"metadata":{"a":${'['.repeat(12_000)}${']'.repeat(12_000)}}}` })
  t.equal(deep.statusCode, 400, 'deeply nested metadata')
  t.equal(deep.json().code, 'INVALID_REQUEST', 'deeply nested metadata')
})

t.test('the token reply is JSON with a JSON content type, byte for byte what JSON.stringify makes of it', async (t) => {
  const app = await buildTestApp(t)
  await app.inject({ method: 'POST', url: '/rooms', headers: auth, payload: { roomId: 'r' } })
  const res = await app.inject({ method: 'POST', url: '/rooms/r/tokens', headers: auth, payload: { peerId: 'alice' } })
  t.equal(res.statusCode, 201)
  t.equal(res.headers['content-type'], 'application/json; charset=utf-8')
  const body = res.json()
  t.equal(res.body, JSON.stringify({ token: body.token, peerId: body.peerId, roomId: body.roomId, expiresAt: body.expiresAt }))
  const missing = await app.inject({ method: 'POST', url: '/rooms/nope/tokens', headers: auth, payload: {} })
  t.equal(missing.statusCode, 404)
  t.same(missing.json(), { statusCode: 404, code: 'ROOM_NOT_FOUND', error: 'Not Found', message: missing.json().message })
})

t.test('a registry that cannot tell at once whether a room exists issues tokens through its promise', async (t) => {
  const registry = new MemoryRoomRegistry()
  // a store of its own without the optional `exists`: the route falls back to `get`
  const withoutExists = new Proxy(registry, {
    get (target, name) {
      if (name === 'exists') return undefined
      const value = Reflect.get(target, name, target) as unknown
      return typeof value === 'function' ? value.bind(target) : value
    }
  })
  const app = await buildTestApp(t, { registry: withoutExists })
  await app.inject({ method: 'POST', url: '/rooms', headers: auth, payload: { roomId: 'r' } })
  const res = await app.inject({ method: 'POST', url: '/rooms/r/tokens', headers: auth, payload: { peerId: 'bob' } })
  t.equal(res.statusCode, 201)
  t.equal(res.headers['content-type'], 'application/json; charset=utf-8')
  t.equal(decode(res.json().token).payload.sub, 'bob')
  const missing = await app.inject({ method: 'POST', url: '/rooms/nope/tokens', headers: auth, payload: {} })
  t.equal(missing.statusCode, 404)
  t.equal(missing.json().code, 'ROOM_NOT_FOUND')
  t.equal((await app.signalling.issueToken('r', { peerId: 'carol' })).peerId, 'carol', 'the decorator too')
})
