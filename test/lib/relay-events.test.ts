// The relay's events (joins and departures on this node) and messages from the app's backend.
import { test } from 'tap'
import { joinClaims } from '../../lib/join-token.js'
import type { LeaveReason } from '../../lib/protocol.js'
import { Relay, SERVER_SENDER } from '../../lib/relay.js'
import { RelaySocket } from '../../lib/relay-socket.js'
import { MemoryRoomRegistry } from '../../lib/room-registry.js'

const ROOM = { roomId: 'r1', maxPeers: 4, emptyTimeout: 60, metadata: {}, createdAt: new Date(Date.now() - 10_000).toISOString() }

async function until (condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

async function setup (): Promise<{ relay: Relay, log: string[], join: (peerId: string) => { socket: RelaySocket, frames: any[] } }> {
  const registry = new MemoryRoomRegistry()
  await registry.create(ROOM)
  const log: string[] = []
  const relay = new Relay({
    registry,
    heartbeatInterval: 0,
    resume: { grace: 50 },
    events: {
      joined: (roomId, peer) => log.push(`joined ${roomId} ${peer.peerId}`),
      left: (roomId, peerId, reason: LeaveReason) => log.push(`left ${roomId} ${peerId} ${reason}`)
    }
  })
  const join = (peerId: string): { socket: RelaySocket, frames: any[] } => {
    const frames: any[] = []
    const socket = new RelaySocket({ frame: (text) => frames.push(JSON.parse(text)), closed: () => {} })
    relay.connect(socket.asWebSocket, joinClaims('r1', peerId, 60, {}))
    return { socket, frames }
  }
  return { relay, log, join }
}

test('joins and departures are told once each, with the reason', async (t) => {
  const { relay, log, join } = await setup()
  t.teardown(async () => { await relay.close() })
  const a = join('a')
  join('b')
  await until(() => log.length === 2, 'two joins')
  a.socket.receive('{"type":"leave"}')
  await relay.kick('r1', 'b')
  t.same(log, ['joined r1 a', 'joined r1 b', 'left r1 a left', 'left r1 b kicked'])
})

test('a drop is told only once its grace period has passed', async (t) => {
  const { relay, log, join } = await setup()
  t.teardown(async () => { await relay.close() })
  const a = join('a')
  await until(() => log.length === 1, 'a join')
  a.socket.end(1006)
  await new Promise((resolve) => setTimeout(resolve, 10))
  t.same(log, ['joined r1 a'], 'nothing within the grace period')
  await until(() => log.length === 2, 'the end of the grace period')
  t.same(log[1], 'left r1 a disconnected')
})

test('the backend sends to one peer or to all, as a sender no peer can be', async (t) => {
  const { relay, join } = await setup()
  t.teardown(async () => { await relay.close() })
  const a = join('a')
  const b = join('b')
  await until(() => a.frames.some((f) => f.type === 'peer-joined'), 'both in')
  await relay.send('r1', { hello: 1 }, 'b')
  t.match(b.frames.at(-1), { type: 'message', from: SERVER_SENDER, data: { hello: 1 } })
  t.notOk(a.frames.some((f) => f.type === 'message'), 'a got nothing')
  await relay.send('r1', 'all')
  t.match(a.frames.at(-1), { type: 'message', from: '@server', data: 'all' })
  t.match(b.frames.at(-1), { type: 'message', from: '@server', data: 'all' })
  await t.rejects(relay.send('r1', 1, 'nobody'), { code: 'PEER_NOT_FOUND' })
  await t.rejects(relay.send('nope', 1), { code: 'ROOM_NOT_FOUND' })
})
