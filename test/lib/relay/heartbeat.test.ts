import { test } from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import type { WebSocket } from 'ws'
import { bytesReadOf, Heartbeat } from '../../../lib/relay/heartbeat.js'
import type { LocalPeer } from '../../../lib/relay/peer.js'
import { relayParts, socketPairs } from './parts.js'

test('a peer that answers pings stays; one that reads nothing over an interval is reported silent', async (t) => {
  const { pair } = await socketPairs(t)
  const parts = await relayParts()
  const lively = await pair()
  // ws answers pings by itself unless told not to: this client is a half-open connection's stand-in
  const mute = await pair({ autoPong: false })
  await parts.seat(lively.server, 'lively')
  await parts.seat(mute.server, 'mute')
  let pings = 0
  lively.client.on('ping', () => { pings++ })
  const silent: string[] = []
  const heartbeat = new Heartbeat(parts.rooms, 200, (peer: LocalPeer, socket: WebSocket) => {
    silent.push(peer.peerId)
    socket.terminate()
  })
  t.teardown(() => { heartbeat.stop() })
  await sleep(700)
  t.same(silent, ['mute'], 'only the mute peer, once')
  t.ok(pings >= 2, `the lively peer was pinged every interval (${pings})`)
})

test('the rooms are visited in slices: every room of many is pinged within an interval', async (t) => {
  const { pair } = await socketPairs(t)
  const parts = await relayParts()
  const clients = []
  for (let r = 0; r < 30; r++) clients.push(await pair())
  const pinged = new Set<number>()
  for (const [r, p] of clients.entries()) {
    await parts.seat(p.server, `p${r}`, `room${r}`)
    p.client.on('ping', () => pinged.add(r))
  }
  const heartbeat = new Heartbeat(parts.rooms, 1000, () => { t.fail('nobody is silent') })
  t.teardown(() => { heartbeat.stop() })
  await sleep(1300)
  t.equal(pinged.size, 30)
})

test('bytesReadOf reads the connection under a socket', async (t) => {
  const { pair } = await socketPairs(t)
  const p = await pair()
  const before = bytesReadOf(p.server)
  t.type(before, 'number')
  p.client.send('hello')
  await sleep(50)
  t.ok(bytesReadOf(p.server)! > before!)
})
