import t from 'tap'
import { MemoryRoomRegistry } from '../../lib/room-registry.js'

const record = (roomId: string, maxPeers = 2, emptyTimeout = 300) =>
  ({ roomId, maxPeers, emptyTimeout, metadata: {}, createdAt: new Date().toISOString() })
const peer = (peerId: string) => ({ peerId, metadata: {}, joinedAt: new Date().toISOString() })

t.test('join counts peers, replaces the same id, and refuses a full room', async (t) => {
  const registry = new MemoryRoomRegistry()
  t.teardown(() => registry.close())
  await registry.create(record('r'))
  t.same(await registry.join('r', peer('a'), 'c1'), { outcome: 'joined' })
  t.same(await registry.join('r', peer('a'), 'c2'), { outcome: 'replaced', replacedConnection: 'c1' })
  t.same(await registry.join('r', peer('b'), 'c3'), { outcome: 'joined' })
  await t.rejects(registry.join('r', peer('c'), 'c4'), { code: 'ROOM_FULL' })
  t.same(await registry.join('r', peer('b'), 'c5'), { outcome: 'replaced', replacedConnection: 'c3' }, 'replacing does not need a free place')
  await t.rejects(registry.join('none', peer('a'), 'c6'), { code: 'ROOM_NOT_FOUND' })
  t.equal((await registry.get('r'))?.peerCount, 2)
  t.equal(await registry.leave('r', 'a', 'c1'), false, 'a replaced connection cannot remove its successor')
  t.equal(await registry.leave('r', 'a', 'c2'), true)
  t.equal(await registry.leave('r', 'a', 'c2'), false)
  t.same((await registry.peers('r')).map((p) => p.peerId), ['b'])
})

t.test('an empty room expires after emptyTimeout and listeners hear of it', async (t) => {
  const registry = new MemoryRoomRegistry()
  t.teardown(() => registry.close())
  const expired: string[] = []
  registry.onExpired((roomId) => expired.push(roomId))
  await registry.create(record('quick', 2, 0))
  await registry.join('quick', peer('a'), 'c1')
  await registry.leave('quick', 'a', 'c1')
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.same(expired, ['quick'], 'emptyTimeout 0 deletes the room as soon as its last peer leaves')
  t.equal(await registry.get('quick'), undefined)
})

t.test('an expiry set before a join and a leave, or before a delete and a re-creation, deletes nothing', async (t) => {
  const registry = new MemoryRoomRegistry()
  t.teardown(() => registry.close())
  const expired: string[] = []
  registry.onExpired((roomId) => expired.push(roomId))
  await registry.create(record('left', 2, 1))
  await registry.create(record('again', 2, 1))
  await registry.join('left', peer('a'), 'c1')
  await new Promise((resolve) => setTimeout(resolve, 400))
  // both now expire at 1.4 s; the expiries set at creation come due at 1 s
  await registry.leave('left', 'a', 'c1')
  await registry.delete('again')
  await registry.create(record('again', 2, 1))
  t.equal((await registry.get('left'))?.peerCount, 0, 'the last leave empties the room')
  await new Promise((resolve) => setTimeout(resolve, 750))
  t.ok(await registry.get('left'), 'kept: it has been empty for less than its emptyTimeout')
  t.ok(await registry.get('again'), 'kept: the room of that id was made again')
  t.same(expired, [])
  await new Promise((resolve) => setTimeout(resolve, 650))
  t.equal(await registry.get('left'), undefined)
  t.equal(await registry.get('again'), undefined)
  t.same(expired.sort(), ['again', 'left'])
})

t.test('a room created with emptyTimeout 0 still waits for its first peer', async (t) => {
  const registry = new MemoryRoomRegistry()
  t.teardown(() => registry.close())
  await registry.create(record('fresh', 2, 0))
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.ok(await registry.get('fresh'))
})

t.test('kicks are kept per room and go with it', async (t) => {
  const registry = new MemoryRoomRegistry()
  t.teardown(() => registry.close())
  await registry.create(record('r'))
  t.equal(await registry.kickedAt('r', 'a'), undefined)
  await registry.recordKick('r', 'a', 1000)
  await registry.recordKick('r', 'a', 1005)
  t.equal(await registry.kickedAt('r', 'a'), 1005, 'the last kick counts')
  t.equal(await registry.kickedAt('r', 'b'), undefined)
  await registry.recordKick('none', 'a', 1000)
  t.equal(await registry.kickedAt('none', 'a'), undefined, 'a kick in a missing room records nothing')
  await registry.delete('r')
  await registry.create(record('r'))
  t.equal(await registry.kickedAt('r', 'a'), undefined, 'a room created again starts with no kicks')
})

t.test('exists answers at once, without building the room', async (t) => {
  const registry = new MemoryRoomRegistry()
  t.equal(registry.exists('r'), false)
  await registry.create({ roomId: 'r', maxPeers: 2, emptyTimeout: 60, metadata: {}, createdAt: new Date().toISOString() })
  t.equal(registry.exists('r'), true)
  await registry.delete('r')
  t.equal(registry.exists('r'), false)
  await registry.close()
})
