// Server nodes on a master found through Sentinel (1 master, 1 replica, 3 sentinels): the master killed (SIGKILL),
// the replica promoted, and the nodes following the new master.
import t from 'tap'
import { RedisBackplane } from '../../lib/redis-backplane.js'
import { startServer, type TestServer } from '../helper.js'
import { requireProgram } from '../support/programs.js'
import { startRedisSentinel, untilRelayBack } from '../support/redis-cluster.js'

if (requireProgram(t, 'redis-server') !== undefined && requireProgram(t, 'redis-cli', 'apt-get install redis-tools') !== undefined) {
  t.test('the Sentinel master killed mid-session: the nodes follow the promoted replica, relay and rooms come back', async (t) => {
    const setup = await startRedisSentinel(t)
    if (setup === undefined) return
    const redis = { sentinel: { sentinels: setup.sentinels, name: setup.name }, keyPrefix: 'sentinel:', nodeTtl: 2000, commandTimeout: 1000 }
    const a = await startServer(t, { redis })
    const b: TestServer = await startServer(t, { redis })
    await a.createRoom({ roomId: 's' })
    const alice = await a.join('s', 'alice')
    const amy = await a.join('s', 'amy')
    const bob = await b.join('s', 'bob')
    await alice.next('peer-joined')
    await alice.next('peer-joined')
    alice.send({ type: 'offer', to: 'bob', data: 'before' })
    t.same(await bob.next('offer'), { type: 'offer', from: 'alice', data: 'before' })

    // the replica has every write first: a write in the master's last moments can be lost (asynchronous replication)
    await setup.master.cli('WAIT', '1', '5000')
    const killedAt = Date.now()
    await setup.master.kill()
    alice.send({ type: 'message', to: 'amy', data: 'local' })
    t.same(await amy.next('message'), { type: 'message', from: 'alice', data: 'local' }, 'same-node relay while the master is down')
    const { back, refused } = await untilRelayBack(t, alice, bob, 'bob', killedAt)
    t.ok(back >= 0, 'cross-node relay came back')
    t.ok(refused > 0, 'frames sent while there was no master were refused with BACKPLANE_UNAVAILABLE')
    t.comment(`cross-node relay back ${back} ms after the master was killed (${refused} frames refused meanwhile)`)
    t.equal(await setup.masterPort(), setup.replica.port, 'the sentinels promoted the replica')
    t.match(await setup.replica.cli('CLIENT', 'LIST'), /name=signalling-\w+-commands/, 'the nodes are connected to the new master')
    t.ok((a.app.signalling.relay.backplane as RedisBackplane).up && (b.app.signalling.relay.backplane as RedisBackplane).up)
    t.equal((await b.app.signalling.room('s')).peerCount, 3, 'the room and its peers on the new master')
    bob.send({ type: 'answer', to: 'amy', data: 'after' })
    t.same(await amy.next('answer', 10_000), { type: 'answer', from: 'bob', data: 'after' }, 'B → A after the failover')
    const zoe = await b.join('s', 'zoe')
    t.same((zoe.welcome?.peers as Array<{ peerId: string }>).map((p) => p.peerId).sort(), ['alice', 'amy', 'bob'])
    t.same(await alice.next('peer-joined', 10_000), { type: 'peer-joined', peer: { peerId: 'zoe', metadata: {} } })
  })
}
