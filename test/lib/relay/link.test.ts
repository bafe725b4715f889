import { test } from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import type { RawData } from 'ws'
import { attach, linkOf, socketListeners, type LinkHandlers } from '../../../lib/relay/link.js'
import { LocalPeer } from '../../../lib/relay/peer.js'
import { relayParts, socketPairs } from './parts.js'

function recordingHandlers (): LinkHandlers & { frames: string[], failures: unknown[], closes: number[] } {
  const frames: string[] = []
  const failures: unknown[] = []
  const closes: number[] = []
  return {
    frames,
    failures,
    closes,
    onFrame: (_peer, data: RawData) => {
      const text = data.toString()
      if (text === 'throw') throw new Error('handler bug')
      frames.push(text)
    },
    onFailure: (_peer, err) => { failures.push(err) },
    onClose: (_peer, code) => { closes.push(code) }
  }
}

test('frames before the peer is bound are held, in order; after it they go to the handler', async (t) => {
  const { pair } = await socketPairs(t)
  const { ctx } = await relayParts()
  const handlers = recordingHandlers()
  const a = await pair()
  const link = attach(a.server, 'alice', 'r1', socketListeners(ctx, handlers))
  t.equal(linkOf(a.server), link)
  a.client.send('one')
  a.client.send('two')
  await sleep(50)
  t.same(link.pending?.map((f) => f.data.toString()), ['one', 'two'])
  t.same(handlers.frames, [])
  const peer = new LocalPeer('alice', 'r1', {}, 'n.1', new Date().toISOString(), 0)
  peer.socket = a.server
  link.peer = peer
  a.client.send('three')
  a.client.send('throw')
  await sleep(50)
  t.same(handlers.frames, ['three'])
  t.equal(handlers.failures.length, 1, 'a handler that throws is reported, not thrown to ws')
  a.client.close(1000)
  await a.closed
  await sleep(20)
  t.same(handlers.closes, [1000])
})

test('too many frames before welcome close the socket with 1009', async (t) => {
  const { pair } = await socketPairs(t)
  const { ctx } = await relayParts()
  const a = await pair()
  const link = attach(a.server, 'alice', 'r1', socketListeners(ctx, recordingHandlers()))
  for (let i = 0; i < 300; i++) a.client.send(`f${i}`)
  t.equal(await a.closed, 1009)
  t.equal(link.pending?.length, 256, 'no more than 256 held')
})

test('a socket no longer the peer\'s own is ignored: frames and close', async (t) => {
  const { pair } = await socketPairs(t)
  const { ctx } = await relayParts()
  const handlers = recordingHandlers()
  const [old, current] = [await pair(), await pair()]
  const listeners = socketListeners(ctx, handlers)
  const oldLink = attach(old.server, 'alice', 'r1', listeners)
  const peer = new LocalPeer('alice', 'r1', {}, 'n.1', new Date().toISOString(), 0)
  oldLink.peer = peer
  attach(current.server, 'alice', 'r1', listeners).peer = peer
  peer.socket = current.server
  old.client.send('stale')
  old.client.close(1000)
  await old.closed
  await sleep(50)
  t.same(handlers.frames, [])
  t.same(handlers.closes, [])
})

test('a protocol violation closes as 1002, not as a network drop', async (t) => {
  const { pair } = await socketPairs(t)
  const { ctx } = await relayParts()
  const handlers = recordingHandlers()
  const a = await pair()
  const link = attach(a.server, 'alice', 'r1', socketListeners(ctx, handlers))
  const peer = new LocalPeer('alice', 'r1', {}, 'n.1', new Date().toISOString(), 0)
  peer.socket = a.server
  link.peer = peer
  // an unmasked frame from a client is a protocol error on the server's side
  ;(a.client as unknown as { _socket: { write: (b: Buffer) => void } })._socket.write(Buffer.from([0x81, 0x02, 0x68, 0x69]))
  await a.closed
  await sleep(50)
  t.ok(link.failed)
  t.same(handlers.closes, [1002])
})
