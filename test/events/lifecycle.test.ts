// The lifecycle events in process: what each event says, when, and what produces none.
import t from 'tap'
import type { SignallingEvent } from '../../lib/events/types.js'
import { startServer } from '../helper.js'
import { until } from './receiver.js'

t.test('every event is told to the listeners of its type, numbered per room, with the room and the peer', async (t) => {
  const server = await startServer(t, { resume: { grace: 100 } })
  const seen: SignallingEvent[] = []
  const joins: string[] = []
  for (const type of ['room.created', 'room.deleted', 'peer.joined', 'peer.left'] as const) server.app.signalling.on(type, (event) => seen.push(event))
  const onJoin = (event: SignallingEvent<'peer.joined'>): void => { joins.push(event.data.peer.peerId) }
  server.app.signalling.on('peer.joined', onJoin)
  const room = await server.createRoom({ roomId: 'r', metadata: { topic: 'x' } })
  await server.createRoom({ roomId: 'other' })
  const alice = await server.join('r', 'alice', { name: 'Alice' })
  const bob = await server.join('r', 'bob')
  server.app.signalling.off('peer.joined', onJoin)
  await server.join('other', 'carol')
  bob.send({ type: 'leave' })
  await alice.next('peer-left')
  await server.app.signalling.kick('r', 'alice')
  await server.app.signalling.deleteRoom('r')
  await until(() => seen.filter((e) => e.roomId === 'r').length === 6, 'six events of room r')
  const r = seen.filter((e) => e.roomId === 'r')
  t.same(r.map((e) => [e.type, e.seq]), [['room.created', 1], ['peer.joined', 2], ['peer.joined', 3], ['peer.left', 4], ['peer.left', 5], ['room.deleted', 6]])
  t.same(r[0]!.data, { room }, 'room.created: the room as POST /rooms answered it')
  t.match(r[1]!.data, { peer: { peerId: 'alice', metadata: { name: 'Alice' }, joinedAt: String } })
  t.match(r[3]!.data, { peer: { peerId: 'bob', metadata: {} }, reason: 'left' })
  t.match(r[4]!.data, { peer: { peerId: 'alice', metadata: { name: 'Alice' }, joinedAt: String }, reason: 'kicked' }, 'peer.left shows the peer as it joined')
  t.match(r[5]!.data, { reason: 'api', room: { roomId: 'r', metadata: { topic: 'x' } } })
  for (const event of seen) {
    t.match(event.id, /^evt_[0-9a-f]{32}$/)
    t.ok(Date.parse(event.timestamp) > 0)
  }
  t.equal(new Set(seen.map((e) => e.id)).size, seen.length, 'ids are unique')
  t.same(seen.filter((e) => e.roomId === 'other').map((e) => e.seq), [1, 2], 'each room has its own numbering')
  t.same(joins, ['alice', 'bob'], 'off stops the listener')
})

t.test('a resume within the grace period is neither a departure nor a join; its expiry is peer.left disconnected', async (t) => {
  const server = await startServer(t, { resume: { grace: 300 } })
  const seen: string[] = []
  server.app.signalling.on('peer.joined', (e) => seen.push(`joined ${e.data.peer.peerId}`))
  server.app.signalling.on('peer.left', (e) => seen.push(`left ${e.data.peer.peerId} ${e.data.reason}`))
  await server.createRoom({ roomId: 'r' })
  const alice = await server.join('r', 'alice')
  await server.join('r', 'bob')
  await until(() => seen.length === 2, 'two joins')
  alice.socket.terminate()
  await new Promise((resolve) => setTimeout(resolve, 50))
  const { TestPeer } = await import('../helper.js')
  const back = await TestPeer.connect(t, `${server.wsUrl}?token=${encodeURIComponent(alice.welcome!.resumeToken as string)}&lastSeq=${alice.lastSeq}`)
  t.match(await back.next('welcome'), { resumed: true })
  await new Promise((resolve) => setTimeout(resolve, 400))
  t.same(seen, ['joined alice', 'joined bob'], 'no left/joined pair for the resume')
  back.socket.terminate()
  await until(() => seen.length === 3, 'the end of the grace period')
  t.same(seen[2], 'left alice disconnected')
})

t.test('a room left empty past its emptyTimeout is room.deleted empty-timeout, once', async (t) => {
  const server = await startServer(t)
  const deleted: SignallingEvent<'room.deleted'>[] = []
  server.app.signalling.on('room.deleted', (e) => deleted.push(e))
  await server.createRoom({ roomId: 'r', emptyTimeout: 1 })
  const alice = await server.join('r', 'alice')
  alice.send({ type: 'leave' })
  await until(() => deleted.length === 1, 'the expiry', 5000)
  t.same(deleted[0]!.data, { reason: 'empty-timeout' })
  t.equal(deleted[0]!.seq, 4, 'after room.created, peer.joined and peer.left')
  await new Promise((resolve) => setTimeout(resolve, 300))
  t.equal(deleted.length, 1)
  await t.rejects(server.app.signalling.room('r'), { code: 'ROOM_NOT_FOUND' })
})

t.test('a listener that throws is logged and does not stop the others', async (t) => {
  const server = await startServer(t)
  const seen: string[] = []
  server.app.signalling.on('room.created', () => { throw new Error('boom') })
  server.app.signalling.on('room.created', (e) => seen.push(e.roomId))
  await server.createRoom({ roomId: 'r' })
  await until(() => seen.length === 1, 'the second listener')
  t.same(seen, ['r'])
})
