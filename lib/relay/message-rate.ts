// The per-peer message rate: a token bucket, and a count of seconds in a row over it.
import type { MessageRate } from '../limits.js'
import type { LocalPeer } from './peer.js'

/** `pass`: relay it. `drop`: answer RATE_LIMITED. `abuse`: close the socket with 4429. */
export type RateVerdict = 'pass' | 'drop' | 'abuse'

/** Takes a token for one message at `now` (monotonic ms: a step of the wall clock neither fills nor empties the bucket). */
export function take (peer: LocalPeer, rate: MessageRate, now: number): RateVerdict {
  peer.tokens = Math.min(rate.burst, peer.tokens + (now - peer.refilledAt) * rate.perSecond / 1000)
  peer.refilledAt = now
  if (peer.tokens >= 1) {
    peer.tokens -= 1
    return 'pass'
  }
  const second = Math.floor(now / 1000)
  if (second !== peer.droppedSecond) {
    // a second with more dropped than allowed messages counts as abuse; a calmer second forgives
    peer.abusiveSeconds = peer.dropped > rate.perSecond && second === peer.droppedSecond + 1 ? peer.abusiveSeconds + 1 : 0
    peer.droppedSecond = second
    peer.dropped = 0
  }
  peer.dropped++
  return peer.abusiveSeconds >= rate.abuseSeconds ? 'abuse' : 'drop'
}
