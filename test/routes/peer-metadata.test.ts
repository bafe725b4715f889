// PATCH /rooms/{id}/peers/{peerId}, the decorator's updatePeer, and a peer's own update behind its token's claim.
import { test } from 'tap'
import { startServer, TEST_API_KEY, TestPeer } from '../helper.js'
import type { PeerSummary } from '../../lib/schemas.js'

const auth = { authorization: `Bearer ${TEST_API_KEY}` }

test('PATCH replaces the metadata: every peer is told, GET and later joiners see it', async (t) => {
  const server = await startServer(t)
  await server.createRoom({ roomId: 'r' })
  const alice = await server.join('r', 'alice', { name: 'Alice' })
  const bob = await server.join('r', 'bob')
  await alice.next('peer-joined')
  const { joinedAt } = (await server.app.signalling.room('r')).peers.find((p) => p.peerId === 'alice')!

  const res = await server.app.inject({ method: 'PATCH', url: '/rooms/r/peers/alice', headers: auth, payload: { metadata: { name: 'Alice B.', list: [] } } })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { peerId: 'alice', metadata: { name: 'Alice B.', list: [] }, joinedAt })
  const told = { type: 'peer-updated', peer: { peerId: 'alice', metadata: { name: 'Alice B.', list: [] }, joinedAt } }
  t.same(await bob.next('peer-updated'), told, 'the other peers are told')
  t.same(await alice.next('peer-updated'), told, 'the peer itself learns of it too')
  t.same((await server.app.signalling.room('r')).peers.find((p) => p.peerId === 'alice')?.metadata, { name: 'Alice B.', list: [] }, 'GET /rooms/{id} shows it')

  const carol = await server.join('r', 'carol')
  t.same(carol.welcome?.peers, [{ peerId: 'alice', metadata: { name: 'Alice B.', list: [] } }, { peerId: 'bob', metadata: {} }], 'a later joiner sees it in welcome')

  t.same(await server.app.signalling.updatePeer('r', 'bob', { role: 'host' }), { peerId: 'bob', metadata: { role: 'host' }, joinedAt: (await server.app.signalling.room('r')).peers.find((p) => p.peerId === 'bob')!.joinedAt })
  for (const peer of [alice, bob, carol]) t.same(((await peer.next('peer-updated')).peer as PeerSummary).metadata, { role: 'host' })
})

test('a resumed session keeps the new metadata', async (t) => {
  const server = await startServer(t, { resume: { grace: 5000 } })
  await server.createRoom({ roomId: 'r' })
  const alice = await server.join('r', 'alice', { name: 'old' })
  const bob = await server.join('r', 'bob')
  await server.app.signalling.updatePeer('r', 'alice', { name: 'new' })
  await alice.next('peer-updated')
  await bob.next('peer-updated')
  alice.socket.terminate()
  await alice.closed
  const again = await TestPeer.connect(t, `${server.wsUrl}?token=${encodeURIComponent(alice.welcome?.resumeToken as string)}&lastSeq=${alice.lastSeq}`, {}, alice.lastSeq)
  const welcome = await again.next('welcome')
  t.equal(welcome.resumed, true)
  t.same((await server.app.signalling.room('r')).peers.find((p) => p.peerId === 'alice')?.metadata, { name: 'new' })
  const claims = server.app.signalling.verifyToken(welcome.resumeToken as string)
  t.same(claims.metadata, { name: 'new' }, 'the new resume token carries the current metadata')
  await bob.settle()
  t.same(bob.received.filter((m) => m.type === 'peer-left' || m.type === 'peer-joined'), [], 'no churn')
})

test('a peer updates its own metadata only with the claim of its token', async (t) => {
  const server = await startServer(t, { resume: { grace: 5000 } })
  await server.createRoom({ roomId: 'r' })
  const bob = await server.join('r', 'bob')
  const plain = await TestPeer.connect(t, `${server.wsUrl}?token=${(await server.issueToken('r', { peerId: 'plain' })).token}`)
  await plain.next('welcome')
  plain.send({ type: 'update-metadata', metadata: { name: 'me' }, id: 7 })
  t.same(await plain.next('error'), { type: 'error', code: 'FORBIDDEN', message: 'Forbidden: this peer\'s join token does not allow it to update its metadata', id: 7 })
  const explicit = await server.issueToken('r', { peerId: 'off', canUpdateMetadata: false })
  t.equal(server.app.signalling.verifyToken(explicit.token).canUpdateMetadata, undefined, 'false is the default, and no claim at all')

  const { token } = await server.issueToken('r', { peerId: 'self', metadata: { name: 'before' }, canUpdateMetadata: true })
  t.equal(server.app.signalling.verifyToken(token).canUpdateMetadata, true)
  const self = await TestPeer.connect(t, `${server.wsUrl}?token=${token}`)
  self.welcome = await self.next('welcome')
  self.send({ type: 'update-metadata', metadata: { name: 'after' } })
  const told = await bob.next('peer-updated')
  t.same(told.peer, { peerId: 'self', metadata: { name: 'after' }, joinedAt: (told.peer as PeerSummary).joinedAt })
  t.same((await self.next('peer-updated')).peer, told.peer, 'the peer gets the same message: its confirmation')
  t.same((await server.app.signalling.room('r')).peers.find((p) => p.peerId === 'self')?.metadata, { name: 'after' })
  await plain.settle()
  t.same(plain.received.filter((m) => m.type === 'peer-updated').length, 1, 'the refused update was announced to nobody')

  for (const [metadata, reason] of [[[1], /metadata/], ['name', /metadata/], [{ name: 'x'.repeat(1100) }, /exceeds 1024 bytes/]] as const) {
    self.send({ type: 'update-metadata', metadata, id: 'bad' })
    const error = await self.next('error')
    t.equal(error.code, 'INVALID_MESSAGE', JSON.stringify(metadata).slice(0, 30))
    t.match(error.message, reason)
    t.equal(error.id, 'bad')
  }

  // the right goes with the session: kept after a resume with the resume token, which has no claim of its own
  self.socket.terminate()
  await self.closed
  const again = await TestPeer.connect(t, `${server.wsUrl}?token=${encodeURIComponent(self.welcome.resumeToken as string)}&lastSeq=${self.lastSeq}`, {}, self.lastSeq)
  t.equal((await again.next('welcome')).resumed, true)
  again.send({ type: 'update-metadata', metadata: { name: 'resumed' } })
  t.same(((await bob.next('peer-updated')).peer as PeerSummary).metadata, { name: 'resumed' })
})

test('PATCH: each bad input has its typed error', async (t) => {
  const server = await startServer(t)
  await server.createRoom({ roomId: 'r' })
  const alice = await server.join('r', 'alice')
  const patch = async (url: string, payload: unknown, headers: Record<string, string> = auth) =>
    await server.app.inject({ method: 'PATCH', url, headers: { ...headers, 'content-type': 'application/json' }, payload: JSON.stringify(payload) })
  const cases: Array<[string, unknown, number, string]> = [
    ['/rooms/nope/peers/alice', { metadata: {} }, 404, 'ROOM_NOT_FOUND'],
    ['/rooms/r/peers/nobody', { metadata: {} }, 404, 'PEER_NOT_FOUND'],
    ['/rooms/r/peers/alice', { metadata: { name: 'x'.repeat(1100) } }, 400, 'INVALID_REQUEST'],
    ['/rooms/r/peers/alice', { metadata: [1, 2] }, 400, 'INVALID_REQUEST'],
    ['/rooms/r/peers/alice', { metadata: 'name' }, 400, 'INVALID_REQUEST'],
    ['/rooms/r/peers/alice', { metadata: null }, 400, 'INVALID_REQUEST'],
    ['/rooms/r/peers/alice', {}, 400, 'INVALID_REQUEST'],
    ['/rooms/r/peers/@server', { metadata: {} }, 400, 'INVALID_REQUEST']
  ]
  for (const [url, body, status, code] of cases) {
    const res = await patch(url, body)
    t.equal(res.statusCode, status, `${url} ${JSON.stringify(body).slice(0, 40)}`)
    t.equal(res.json().code, code)
  }
  t.match((await patch('/rooms/r/peers/alice', { metadata: { name: 'x'.repeat(1100) } })).json().message, /exceeds 1024 bytes/)
  t.equal((await patch('/rooms/r/peers/alice', { metadata: {} }, {})).statusCode, 401)
  await t.rejects(server.app.signalling.updatePeer('r', 'alice', [] as unknown as Record<string, unknown>), { code: 'INVALID_REQUEST' })
  await t.rejects(server.app.signalling.updatePeer('r', 'nobody', {}), { code: 'PEER_NOT_FOUND' })
  await t.rejects(server.app.signalling.updatePeer('nope', 'alice', {}), { code: 'ROOM_NOT_FOUND' })
  await alice.settle()
  t.same(alice.received.filter((m) => m.type === 'peer-updated'), [], 'nothing refused was announced')
  t.same((await server.app.signalling.room('r')).peers[0]?.metadata, {})
})
