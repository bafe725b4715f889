import { test } from 'tap'
import type { Backplane } from '../../../lib/backplane.js'
import { LocalRooms, othersThan } from '../../../lib/relay/local-rooms.js'
import { LocalPeer } from '../../../lib/relay/peer.js'
import { silent } from '../../../lib/relay/types.js'

const peer = (peerId: string): LocalPeer => new LocalPeer(peerId, 'r1', {}, `n.${peerId}`, new Date().toISOString(), 0)

/** Records the rooms let go of: the only backplane call LocalRooms makes. */
function unwatching (): { backplane: Backplane, unwatched: string[] } {
  const unwatched: string[] = []
  return { unwatched, backplane: { unwatch: async (roomId: string) => { unwatched.push(roomId) } } as unknown as Backplane }
}

test('seat puts the peer here and records the others as remote', async (t) => {
  const rooms = new LocalRooms(undefined, silent)
  const room = rooms.room('r1')
  rooms.seat(room, peer('alice'), [{ peerId: 'alice', metadata: {} }, { peerId: 'bob', metadata: { n: 1 } }])
  t.equal(rooms.peer('r1', 'alice')?.peerId, 'alice')
  t.same([...room.remote!], [['bob', { n: 1 }]], 'bob is elsewhere')
  rooms.seat(room, peer('bob'), [])
  t.equal(room.remote!.size, 0, 'bob came here: no longer remote')
  t.equal(rooms.peerCount, 2)
})

test('a room of local peers only never makes a remote map', async (t) => {
  const rooms = new LocalRooms(undefined, silent)
  const room = rooms.room('r1')
  rooms.seat(room, peer('alice'), [{ peerId: 'alice', metadata: {} }])
  t.equal(room.remote, undefined)
})

test('notePresence follows peer-joined and peer-left of other nodes', async (t) => {
  const rooms = new LocalRooms(undefined, silent)
  const room = rooms.room('r1')
  const joined = JSON.stringify({ type: 'peer-joined', peer: { peerId: 'carol', metadata: {} } })
  t.equal(rooms.notePresence(room, joined), true, 'news: sent on to the local peers')
  t.ok(room.remote?.has('carol'))
  t.equal(rooms.notePresence(room, joined), false, 'a peer already known is not announced twice')
  t.equal(rooms.notePresence(room, JSON.stringify({ type: 'peer-left', peerId: 'carol', reason: 'left' })), true)
  t.notOk(room.remote?.has('carol'))
  t.equal(rooms.notePresence(room, joined), true, 'known again after it left')
})

test('an empty room is let go of, unless a join of it is under way', async (t) => {
  const { backplane, unwatched } = unwatching()
  const rooms = new LocalRooms(backplane, silent)
  rooms.opening('r1')
  const room = rooms.room('r1')
  rooms.dropIfEmpty('r1', room)
  t.equal(rooms.size, 1, 'kept while opening')
  rooms.opened('r1')
  t.equal(rooms.size, 0, 'dropped once the join is done and nobody is in it')
  t.same(unwatched, ['r1'], 'and unsubscribed')
  rooms.seat(rooms.room('r2'), peer('alice'), [])
  rooms.dropIfEmpty('r2', rooms.get('r2')!)
  t.equal(rooms.size, 1, 'a room with a peer stays')
})

test('othersThan lists every peer but one, as welcome shows them', async (t) => {
  t.same(othersThan('a', [{ peerId: 'a', metadata: {} }, { peerId: 'b', metadata: { x: 1 } }]), [{ peerId: 'b', metadata: { x: 1 } }])
})
