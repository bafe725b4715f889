// A node that drains: its PeerJS clients are closed with 1012 and no ERROR, so that peer.reconnect() can follow, and with
// Redis the same token takes the id back on another node at once.
import t from 'tap'
import { startServer, type TestServer } from '../helper.js'
import { PeerjsWire } from '../support/peerjs-wire.js'
import { requireProgram } from '../support/programs.js'
import { startRedis } from '../support/redis.js'

const pjOf = (server: TestServer): string => `${server.wsUrl.slice(0, -'/ws'.length)}/peerjs`

if (requireProgram(t, 'redis-server') !== undefined) {
  t.test('draining node: 1012 without ERROR; the same token reclaims the id on the other node', async (t) => {
    const redis = await startRedis(t)
    if (redis === undefined) return
    const options = { peerjs: true, redis: { url: redis.url, keyPrefix: 'pjd:', nodeTtl: 2000 }, drainTimeout: 3000 }
    const one = await startServer(t, options)
    const two = await startServer(t, options)
    const a = await PeerjsWire.open(t, pjOf(one), { key: 'peerjs', id: 'alice', token: 'ta' })
    await a.next('OPEN')
    const b = await PeerjsWire.open(t, pjOf(two), { key: 'peerjs', id: 'bob', token: 'tb' })
    await b.next('OPEN')
    const closing = one.app.close()
    t.equal((await a.closed).code, 1012)
    t.same(a.frames, [], 'no ERROR: the client may reconnect')
    const other = await PeerjsWire.open(t, pjOf(two), { key: 'peerjs', id: 'alice', token: 'new' })
    await other.next('ID-TAKEN')
    const back = await PeerjsWire.open(t, pjOf(two), { key: 'peerjs', id: 'alice', token: 'ta' })
    await back.next('OPEN')
    b.send({ type: 'OFFER', dst: 'alice', payload: 'welcome back' })
    t.equal((await back.next('OFFER')).payload, 'welcome back')
    await closing
  })
}
