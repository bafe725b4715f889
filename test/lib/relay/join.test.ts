import { test, type Test } from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { joinClaims } from '../../../lib/join-token.js'
import { CloseCodes } from '../../../lib/protocol.js'
import { Handoffs } from '../../../lib/relay/handoff.js'
import { Joins } from '../../../lib/relay/join.js'
import { attach, socketListeners } from '../../../lib/relay/link.js'
import { PeerUpdates } from '../../../lib/relay/metadata.js'
import { Router } from '../../../lib/relay/router.js'
import type { RelayEvents } from '../../../lib/relay/types.js'
import { relayParts, socketPairs, type SocketPair } from './parts.js'

const noIce = () => ({ iceServers: [], ttl: 0 })
const json = (frame: string): Record<string, unknown> => JSON.parse(frame) as Record<string, unknown>

async function node (t: Test, options: { events?: RelayEvents } = {}) {
  const { pair } = await socketPairs(t)
  const parts = await relayParts({ ...options, resume: { grace: 1000 } })
  const router = new Router(parts.ctx, parts.delivery, parts.departures, false, noIce, new PeerUpdates(parts.ctx, parts.delivery, parts.departures))
  const handoffs = new Handoffs(parts.ctx, parts.departures)
  const joins = new Joins(parts.ctx, { delivery: parts.delivery, departures: parts.departures, router, handoffs },
    { iceServers: noIce, resumeToken: (peerId) => `resume-${peerId}`, clockSkew: 5, burst: 10 })
  const listeners = socketListeners(parts.ctx, {
    onFrame: (peer, data, isBinary) => router.onFrame(peer, data, isBinary),
    onFailure: (peer, err) => router.onFailure(peer, err),
    onClose: (peer, code) => parts.departures.onClose(peer, code)
  })
  await parts.registry.create({ roomId: 'r1', maxPeers: 2, emptyTimeout: 60, metadata: {}, createdAt: new Date(Date.now() - 60_000).toISOString() })
  /** Connects a client and joins it as `peerId`, as relay.connect does after the upgrade. */
  const connect = async (peerId: string, attempt = {}, before?: (p: SocketPair) => void): Promise<SocketPair> => {
    const p = await pair()
    const claims = joinClaims('r1', peerId, 60, { name: peerId })
    const link = attach(p.server, peerId, 'r1', listeners)
    before?.(p)
    joins.open(link, claims, attempt)
    return p
  }
  return { parts, joins, connect }
}

test('admission: the room must exist, have a place, and predate the token; a kick outlives older tokens', async (t) => {
  const { parts, joins, connect } = await node(t)
  await t.rejects(joins.admit(joinClaims('nowhere', 'a', 60, {})), { code: 'ROOM_NOT_FOUND' })
  await t.rejects(joins.admit(joinClaims('r1', 'a', 60, {}, Date.now() - 3_600_000)), { code: 'UNAUTHORIZED' }, 'issued before the room was created')
  await parts.registry.recordKick('r1', 'mallory', Math.floor(Date.now() / 1000))
  await t.rejects(joins.admit(joinClaims('r1', 'mallory', 60, {}, Date.now() - 1000)), { code: 'UNAUTHORIZED' }, 'issued before the kick')
  await joins.admit(joinClaims('r1', 'mallory', 60, {}, Date.now() + 1000))
  const [a, b] = [await connect('alice'), await connect('bob')]
  await a.frames(1)
  await b.frames(1)
  await t.rejects(joins.admit(joinClaims('r1', 'carol', 60, {})), { code: 'ROOM_FULL' })
  await joins.admit(joinClaims('r1', 'alice', 60, {}))
  t.pass('a peer already in a full room may connect again')
})

test('a fresh join: welcome with the others, peer-joined to them, registered, told', async (t) => {
  const joined: string[] = []
  const { parts, connect } = await node(t, { events: { joined: (_r, peer) => { joined.push(peer.peerId) }, left () {} } })
  const a = await connect('alice')
  t.match(json((await a.frames(1))[0]!), { type: 'welcome', peerId: 'alice', roomId: 'r1', peers: [], resumed: false, resumeToken: 'resume-alice' })
  const b = await connect('bob')
  t.match(json((await b.frames(1))[0]!), { type: 'welcome', peerId: 'bob', peers: [{ peerId: 'alice', metadata: { name: 'alice' } }] })
  t.match(json((await a.frames(2))[1]!), { type: 'peer-joined', peer: { peerId: 'bob', metadata: { name: 'bob' } } })
  t.same((await parts.registry.peers('r1')).map((p) => p.peerId).sort(), ['alice', 'bob'])
  t.same(joined, ['alice', 'bob'])
})

test('frames sent before welcome are handled after it, in order', async (t) => {
  const { connect } = await node(t)
  const a = await connect('alice', {}, (p) => { p.client.send('{"type":"ping"}'); p.client.send('{"type":"ping"}') })
  const frames = (await a.frames(3)).map(json)
  t.same(frames.map((f) => f.type), ['welcome', 'pong', 'pong'])
})

test('a second connection of the same peer replaces the first', async (t) => {
  const { parts, connect } = await node(t)
  const first = await connect('alice')
  await first.frames(1)
  const second = await connect('alice')
  await second.frames(1)
  t.equal(await first.closed, CloseCodes.REPLACED)
  t.equal(parts.rooms.peer('r1', 'alice')?.socket, second.server, 'the peer is on the new socket')
  t.equal((await parts.registry.peers('r1')).length, 1)
})

test('a resume on this node: welcome resumed, then every frame missed, in order', async (t) => {
  const { parts, connect } = await node(t)
  const a = await connect('alice')
  const b = await connect('bob')
  await a.frames(2)
  await b.frames(1)
  const lastSeen = (json(a.received[1]!) as { seq: number }).seq
  a.client.terminate()
  await sleep(50)
  b.client.send('{"type":"message","to":"alice","data":"while away"}')
  await sleep(50)
  const again = await connect('alice', { lastSeq: lastSeen })
  const frames = (await again.frames(2)).map(json)
  t.match(frames[0], { type: 'welcome', resumed: true })
  t.match(frames[1], { type: 'message', from: 'bob', data: 'while away', seq: lastSeen + 1 })
  await sleep(50)
  t.equal(b.received.length, 1, 'bob saw no churn')
  t.equal(parts.rooms.peer('r1', 'alice')?.grace, undefined, 'the grace period ended')
})

test('resumeOnly without a session to resume: SESSION_EXPIRED and its close code', async (t) => {
  const { connect } = await node(t)
  const a = await connect('alice', { lastSeq: 3, resumeOnly: true })
  t.match(json((await a.frames(1))[0]!), { type: 'error', code: 'SESSION_EXPIRED' })
  t.equal(await a.closed, CloseCodes.SESSION_EXPIRED)
})

test('a client gone during its join leaves no trace in the registry', async (t) => {
  const { parts, connect } = await node(t)
  await connect('alice', {}, (p) => { p.server.terminate() })
  await sleep(50)
  t.same(await parts.registry.peers('r1'), [])
  t.equal(parts.rooms.get('r1'), undefined, 'and the room is let go here')
})
