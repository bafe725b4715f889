// y-webrtc subscribers on two nodes on one real Redis: publishes both ways with the topic's `clients` counted across
// nodes, unsubscribe, and a kick asked of the node the subscriber is not on.
import t from 'tap'
import { startServer, TEST_API_KEY, type TestServer } from '../helper.js'
import { requireProgram } from '../support/programs.js'
import { startRedis } from '../support/redis.js'
import { YWebrtcWire } from '../support/y-webrtc-wire.js'

const yjsOf = (server: TestServer): string => `${server.wsUrl.slice(0, -'/ws'.length)}/yjs`
const idsOf = async (server: TestServer, roomId: string): Promise<string[]> =>
  (await server.app.signalling.room(roomId)).peers.map((peer) => peer.peerId)

if (requireProgram(t, 'redis-server') !== undefined) {
  t.test('two nodes: publishes both ways, `clients` across nodes, unsubscribe and a kick across nodes', async (t) => {
    const redis = await startRedis(t)
    if (redis === undefined) return
    const options = { yWebrtc: true, redis: { url: redis.url, keyPrefix: 'ywr:', nodeTtl: 2000 } }
    const one = await startServer(t, options)
    const two = await startServer(t, options)
    const a = await YWebrtcWire.open(t, yjsOf(one))
    const b = await YWebrtcWire.open(t, yjsOf(two))
    const c = await YWebrtcWire.open(t, yjsOf(two))
    await a.subscribe('doc')
    await c.subscribe('doc')
    const before = await idsOf(one, 'doc')
    await b.subscribe('doc')
    const bId = (await idsOf(two, 'doc')).find((id) => !before.includes(id))!
    t.same((await idsOf(one, 'doc')).sort(), (await idsOf(two, 'doc')).sort(), 'both nodes see the one room')

    const announce = { type: 'publish', topic: 'doc', data: { type: 'announce', from: 'a' } }
    a.send(announce)
    t.same(await a.next('publish'), { ...announce, clients: 3 })
    t.same(await b.next('publish'), { ...announce, clients: 3 })
    t.same(await c.next('publish'), { ...announce, clients: 3 })
    b.send({ type: 'publish', topic: 'doc', data: { type: 'signal', from: 'b', to: 'a' } })
    t.same(await a.next('publish'), { type: 'publish', topic: 'doc', data: { type: 'signal', from: 'b', to: 'a' }, clients: 3 }, 'from node two to node one')
    await b.next('publish')
    await c.next('publish')

    c.send({ type: 'unsubscribe', topics: ['doc'] })
    await c.settle()
    // node one hears of the departure through Redis: it counts one subscriber less once it has
    let clients = 3
    for (let i = 0; i < 500 && clients !== 2; i++) {
      a.send({ type: 'publish', topic: 'doc', data: i })
      clients = (await a.next('publish')).clients
    }
    t.equal(clients, 2, 'an unsubscribe on node two is counted on node one')

    const res = await one.app.inject({ method: 'DELETE', url: `/rooms/doc/peers/${bId}`, headers: { authorization: `Bearer ${TEST_API_KEY}` } })
    t.equal(res.statusCode, 204)
    t.same(await b.next('error', 10_000), { type: 'error', code: 'KICKED', message: 'Removed from the room', topic: 'doc' }, 'kicked through node one')
  })
}
