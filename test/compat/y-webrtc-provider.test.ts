// Unmodified y-webrtc + yjs clients (each in a process of its own, with @roamhq/wrtc) through a real server: two
// documents converge over WebRTC after edits on both sides, with the signalling through our rooms, on one node and
// across two nodes on a real Redis; in the token mode a token for another room is refused.
import t from 'tap'
import type { Test } from 'tap'
import { startServer, type TestServer } from '../helper.js'
import { loadRTCPeerConnection } from '../support/events.js'
import { requireProgram } from '../support/programs.js'
import { startRedis } from '../support/redis.js'
import { YWebrtcPeer } from '../support/y-webrtc-peer.js'

const wrtc = await loadRTCPeerConnection(t)
const yjsOf = (server: TestServer): string => `${server.wsUrl.slice(0, -'/ws'.length)}/yjs`

/** Both providers connect over WebRTC, then edits on each side reach the other. */
async function converge (t: Test, a: YWebrtcPeer, b: YWebrtcPeer): Promise<void> {
  await a.until((state) => state.webrtcPeers.length === 1, 'a WebRTC connection from a')
  await b.until((state) => state.webrtcPeers.length === 1, 'a WebRTC connection from b')
  a.insert('hello ')
  await b.until((state) => state.text === 'hello ', 'a\'s edit at b')
  b.insert('world')
  const [atA, atB] = await Promise.all([
    a.until((state) => state.text === 'hello world', 'both edits at a'),
    b.until((state) => state.text === 'hello world', 'both edits at b')
  ])
  t.equal(atA.text, 'hello world')
  t.equal(atB.text, 'hello world')
}

if (wrtc !== undefined) {
  t.test('one node: two documents converge over WebRTC after edits on both sides; the server saw both subscribers', async (t) => {
    const s = await startServer(t, { yWebrtc: true })
    const a = YWebrtcPeer.start(t, yjsOf(s), 'notes')
    const b = YWebrtcPeer.start(t, yjsOf(s), 'notes')
    await converge(t, a, b)
    const room = await s.app.signalling.room('notes')
    t.equal(room.peerCount, 2, 'both providers are peers of the topic\'s room')
    t.same([a.state.errors, b.state.errors], [[], []])
    // the signalling (announce, offer, answer, candidates) went through the relay; the document over the data channel
    const metrics = await (await fetch(`${s.baseUrl}/metrics`)).text()
    t.ok(Number(/signalling_messages_relayed_total\{type="message"\} (\d+)/.exec(metrics)?.[1] ?? 0) >= 3, 'the providers\' signalling was relayed')
  })

  t.test('token mode: providers with tokens for the room converge; a token for another room is refused', async (t) => {
    const s = await startServer(t, { yWebrtc: { mode: 'token' } })
    await s.createRoom({ roomId: 'notes' })
    await s.createRoom({ roomId: 'other' })
    const tokenFor = async (roomId: string, peerId: string): Promise<string> => (await s.issueToken(roomId, { peerId })).token
    const a = YWebrtcPeer.start(t, `${yjsOf(s)}?token=${await tokenFor('notes', 'alice')}`, 'notes')
    const b = YWebrtcPeer.start(t, `${yjsOf(s)}?token=${await tokenFor('notes', 'bob')}`, 'notes')
    const intruder = YWebrtcPeer.start(t, `${yjsOf(s)}?token=${await tokenFor('other', 'mallory')}`, 'notes')
    await converge(t, a, b)
    await intruder.until((state) => state.errors.includes('UNAUTHORIZED'), 'the refusal of the intruder\'s subscription')
    const room = await s.app.signalling.room('notes')
    t.same(room.peers.map((peer) => peer.peerId).sort(), ['alice', 'bob'], 'the intruder is no peer of the room')
    t.same(intruder.state.webrtcPeers, [])
  })
}

if (wrtc !== undefined && requireProgram(t, 'redis-server') !== undefined) {
  t.test('two nodes on one Redis: a provider on each converges with the other', async (t) => {
    const redis = await startRedis(t)
    if (redis === undefined) return
    const options = { yWebrtc: true, redis: { url: redis.url, keyPrefix: 'yw:', nodeTtl: 2000 } }
    const one = await startServer(t, options)
    const two = await startServer(t, options)
    const a = YWebrtcPeer.start(t, yjsOf(one), 'notes')
    const b = YWebrtcPeer.start(t, yjsOf(two), 'notes')
    await converge(t, a, b)
    t.equal(one.app.signalling.relay.localPeerCount, 1, 'one subscriber on node one')
    t.equal(two.app.signalling.relay.localPeerCount, 1, 'one on node two')
    t.equal((await one.app.signalling.room('notes')).peerCount, 2, 'the room spans both nodes')
  })
}
