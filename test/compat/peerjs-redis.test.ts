// PeerJS clients on two nodes on one real Redis: relay across nodes, the queue filled on one node and emptied when the
// recipient joins on the other, ID-TAKEN and the takeover by token across nodes.
import t from 'tap'
import { startServer, type TestServer } from '../helper.js'
import { PeerjsWire } from '../support/peerjs-wire.js'
import { requireProgram } from '../support/programs.js'
import { startRedis } from '../support/redis.js'

const pjOf = (server: TestServer): string => `${server.wsUrl.slice(0, -'/ws'.length)}/peerjs`

if (requireProgram(t, 'redis-server') !== undefined) {
  t.test('two nodes: relay both ways, the queue across nodes, ID-TAKEN and the takeover by token', async (t) => {
    const redis = await startRedis(t)
    if (redis === undefined) return
    const options = { peerjs: true, redis: { url: redis.url, keyPrefix: 'pjw:', nodeTtl: 2000 } }
    const one = await startServer(t, options)
    const two = await startServer(t, options)
    const a = await PeerjsWire.open(t, pjOf(one), { key: 'peerjs', id: 'alice', token: 'ta' })
    await a.next('OPEN')
    const b = await PeerjsWire.open(t, pjOf(two), { key: 'peerjs', id: 'bob', token: 'tb' })
    await b.next('OPEN')
    a.send({ type: 'OFFER', dst: 'bob', payload: { sdp: 'o' } })
    t.same(await b.next('OFFER'), { type: 'OFFER', src: 'alice', dst: 'bob', payload: { sdp: 'o' } })
    b.send({ type: 'ANSWER', dst: 'alice', payload: { sdp: 'a' } })
    t.same(await a.next('ANSWER'), { type: 'ANSWER', src: 'bob', dst: 'alice', payload: { sdp: 'a' } })

    // queued on node one, for a peer that then connects to node two
    a.send({ type: 'OFFER', dst: 'carol', payload: 1 })
    a.send({ type: 'CANDIDATE', dst: 'carol', payload: 2 })
    await new Promise((resolve) => setTimeout(resolve, 200))
    const c = await PeerjsWire.open(t, pjOf(two), { key: 'peerjs', id: 'carol', token: 'tc' })
    await c.next('OPEN')
    t.same((await c.next('OFFER', 10_000)).payload, 1)
    t.same((await c.next('CANDIDATE')).payload, 2)

    const taken = await PeerjsWire.open(t, pjOf(two), { key: 'peerjs', id: 'alice', token: 'other' })
    await taken.next('ID-TAKEN')
    const reclaimed = await PeerjsWire.open(t, pjOf(two), { key: 'peerjs', id: 'alice', token: 'ta' })
    await reclaimed.next('OPEN')
    t.equal((await a.next('ERROR', 10_000)).payload.code, 'REPLACED')
    t.equal((await a.closed).code, 4409)
    b.send({ type: 'CANDIDATE', dst: 'alice', payload: 'now on node two' })
    t.equal((await reclaimed.next('CANDIDATE')).payload, 'now on node two')
  })
}
