// POST /rooms/{id}/messages and the decorator's send: messages from the backend, and a sender no peer can take.
import { test } from 'tap'
import { MAX_FRAME_BYTES } from '../../lib/protocol.js'
import { startServer, TEST_API_KEY } from '../helper.js'

const auth = { authorization: `Bearer ${TEST_API_KEY}` }

test('a message from the backend reaches one peer, or every peer of the room, from @server', async (t) => {
  const server = await startServer(t)
  await server.createRoom({ roomId: 'r' })
  const alice = await server.join('r', 'alice')
  const bob = await server.join('r', 'bob')
  await alice.next('peer-joined')

  const one = await server.app.inject({ method: 'POST', url: '/rooms/r/messages', headers: auth, payload: { to: 'bob', data: { ended: true } } })
  t.equal(one.statusCode, 202)
  t.equal(one.body, '')
  t.same(await bob.next('message'), { type: 'message', from: '@server', data: { ended: true } })
  await alice.settle()
  t.same(alice.received.filter((m) => m.type === 'message'), [], 'a message with `to` reaches that peer only')

  const all = await server.app.inject({ method: 'POST', url: '/rooms/r/messages', headers: auth, payload: { data: ['to', 'all'] } })
  t.equal(all.statusCode, 202)
  t.same(await alice.next('message'), { type: 'message', from: '@server', data: ['to', 'all'] })
  t.same(await bob.next('message'), { type: 'message', from: '@server', data: ['to', 'all'] })

  await server.app.signalling.send('r', 'by the decorator', { to: 'alice' })
  t.same(await alice.next('message'), { type: 'message', from: '@server', data: 'by the decorator' })
  await server.app.signalling.send('r', null)
  t.same(await bob.next('message'), { type: 'message', from: '@server', data: null }, 'null is a value like any other')
  t.same(await alice.next('message'), { type: 'message', from: '@server', data: null })
})

test('a peer cannot send as @server: `from` is always its own id', async (t) => {
  const server = await startServer(t)
  await server.createRoom({ roomId: 'r' })
  const alice = await server.join('r', 'alice')
  const bob = await server.join('r', 'bob')
  const forged = [
    { type: 'message', from: '@server', data: 1 },
    { type: 'message', to: 'bob', from: '@server', data: 2 },
    { from: '@server', type: 'message', to: 'bob', data: 3 },
    { type: 'offer', to: 'bob', data: 4, from: 'server' }
  ]
  for (const message of forged) alice.send(message)
  // the fast path reads `"data":` to the end: a `from` after it makes the frame take the full parse
  alice.send('{"type":"message","to":"bob","data":5,"from":"@server"}')
  for (const data of [1, 2, 3]) t.same(await bob.next('message'), { type: 'message', from: 'alice', data })
  t.same(await bob.next('offer'), { type: 'offer', from: 'alice', data: 4 })
  t.same(await bob.next('message'), { type: 'message', from: 'alice', data: 5 })
  const asServer = await server.issueToken('r', { peerId: '@server' }).catch((err: Error) => err)
  t.match(String(asServer), /400/, 'no token names @server as its peer')
  t.equal((await server.app.inject({ method: 'POST', url: '/rooms/r/tokens', headers: auth, payload: { peerId: '@server' } })).json().code, 'INVALID_REQUEST')
})

test('messages from the backend: each bad input has its typed error', async (t) => {
  const server = await startServer(t)
  await server.createRoom({ roomId: 'r' })
  const alice = await server.join('r', 'alice')
  const post = async (url: string, payload: unknown, headers: Record<string, string> = auth) =>
    await server.app.inject({ method: 'POST', url, headers: { ...headers, 'content-type': 'application/json' }, payload: JSON.stringify(payload) })

  const missing = await post('/rooms/nope/messages', { data: 1 })
  t.equal(missing.statusCode, 404)
  t.equal(missing.json().code, 'ROOM_NOT_FOUND')
  const nobody = await post('/rooms/r/messages', { data: 1, to: 'nobody' })
  t.equal(nobody.statusCode, 404)
  t.same(nobody.json(), { statusCode: 404, code: 'PEER_NOT_FOUND', error: 'Not Found', message: 'Peer nobody not found' })
  const big = await post('/rooms/r/messages', { data: 'x'.repeat(MAX_FRAME_BYTES) })
  t.equal(big.statusCode, 400)
  t.equal(big.json().code, 'INVALID_REQUEST')
  t.match(big.json().message, /exceeds 65536 bytes/)
  const huge = await post('/rooms/r/messages', { data: 'x'.repeat(2 * MAX_FRAME_BYTES) })
  t.equal(huge.statusCode, 413, 'a body far over the limit is refused before it is read whole')
  t.equal(huge.json().code, 'INVALID_REQUEST')
  t.equal((await post('/rooms/r/messages', { data: 'x'.repeat(MAX_FRAME_BYTES - 2) })).statusCode, 202, 'up to the limit it goes through')
  t.equal((await alice.next('message')).from, '@server')
  for (const body of [{}, { data: 1, to: 'not an id' }, { data: 1, extra: true }]) {
    const res = await post('/rooms/r/messages', body)
    t.equal(res.statusCode, 400, JSON.stringify(body))
    t.equal(res.json().code, 'INVALID_REQUEST')
  }
  const anonymous = await post('/rooms/r/messages', { data: 1 }, {})
  t.equal(anonymous.statusCode, 401)
  t.equal(anonymous.json().code, 'UNAUTHORIZED')

  await t.rejects(server.app.signalling.send('nope', 1), { code: 'ROOM_NOT_FOUND' })
  await t.rejects(server.app.signalling.send('r', 1, { to: 'nobody' }), { code: 'PEER_NOT_FOUND' })
  await t.rejects(server.app.signalling.send('r', 'x'.repeat(MAX_FRAME_BYTES)), { code: 'INVALID_REQUEST' })
  await t.rejects(server.app.signalling.send('r', undefined), { code: 'INVALID_REQUEST' })
  await t.rejects(server.app.signalling.send('r', 1, { to: '@server' }), { code: 'INVALID_REQUEST' })
  await alice.settle()
  t.same(alice.received.filter((m) => m.type === 'message'), [], 'nothing refused was delivered')
})
