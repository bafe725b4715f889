// The SDK's Mesh with real WebRTC (@roamhq/wrtc) through the real signalling server: peers connect
// pairwise, exchange data-channel messages, clean up after a peer leaves, and survive glare.
//
// Media transceivers are left out on purpose: @roamhq/wrtc 0.10 segfaults at process exit once an audio
// or video transceiver has existed, even after every connection is closed.
import t from 'tap'
import type { Test } from 'tap'
import WebSocket from 'ws'
import { startServer, type TestServer } from '../helper.js'
import { loadRTCPeerConnection, waitForEvent as waitFor } from '../support/events.js'
import { MemoryRoomRegistry, type JoinResult } from '../../lib/room-registry.js'
import {
  Mesh,
  SignallingClient,
  type MeshEvents,
  type RTCPeerConnectionConstructor
} from '../../client/index.js'

const RTCPeerConnection = await loadRTCPeerConnection(t)

function wrtcPeerConnection (): RTCPeerConnectionConstructor {
  if (RTCPeerConnection === undefined) throw new Error('unreachable: no test runs without @roamhq/wrtc')
  return RTCPeerConnection
}

// Generous: these machines are shared and slow. Nothing here asserts on timing.
const TIMEOUT = 60_000

/** Collects `count` payloads of `event`. */
function collect<K extends keyof MeshEvents & string> (mesh: Mesh, event: K, count: number, what: string): Promise<Array<MeshEvents[K]>> {
  const seen: Array<MeshEvents[K]> = []
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      mesh.off(event, listener)
      reject(new Error(`timed out waiting for ${what}: got ${seen.length} of ${count}`))
    }, TIMEOUT)
    const listener = (payload: MeshEvents[K]): void => {
      seen.push(payload)
      if (seen.length < count) return
      clearTimeout(timer)
      mesh.off(event, listener)
      resolve(seen)
    }
    mesh.on(event, listener)
  })
}

interface Participant {
  peerId: string
  client: SignallingClient
  mesh: Mesh
  /** Resolves once the mesh announced `peer` for every one of `expected` peers. */
  connected: Promise<Array<MeshEvents['peer']>>
}

async function setup (t: Test, registry?: MemoryRoomRegistry): Promise<{ server: TestServer, roomId: string }> {
  const server = await startServer(t, registry === undefined ? {} : { registry })
  const { roomId } = await server.createRoom({ maxPeers: 10 })
  return { server, roomId }
}

/** A peer joining through the SDK: client + mesh, expecting `expected` connections. */
async function join (t: Test, server: TestServer, roomId: string, peerId: string, expected: number): Promise<Participant> {
  const { token } = await server.issueToken(roomId, { peerId, metadata: { name: `name of ${peerId}` } })
  const client = new SignallingClient({ url: server.wsUrl, token, WebSocket })
  const mesh = new Mesh(client, { RTCPeerConnection: wrtcPeerConnection(), configuration: { iceServers: [] } })
  mesh.on('error', ({ peerId: remote, error }) => t.fail(`${peerId} -> ${remote}: ${error.message}`))
  // Every RTCPeerConnection must be closed or the process does not exit. Both calls are idempotent,
  // so tests may close earlier themselves.
  t.teardown(async () => {
    mesh.close()
    await client.close()
  })
  const connected = expected === 0 ? Promise.resolve([]) : collect(mesh, 'peer', expected, `${peerId}'s ${expected} peers`)
  // Keep the rejection handled until the test awaits it.
  connected.catch(() => {})
  await client.connect()
  return { peerId, client, mesh, connected }
}

function text (data: string | ArrayBuffer): string {
  return typeof data === 'string' ? data : new TextDecoder().decode(data)
}

if (RTCPeerConnection !== undefined) {
  t.test('two peers connect and exchange data-channel messages both ways', async (t) => {
    const { server, roomId } = await setup(t)
    const alice = await join(t, server, roomId, 'alice', 1)
    const bob = await join(t, server, roomId, 'bob', 1)

    const [[toAlice], [toBob]] = await Promise.all([alice.connected, bob.connected])
    t.equal(toAlice?.peerId, 'bob')
    t.same(toAlice?.metadata, { name: 'name of bob' })
    t.equal(toBob?.peerId, 'alice')
    t.same(toBob?.metadata, { name: 'name of alice' })
    t.equal(toAlice?.pc, alice.mesh.connection('bob'))
    t.equal(alice.mesh.connection('bob')?.connectionState, 'connected')
    t.equal(bob.mesh.connection('alice')?.connectionState, 'connected')
    t.same(alice.mesh.peerIds, ['bob'])
    t.same(bob.mesh.peerIds, ['alice'])

    const atBob = waitFor(bob.mesh, 'message', undefined, 'bob to receive')
    const atAlice = waitFor(alice.mesh, 'message', undefined, 'alice to receive')
    t.equal(alice.mesh.send('bob', 'hello bob, from alice'), true)
    t.equal(bob.mesh.send('alice', 'hello alice, from bob'), true)
    t.same(await atBob, { peerId: 'alice', data: 'hello bob, from alice' })
    t.same(await atAlice, { peerId: 'bob', data: 'hello alice, from bob' })

    // Binary frames arrive as ArrayBuffer with the same bytes.
    const binary = waitFor(bob.mesh, 'message', undefined, 'bob to receive binary')
    t.equal(alice.mesh.send('bob', new Uint8Array([0, 1, 2, 253, 254, 255]).buffer), true)
    const received = await binary
    t.type(received.data, ArrayBuffer)
    t.same([...new Uint8Array(received.data as ArrayBuffer)], [0, 1, 2, 253, 254, 255])

    t.equal(alice.mesh.send('nobody', 'x'), false, 'send to an unknown peer reports false')
  })

  t.test('four peers all connect pairwise and exchange 12 directed messages', async (t) => {
    const { server, roomId } = await setup(t)
    const ids = ['p1', 'p2', 'p3', 'p4']
    // They join one after the other, so each newcomer offers to 0, 1, 2 then 3 peers.
    const peers: Participant[] = []
    for (const id of ids) peers.push(await join(t, server, roomId, id, 3))

    for (const peer of peers) {
      const announced = (await peer.connected).map((p) => p.peerId).sort()
      t.same(announced, ids.filter((id) => id !== peer.peerId), `${peer.peerId} connected to the three others`)
    }

    const inboxes = peers.map((peer) => collect(peer.mesh, 'message', 3, `${peer.peerId}'s 3 messages`))
    for (const peer of peers) t.equal(peer.mesh.broadcast(`from ${peer.peerId}`), 3, `${peer.peerId} broadcast to 3 peers`)
    const received = await Promise.all(inboxes)

    let total = 0
    peers.forEach((peer, i) => {
      const got = (received[i] ?? []).map(({ peerId, data }) => `${peerId}: ${text(data)}`).sort()
      const want = ids.filter((id) => id !== peer.peerId).map((id) => `${id}: from ${id}`)
      t.same(got, want, `${peer.peerId} received one message from each other peer`)
      total += got.length
    })
    t.equal(total, 12)
    for (const peer of peers) {
      for (const id of ids) {
        if (id !== peer.peerId) t.equal(peer.mesh.connection(id)?.connectionState, 'connected', `${peer.peerId} -> ${id} connected`)
      }
    }
  })

  t.test('a peer that leaves is cleaned up on the others', async (t) => {
    const { server, roomId } = await setup(t)
    const alice = await join(t, server, roomId, 'alice', 2)
    const bob = await join(t, server, roomId, 'bob', 2)
    const carol = await join(t, server, roomId, 'carol', 2)
    await Promise.all([alice.connected, bob.connected, carol.connected])

    // carol leaves the room: the server tells the others (`peer-left`, reason `left`).
    const carolPcAtAlice = alice.mesh.connection('carol')
    const carolPcAtBob = bob.mesh.connection('carol')
    const leftAtAlice = waitFor(alice.mesh, 'peer-left', undefined, 'peer-left at alice')
    const leftAtBob = waitFor(bob.mesh, 'peer-left', undefined, 'peer-left at bob')
    await carol.client.leave()
    t.same(await leftAtAlice, { peerId: 'carol', reason: 'left' })
    t.same(await leftAtBob, { peerId: 'carol', reason: 'left' })
    t.equal(carolPcAtAlice?.signalingState, 'closed', 'alice closed her connection to carol')
    t.equal(carolPcAtBob?.signalingState, 'closed', 'bob closed his connection to carol')
    t.equal(alice.mesh.connection('carol'), undefined)
    t.same(alice.mesh.peerIds, ['bob'])
    t.same(bob.mesh.peerIds, ['alice'])
    t.same(carol.mesh.peerIds, [], 'carol\'s mesh closed itself when her client closed for good')
    t.equal(carol.client.state, 'closed')

    // alice and bob are still connected to each other.
    const atBob = waitFor(bob.mesh, 'message', undefined, 'bob to receive')
    t.equal(alice.mesh.send('bob', 'still here'), true)
    t.same(await atBob, { peerId: 'alice', data: 'still here' })

    // Closing a mesh while staying in the room says `bye`: the other side drops the connection too.
    const bobPcAtAlice = alice.mesh.connection('bob')
    const byeAtAlice = waitFor(alice.mesh, 'peer-left', undefined, 'bye at alice')
    bob.mesh.close()
    t.same(await byeAtAlice, { peerId: 'bob', reason: 'bye' })
    t.equal(bobPcAtAlice?.signalingState, 'closed')
    t.same(alice.mesh.peerIds, [])
    t.equal(bob.client.state, 'open', 'bob is still in the room')
  })

  t.test('glare: both sides renegotiate at the same moment and still end connected', async (t) => {
    const { server, roomId } = await setup(t)
    const alice = await join(t, server, roomId, 'alice', 1)
    const bob = await join(t, server, roomId, 'bob', 1)
    await Promise.all([alice.connected, bob.connected])

    // Log every offer/answer each side sends and receives from now on. The first offer of each side is
    // held back until the other side has made its own, so the offers really cross on the wire: without
    // the hold, one side's offer can arrive before the other's negotiationneeded fired, and that is no glare.
    const logs: Record<string, string[]> = { alice: [], bob: [] }
    const held: Array<() => void> = []
    for (const { peerId, client } of [alice, bob]) {
      const log = logs[peerId] ?? []
      const offer = client.offer.bind(client)
      const answer = client.answer.bind(client)
      let first = true
      client.offer = (to, data) => {
        log.push('sent offer')
        if (!first) return offer(to, data)
        first = false
        held.push(() => { offer(to, data) })
        if (held.length === 2) for (const release of held) release()
        return true
      }
      client.answer = (to, data) => { log.push('sent answer'); return answer(to, data) }
      client.on('offer', () => log.push('received offer'))
      client.on('answer', () => log.push('received answer'))
    }

    const pcAlice = alice.mesh.connection('bob')
    const pcBob = bob.mesh.connection('alice')
    if (pcAlice === undefined || pcBob === undefined) throw new Error('no connection')
    const ufrag = (pc: RTCPeerConnection): string | undefined => /a=ice-ufrag:(\S+)/.exec(pc.remoteDescription?.sdp ?? '')?.[1]
    const before = { alice: ufrag(pcAlice), bob: ufrag(pcBob) }

    // An ICE restart on both sides in the same tick: each fires negotiationneeded and offers at once.
    // (A second data channel would not do: once SCTP is negotiated, new channels need no negotiation.)
    pcAlice.restartIce()
    pcBob.restartIce()

    // Settled: both stable, and each side applied the other's new ICE credentials.
    const settled = async (): Promise<void> => {
      const deadline = Date.now() + TIMEOUT
      while (!(pcAlice.signalingState === 'stable' && pcBob.signalingState === 'stable' &&
        ufrag(pcAlice) !== before.alice && ufrag(pcBob) !== before.bob &&
        logs.alice?.includes('sent offer') === true && logs.bob?.includes('sent offer') === true)) {
        if (Date.now() > deadline) throw new Error(`glare did not settle: ${JSON.stringify(logs)}`)
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
    }
    await settled()
    t.comment(`alice (polite): ${logs.alice?.join(', ')}`)
    t.comment(`bob (impolite): ${logs.bob?.join(', ')}`)

    // Both offered before either received the other's offer: the offers crossed.
    t.same(logs.alice?.slice(0, 2), ['sent offer', 'received offer'], 'alice offered, then got bob\'s offer')
    t.same(logs.bob?.slice(0, 2), ['sent offer', 'received offer'], 'bob offered, then got alice\'s offer')
    // bob, impolite, ignored alice's offer; alice, polite, rolled hers back and answered bob's.
    t.equal(logs.bob?.filter((entry) => entry === 'sent answer').length, 0, 'bob answered no offer')
    t.ok(logs.alice?.includes('sent answer'), 'alice answered bob\'s offer')

    const state = async (pc: RTCPeerConnection): Promise<RTCPeerConnectionState> => {
      if (pc.connectionState === 'connected') return 'connected'
      await waitFor(alice.mesh, 'connectionstatechange', () => pc.connectionState === 'connected', 'connected again')
      return pc.connectionState
    }
    t.equal(await state(pcAlice), 'connected')
    t.equal(await state(pcBob), 'connected')
    t.equal(alice.mesh.connection('bob'), pcAlice, 'the same connection survived')

    const atBob = waitFor(bob.mesh, 'message', undefined, 'bob to receive')
    const atAlice = waitFor(alice.mesh, 'message', undefined, 'alice to receive')
    t.equal(alice.mesh.send('bob', 'after glare, from alice'), true)
    t.equal(bob.mesh.send('alice', 'after glare, from bob'), true)
    t.same(await atBob, { peerId: 'alice', data: 'after glare, from alice' })
    t.same(await atAlice, { peerId: 'bob', data: 'after glare, from bob' })

    // A data channel made after the glare reaches the other side as a `datachannel` event and works.
    const remote = waitFor(bob.mesh, 'datachannel', undefined, 'datachannel at bob')
    const channel = alice.mesh.createDataChannel('extra').get('bob')
    const { peerId, channel: remoteChannel } = await remote
    t.equal(peerId, 'alice')
    t.equal(remoteChannel.label, 'extra')
    const echoed = new Promise<string>((resolve) => { remoteChannel.onmessage = ({ data }: MessageEvent<string>) => resolve(data) })
    if (channel === undefined) throw new Error('no channel')
    if (channel.readyState !== 'open') await new Promise((resolve) => { channel.onopen = resolve })
    channel.send('on the extra channel')
    t.equal(await echoed, 'on the extra channel')
  })

  t.test('a peer that joins again while its old connection is open: peer-left "replaced", then a new connection', async (t) => {
    // A registry that lost track of bob's first membership (as a shared registry can when its entries
    // expire), so the server announces bob's second join without a peer-left first.
    const forgetful = new MemoryRoomRegistry()
    const remember = forgetful.join.bind(forgetful)
    forgetful.join = async (roomId, peer, connection): Promise<JoinResult> => {
      await remember(roomId, peer, connection)
      return { outcome: 'joined' }
    }
    const { server, roomId } = await setup(t, forgetful)
    const alice = await join(t, server, roomId, 'alice', 2)
    const firstPeer = waitFor(alice.mesh, 'peer', undefined, 'alice\'s first peer')
    const bob = await join(t, server, roomId, 'bob', 1)
    const [first] = await Promise.all([firstPeer, bob.connected])
    const oldPc = alice.mesh.connection('bob')
    t.equal(first.pc, oldPc)
    const events: string[] = []
    alice.client.on('peer-left', ({ peerId, reason }) => events.push(`client peer-left ${peerId} ${reason}`))
    alice.client.on('peer-joined', ({ peer }) => events.push(`client peer-joined ${peer.peerId}`))
    alice.mesh.on('peer-left', ({ peerId, reason }) => events.push(`mesh peer-left ${peerId} ${reason}`))
    const left = waitFor(alice.mesh, 'peer-left', undefined, 'peer-left at alice')

    // bob again, from another device: the server closes the first bob with 4409.
    const bobAgain = await join(t, server, roomId, 'bob', 1)
    t.same(await left, { peerId: 'bob', reason: 'replaced' })
    t.equal(oldPc?.signalingState, 'closed', 'the old connection is closed')
    const [, second] = await alice.connected
    t.equal(second?.peerId, 'bob')
    t.not(second?.pc, oldPc, 'a new connection')
    t.equal(alice.mesh.connection('bob'), second?.pc)
    await bobAgain.connected
    // The mesh, listening since before connect(), handles the client's peer-joined before the test does.
    t.same(events, ['mesh peer-left bob replaced', 'client peer-joined bob'], 'the server sent no peer-left of its own')
    t.equal(bob.client.state, 'closed')

    const atBob = waitFor(bobAgain.mesh, 'message', undefined, 'the new bob to receive')
    t.equal(alice.mesh.send('bob', 'hello again'), true)
    t.same(await atBob, { peerId: 'alice', data: 'hello again' })
  })
}
