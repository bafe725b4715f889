// peer.metadata-updated: told once per replacement, wherever it came from, numbered with the room's other events.
import t from 'tap'
import type { SignallingEvent } from '../../lib/events/types.js'
import { startServer, TEST_API_KEY } from '../helper.js'
import { until } from './receiver.js'

t.test('a replaced metadata is an event of the room, from the decorator and from PATCH', async (t) => {
  const server = await startServer(t)
  const seen: SignallingEvent[] = []
  for (const type of ['peer.joined', 'peer.metadata-updated'] as const) server.app.signalling.on(type, (event) => seen.push(event))
  await server.createRoom({ roomId: 'r' })
  const alice = await server.join('r', 'alice', { name: 'Alice' })
  await server.app.signalling.updatePeer('r', 'alice', { name: 'Alice B.' })
  await alice.next('peer-updated')
  const reply = await server.app.inject({
    method: 'PATCH', url: '/rooms/r/peers/alice', headers: { authorization: `Bearer ${TEST_API_KEY}` }, payload: { metadata: { name: 'Al' } }
  })
  t.equal(reply.statusCode, 200)
  await until(() => seen.length === 3, 'three events')
  t.same(seen.map((e) => [e.type, e.seq]), [['peer.joined', 2], ['peer.metadata-updated', 3], ['peer.metadata-updated', 4]])
  t.match(seen[1]!.data, { peer: { peerId: 'alice', metadata: { name: 'Alice B.' }, joinedAt: String } })
  t.match(seen[2]!.data, { peer: { peerId: 'alice', metadata: { name: 'Al' } } })
  await t.rejects(server.app.signalling.updatePeer('r', 'nobody', {}), { code: 'PEER_NOT_FOUND' })
  t.equal(seen.length, 3, 'a refused update is no event')
})
