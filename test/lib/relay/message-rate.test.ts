import { test } from 'tap'
import { take } from '../../../lib/relay/message-rate.js'
import { LocalPeer } from '../../../lib/relay/peer.js'

const rate = { perSecond: 10, burst: 5, abuseSeconds: 2 }
const peerAt = (now: number): LocalPeer => {
  const peer = new LocalPeer('alice', 'r1', {}, 'n.1', new Date().toISOString(), rate.burst)
  peer.refilledAt = now
  return peer
}

test('a full bucket passes a burst, then drops', async (t) => {
  const peer = peerAt(10_000)
  const verdicts = Array.from({ length: 6 }, () => take(peer, rate, 10_000))
  t.same(verdicts, ['pass', 'pass', 'pass', 'pass', 'pass', 'drop'])
})

test('the bucket refills at perSecond, up to the burst', async (t) => {
  const peer = peerAt(10_000)
  for (let i = 0; i < 5; i++) take(peer, rate, 10_000)
  t.equal(take(peer, rate, 10_000), 'drop', 'empty')
  t.equal(take(peer, rate, 10_100), 'pass', 'one token after 100 ms at 10/s')
  t.equal(take(peer, rate, 10_100), 'drop', 'and only one')
  take(peer, rate, 60_000)
  t.equal(peer.tokens, rate.burst - 1, 'a long pause refills to the burst, not beyond')
})

test('seconds in a row with more drops than allowed messages are abuse; a calm second forgives', async (t) => {
  const flood = (peer: LocalPeer, second: number): string[] => {
    const verdicts = []
    for (let i = 0; i < 30; i++) verdicts.push(take(peer, rate, second * 1000 + i))
    return verdicts
  }
  const peer = peerAt(100_000)
  t.notOk(flood(peer, 100).includes('abuse'), 'the first second over the limit only drops')
  t.notOk(flood(peer, 101).includes('abuse'), 'one abusive second counted')
  t.ok(flood(peer, 102).includes('abuse'), 'the second abusive second in a row: abuse')

  const calm = peerAt(200_000)
  flood(calm, 200)
  flood(calm, 201)
  take(calm, rate, 203_000)
  t.notOk(flood(calm, 204).includes('abuse'), 'a skipped second resets the count')
})

test('the clock is monotonic ms: a time before the last refill adds no tokens', async (t) => {
  const peer = peerAt(10_000)
  for (let i = 0; i < 5; i++) take(peer, rate, 10_000)
  t.equal(take(peer, rate, 9_000), 'drop')
})
