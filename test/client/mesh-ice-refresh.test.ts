// The Mesh keeps the server's TURN credentials fresh: before they expire it asks for new ones and applies
// them to every open connection and to the next ones. The server's shortest TURN ttl is 60 s, so this
// file waits for the refresh due at 80% of it, about 48 s (run alone, beside the faster files).
import t from 'tap'
import type { Test } from 'tap'
import WebSocket from 'ws'
import { startServer, type TestServer } from '../helper.js'
import { loadRTCPeerConnection, waitForEvent } from '../support/events.js'
import { Mesh, SignallingClient, type IceServersMessage } from '../../client/index.js'

const RTCPeerConnection = await loadRTCPeerConnection(t)

// A ceiling for a slow shared machine; nothing asserts on timing.
const TIMEOUT = 120_000
const TURN_TTL = 60

interface Participant {
  client: SignallingClient
  mesh: Mesh
  /** Every `ice-servers` answer the client received, in order. */
  refreshes: IceServersMessage[]
  welcomeServers: RTCIceServer[]
}

async function join (t: Test, server: TestServer, roomId: string, peerId: string): Promise<Participant> {
  if (RTCPeerConnection === undefined) throw new Error('unreachable: no test runs without @roamhq/wrtc')
  const { token } = await server.issueToken(roomId, { peerId })
  const client = new SignallingClient({ url: server.wsUrl, token, WebSocket })
  // No iceServers of the app's own: the mesh uses the server's.
  const mesh = new Mesh(client, { RTCPeerConnection })
  mesh.on('error', ({ peerId: remote, error }) => t.fail(`${peerId} -> ${remote}: ${error.message}`))
  t.teardown(async () => {
    mesh.close()
    await client.close()
  })
  const refreshes: IceServersMessage[] = []
  client.on('ice-servers', (message) => refreshes.push(message))
  const welcome = await client.connect()
  return { client, mesh, refreshes, welcomeServers: welcome.iceServers ?? [] }
}

const turnUsername = (servers: readonly RTCIceServer[] | undefined): string | undefined =>
  servers?.find((server) => server.username !== undefined)?.username

/** `n` answers to `ice-servers`, which the test itself never asks for. */
async function refreshes (participant: Participant, n: number): Promise<void> {
  const deadline = Date.now() + TIMEOUT
  while (participant.refreshes.length < n) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${n} ice-servers answers, got ${participant.refreshes.length}`)
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}

if (RTCPeerConnection !== undefined) {
  t.test('TURN credentials are refreshed before they expire and applied to open and new connections', async (t) => {
    const server = await startServer(t, {
      // No TURN server listens there: the credentials are what this test is about, and the peers connect
      // over loopback host candidates anyway.
      ice: { turnUrls: ['turn:127.0.0.1:9'], turnSecret: 'turn-secret-0123456789abcdef', turnTtl: TURN_TTL }
    })
    const { roomId } = await server.createRoom({ maxPeers: 10 })
    const alice = await join(t, server, roomId, 'alice')
    const aliceMeetsBob = waitForEvent(alice.mesh, 'peer', ({ peerId }) => peerId === 'bob', 'alice to connect to bob', TIMEOUT)
    const bob = await join(t, server, roomId, 'bob')
    const { pc } = await aliceMeetsBob
    const initial = turnUsername(alice.welcomeServers)
    t.ok(initial?.endsWith(':alice'), 'the welcome carried TURN credentials')

    // The first answer is asked for at once, for the ttl; the second on the timer, at 80% of it.
    await refreshes(alice, 2)
    const [first, second] = alice.refreshes
    t.equal(first?.ttl, TURN_TTL)
    t.equal(second?.ttl, TURN_TTL)
    const fresh = turnUsername(second?.iceServers)
    const expiry = (username: string | undefined): number => Number(username?.split(':')[0])
    t.ok(expiry(fresh) > expiry(initial), 'the refreshed credentials expire later than the welcome\'s')
    t.equal(turnUsername(pc.getConfiguration().iceServers), fresh, 'the open connection uses the fresh credentials')
    t.equal(pc.connectionState, 'connected', 'and is still connected')

    // A connection made after the refresh starts with the fresh credentials too.
    const aliceMeetsCarol = waitForEvent(alice.mesh, 'peer', ({ peerId }) => peerId === 'carol', 'alice to connect to carol', TIMEOUT)
    await join(t, server, roomId, 'carol')
    const { pc: toCarol } = await aliceMeetsCarol
    t.equal(turnUsername(toCarol.getConfiguration().iceServers), turnUsername(alice.refreshes.at(-1)?.iceServers))
    t.not(turnUsername(toCarol.getConfiguration().iceServers), initial)
    t.ok(bob.refreshes.length >= 1, 'bob\'s mesh refreshes its own')
  })

  t.test('with iceServers of the app\'s own, the mesh asks the server for none', async (t) => {
    const server = await startServer(t, {
      ice: { turnUrls: ['turn:127.0.0.1:9'], turnSecret: 'turn-secret-0123456789abcdef', turnTtl: TURN_TTL }
    })
    const { roomId } = await server.createRoom()
    const { token } = await server.issueToken(roomId, { peerId: 'alice' })
    const client = new SignallingClient({ url: server.wsUrl, token, WebSocket })
    const mesh = new Mesh(client, { RTCPeerConnection, configuration: { iceServers: [] } })
    t.teardown(async () => {
      mesh.close()
      await client.close()
    })
    const refreshes: IceServersMessage[] = []
    client.on('ice-servers', (message) => refreshes.push(message))
    await client.connect()
    // A round trip: an ice-servers request sent on welcome would be answered before this pong.
    const pong = new Promise((resolve) => client.once('pong', resolve))
    client.ping()
    await pong
    t.same(refreshes, [])
  })
}
