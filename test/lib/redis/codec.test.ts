import { test } from 'tap'
import type { BackplaneEvent } from '../../../lib/backplane.js'
import { decode, encode } from '../../../lib/redis/codec.js'

const events: BackplaneEvent[] = [
  { kind: 'deliver', to: 'bob', frame: '{"type":"offer","from":"alice","data":"v=0\\r\\n"}' },
  { kind: 'broadcast', except: 'alice', frame: '{"type":"peer-left","peerId":"alice"}' },
  { kind: 'kick', peerId: 'bob' },
  { kind: 'replaced', peerId: 'bob', connection: 'n1.7' },
  { kind: 'close-room' },
  { kind: 'resume-request', peerId: 'bob', requestId: 'n2.3', lastSeq: 41 },
  { kind: 'resume-reply', requestId: 'n2.3', reply: { ok: true, seq: 42, frames: ['{"seq":42}'], metadata: { a: 1 }, joinedAt: '2026-01-01T00:00:00.000Z' } }
]

test('every event kind survives encode and decode, with its origin', async (t) => {
  for (const event of events) t.same(decode(encode('node1', event)), { origin: 'node1', event }, event.kind)
})

test('a frame with newlines inside stays whole', async (t) => {
  const frame = 'line one\nline two\n\nline four'
  t.same(decode(encode('n', { kind: 'broadcast', except: '', frame }))?.event, { kind: 'broadcast', except: '', frame })
})

test('a message of no known kind, or cut short, decodes to nothing', async (t) => {
  t.equal(decode('x\nnode\na\nb\nrest'), undefined)
  t.equal(decode('d\nnode\nbob'), undefined)
})
