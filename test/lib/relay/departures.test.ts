import { test } from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import type { LeaveReason } from '../../../lib/protocol.js'
import type { RelayEvents } from '../../../lib/relay/types.js'
import { relayParts, socketPairs } from './parts.js'

function recordingEvents (): RelayEvents & { log: string[] } {
  const log: string[] = []
  return { log, joined: (roomId, peer) => { log.push(`joined ${roomId} ${peer.peerId}`) }, left: (roomId, peerId, reason: LeaveReason) => { log.push(`left ${roomId} ${peerId} ${reason}`) } }
}

test('leave detaches the peer once: announced, told, recorded, its socket closed', async (t) => {
  const { pair } = await socketPairs(t)
  const events = recordingEvents()
  const parts = await relayParts({ events })
  const [a, b] = [await pair(), await pair()]
  const alice = await parts.seat(a.server, 'alice')
  await parts.seat(b.server, 'bob')
  parts.departures.leave(alice, 1000, 'left', 'left')
  parts.departures.leave(alice, 1000, 'left', 'left')
  t.equal(await a.closed, 1000)
  t.match(JSON.parse((await b.frames(1))[0]!), { type: 'peer-left', peerId: 'alice', reason: 'left' })
  await parts.departures.settled()
  t.same((await parts.registry.peers('r1')).map((p) => p.peerId), ['bob'], 'gone from the registry')
  t.same(events.log, ['left r1 alice left'], 'told once')
  await sleep(50)
  t.equal(b.received.length, 1, 'announced once')
})

test('a dropped connection keeps the place for the grace period, then the peer leaves as disconnected', async (t) => {
  const { pair } = await socketPairs(t)
  const events = recordingEvents()
  const parts = await relayParts({ events, resume: { grace: 150 } })
  const [a, b] = [await pair(), await pair()]
  const alice = await parts.seat(a.server, 'alice')
  await parts.seat(b.server, 'bob')
  a.client.terminate()
  await sleep(50)
  t.equal(alice.socket, undefined, 'its socket is gone')
  t.equal(parts.rooms.peer('r1', 'alice'), alice, 'its place is kept')
  t.same(events.log, [], 'nobody told yet')
  await sleep(250)
  t.ok(alice.detached)
  t.same(events.log, ['left r1 alice disconnected'])
  t.match(JSON.parse((await b.frames(1))[0]!), { type: 'peer-left', peerId: 'alice', reason: 'disconnected' })
})

test('a clean close leaves at once; no grace period when it is off', async (t) => {
  const { pair } = await socketPairs(t)
  const events = recordingEvents()
  const parts = await relayParts({ events, resume: { grace: 0 } })
  const [a, c] = [await pair(), await pair()]
  await parts.seat(a.server, 'alice')
  await parts.seat(c.server, 'carol')
  a.client.close(1000)
  c.client.terminate()
  await sleep(100)
  t.same(events.log.sort(), ['left r1 alice disconnected', 'left r1 carol disconnected'])
})

test('forget removes a peer without a word, and lets an empty room go', async (t) => {
  const events = recordingEvents()
  const parts = await relayParts({ events })
  const alice = await parts.seat(undefined, 'alice')
  parts.departures.forget(alice)
  t.ok(alice.detached)
  t.equal(parts.rooms.get('r1'), undefined, 'the empty room is let go')
  t.same(events.log, [], 'nobody told')
  t.same((await parts.registry.peers('r1')).map((p) => p.peerId), ['alice'], 'the registry is not touched: the peer lives on elsewhere')
})

test('a listener that throws is logged, never the relay\'s failure', async (t) => {
  const parts = await relayParts({ events: { joined () {}, left () { throw new Error('listener bug') } } })
  const alice = await parts.seat(undefined, 'alice')
  t.doesNotThrow(() => parts.departures.detach(alice, 'left'))
  await parts.departures.settled()
  t.same(await parts.registry.peers('r1'), [], 'the departure is still recorded')
})
