import { test } from 'tap'
import { DEFAULT_RESUME } from '../../../lib/limits.js'
import { LocalPeer } from '../../../lib/relay/peer.js'

const newPeer = (): LocalPeer => new LocalPeer('alice', 'r1', {}, 'n.1', new Date().toISOString(), 0)
const open = (n: number): string => `{"type":"message","from":"bob","data":${n}`

test('keep numbers each frame and keeps it, oldest first', async (t) => {
  const peer = newPeer()
  t.equal(peer.keep(open(1)), '{"type":"message","from":"bob","data":1,"seq":1}')
  peer.keep(open(2))
  t.equal(peer.seq, 2)
  t.equal(peer.oldestSeq, 1)
  t.equal(peer.replayBytes, peer.replay[0]!.length + peer.replay[1]!.length)
})

test('framesAfter gives what a client that saw lastSeq missed', async (t) => {
  const peer = newPeer()
  for (let i = 1; i <= 5; i++) peer.keep(open(i))
  t.same(peer.framesAfter(3).map((f) => (JSON.parse(f) as { seq: number }).seq), [4, 5])
  t.same(peer.framesAfter(5), [])
})

test('canReplay: only from the oldest kept frame on, within the byte bound, while in the room', async (t) => {
  const peer = newPeer()
  for (let i = 1; i <= 10; i++) peer.keep(open(i))
  const resume = { ...DEFAULT_RESUME, windowMessages: 4, windowBytes: 1 << 20 }
  peer.trim(resume)
  t.equal(peer.oldestSeq, 7, 'the window keeps the last 4')
  t.ok(peer.canReplay(6, resume.maxBytes), 'saw up to the frame before the oldest kept')
  t.notOk(peer.canReplay(5, resume.maxBytes), 'missed a frame no longer kept')
  t.ok(peer.canReplay(10, resume.maxBytes), 'missed nothing')
  t.notOk(peer.canReplay(11, resume.maxBytes), 'a seq never given')
  t.notOk(peer.canReplay(8, 10), 'more bytes kept than may be replayed')
  peer.detached = true
  t.notOk(peer.canReplay(8, resume.maxBytes), 'a peer that left')
})

test('trim keeps the window in frames and in bytes; overWindow asks for it in batches', async (t) => {
  const peer = newPeer()
  const resume = { ...DEFAULT_RESUME, windowMessages: 3, windowBytes: 1000 }
  for (let i = 1; i <= 6; i++) peer.keep(open(i))
  t.notOk(peer.overWindow(resume), 'up to twice the window in frames')
  peer.keep(open(7))
  t.ok(peer.overWindow(resume), 'past twice the window')
  peer.trim(resume)
  t.same(peer.framesAfter(4).length, 3, 'the last 3 frames kept')
  t.equal(peer.oldestSeq, 5)
  const small = { ...resume, windowBytes: 100 }
  t.ok(peer.overWindow(small), 'over the bytes at once')
  peer.trim(small)
  t.equal(peer.replay.length, 2, 'frames of about 50 B: two fit in 100 B')
  t.equal(peer.replayBytes, peer.replay[0]!.length + peer.replay[1]!.length)
})

test('overGraceBounds: past the frames or bytes a peer in its grace period may miss', async (t) => {
  const peer = newPeer()
  const resume = { ...DEFAULT_RESUME, maxMessages: 2, maxBytes: 1 << 20 }
  peer.keep(open(1))
  peer.keep(open(2))
  t.notOk(peer.overGraceBounds(resume))
  peer.keep(open(3))
  t.ok(peer.overGraceBounds(resume))
  t.ok(newPeerWith(1).overGraceBounds({ ...DEFAULT_RESUME, maxBytes: 10 }), 'in bytes')
})

function newPeerWith (frames: number): LocalPeer {
  const peer = newPeer()
  for (let i = 1; i <= frames; i++) peer.keep(open(i))
  return peer
}
