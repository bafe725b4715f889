// Join tokens in the server's own header are checked by lib/hs256.ts, any other header by @fastify/jwt. Drawn from a
// seeded source, thousands of signed and damaged tokens in that header must get the same verdict both ways: the same
// claims, or the same error. The one intended difference: a signature in non-canonical base64url (other trailing
// bits, decoding to the same bytes) is refused here, where @fastify/jwt's lenient decoder accepts it.
import { createHmac } from 'node:crypto'
import t, { type Test } from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import type { JWT } from '@fastify/jwt'
import auth from '../../plugins/auth.js'
import { signallingError } from '../../lib/errors.js'
import { assertJoinClaims, type JoinClaims } from '../../lib/join-token.js'
import { seededRandom } from '../support/seeded-random.js'

const SECRET = 'a-differential-secret-of-at-least-32-bytes'
const HEADER = Buffer.from('{"alg":"HS256","typ":"JWT"}').toString('base64url')
const random = seededRandom(7_2026_11)
const pick = <T>(items: readonly T[]): T => items[random(items.length)]!
const b64 = (text: string): string => Buffer.from(text).toString('base64url')
const signed = (payload: string, secret = SECRET): string => {
  const input = `${HEADER}.${b64(payload)}`
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`
}

// values a claim may take: right, wrong type, out of range (2 s and more from the 5 s skew's edges, so that the two
// checks, a few microseconds apart, see the same side of each)
function claimsSet (): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000)
  // each claim right three times in four, so that whole tokens are accepted often enough to compare
  const claim = <T>(right: T, others: readonly unknown[]): unknown => random(4) === 0 ? pick(others) : right
  const claims: Record<string, unknown> = {
    sub: claim('peer-1', ['p', '', 42, null, ['p'], 'x'.repeat(200)]),
    room: claim('room-1', ['r', '../r', '', 7, { id: 'r' }]),
    aud: claim('signalling-join', ['signalling-resume', 'other', ['signalling-join'], ['other', 'signalling-join'], [], 5, null]),
    iat: claim(now, [now - 60, now + 3, 'now', 1.5, null, now + 86400]),
    exp: claim(now + 60, [now + 3, now - 3, now - 8, now - 3600, 0, `${now + 60}`, now + 60.5, null, true, [now + 60], 1e300]),
    metadata: claim({}, [{ name: 'Zoë' }, [], 'm', null, { nested: { a: [1, 2] } }])
  }
  if (random(3) === 0) claims.nbf = pick([now - 60, now + 3, now + 8, now + 86400, `${now}`, null, [now]])
  // a required claim left out now and then
  if (random(6) === 0) delete claims[pick(['sub', 'room', 'aud', 'iat', 'exp'])]
  return claims
}

function payloadText (): string {
  switch (random(12)) {
    case 0: return pick(['null', '[]', '"text"', '42', 'true', '[{"sub":"p"}]'])
    case 1: return pick(['{', '{"sub":', 'not json', '', '{"exp":1}x', '\u0000'])
    case 2: return JSON.stringify(claimsSet(), null, 1)
    default: return JSON.stringify(claimsSet())
  }
}

const BASE64URL = /^[A-Za-z0-9_-]+$/
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
function damaged (token: string): string {
  const at = random(token.length)
  switch (random(7)) {
    case 0: return token.slice(0, at) + pick([...ALPHABET]) + token.slice(at + 1)
    case 1: return token.slice(0, at) + token.slice(at + 1)
    case 2: return token.slice(0, at) + pick(['.', '=', ' ', '+', '/', '\n', '%', 'é']) + token.slice(at)
    case 3: return `${token}${pick(['=', '.', '.x', 'A'])}`
    case 4: return token.slice(0, token.lastIndexOf('.'))
    case 5: return `${token.slice(0, token.lastIndexOf('.'))}.${signed('{}', 'another-secret-of-at-least-32-bytes-long').split('.')[2]!}`
    default: return signed(payloadText(), pick([`${SECRET} `, 'x', SECRET.slice(1)]))
  }
}

/** A Fastify app with only the auth plugin, closed when the test ends. */
async function authApp (t: Test): Promise<FastifyInstance> {
  const app = Fastify()
  await app.register(auth, { jwtSecret: SECRET, apiKey: 'key' })
  await app.ready()
  t.teardown(async () => { await app.close() })
  return app
}

type Verdict = { claims: JoinClaims } | { error: string }
const verdict = (check: () => JoinClaims): Verdict => {
  try {
    return { claims: check() }
  } catch (err) {
    return { error: `${(err as { code?: string }).code}: ${(err as Error).message}` }
  }
}

t.test('the server\'s own header: the same verdict as @fastify/jwt for signed and damaged tokens', async (t) => {
  const app = await authApp(t)
  const general = (app.jwt as unknown as Record<string, JWT>).signalling!
  // the reference: @fastify/jwt with the same options, its errors told apart as verifyJoinToken tells them apart
  const reference = (token: string): JoinClaims => {
    let payload: unknown
    try {
      payload = general.verify(token)
    } catch (err) {
      const expired = (err as { code?: string }).code === 'FAST_JWT_EXPIRED'
      throw signallingError('UNAUTHORIZED', expired ? 'the join token has expired' : 'the join token is invalid')
    }
    return assertJoinClaims(payload)
  }

  const tally = { accepted: 0, expired: 0, refused: 0 }
  let differences = 0
  let nonCanonical = 0
  for (let i = 0; i < 4000; i++) {
    const token = i % 3 === 2 ? damaged(signed(payloadText())) : signed(payloadText())
    const ours = verdict(() => app.signallingAuth.verifyJoinToken(token))
    const signature = token.slice(token.lastIndexOf('.') + 1)
    if (signature.length === 43 && BASE64URL.test(signature) && Buffer.from(signature, 'base64url').toString('base64url') !== signature) {
      // the intended difference: a digest's length of base64url whose last character has other trailing bits
      // (decoding, leniently, to a digest), refused here alone
      nonCanonical++
      if ('claims' in ours) t.fail(`token ${i}: a non-canonical signature was accepted: ${token}`)
      continue
    }
    const theirs = verdict(() => reference(token))
    if ('claims' in ours) tally.accepted++
    else if (ours.error.includes('expired')) tally.expired++
    else tally.refused++
    if (JSON.stringify(ours) !== JSON.stringify(theirs)) {
      differences++
      if (differences <= 5) t.same(ours, theirs, `token ${i}: ${token}`)
    }
  }
  t.equal(differences, 0, `4,000 tokens, the same verdict both ways (${tally.accepted} accepted, ${tally.expired} expired, ${tally.refused} refused otherwise; ${nonCanonical} with a non-canonical signature, refused here)`)
  // the draw must reach every outcome, or the comparison proves little
  t.ok(tally.accepted >= 200 && tally.expired >= 50 && tally.refused >= 1000, 'every outcome drawn many times')
})

t.test('a signature in non-canonical base64url is refused here, though it decodes to the right bytes', async (t) => {
  const app = await authApp(t)
  const now = Math.floor(Date.now() / 1000)
  const token = signed(JSON.stringify({ sub: 'p', room: 'r', aud: 'signalling-join', iat: now, exp: now + 60, metadata: {} }))
  t.equal(app.signallingAuth.verifyJoinToken(token).sub, 'p', 'the canonical token is accepted')
  // 43 characters carry 258 bits for a 256-bit digest: the last character's low 2 bits are padding
  const last = token.at(-1)!
  const twin = ALPHABET[ALPHABET.indexOf(last) ^ 1]!
  const variant = `${token.slice(0, -1)}${twin}`
  t.same(Buffer.from(variant.split('.')[2]!, 'base64url'), Buffer.from(token.split('.')[2]!, 'base64url'), 'the variant decodes to the same digest')
  t.ok((app.jwt as unknown as Record<string, JWT>).signalling!.verify(variant), '@fastify/jwt accepts the variant')
  t.throws(() => app.signallingAuth.verifyJoinToken(variant), { code: 'UNAUTHORIZED', message: 'Unauthorized: the join token is invalid' }, 'and the server refuses it')
})

t.test('a token with another header, or over 16 KiB, is still judged by @fastify/jwt', async (t) => {
  const app = await authApp(t)
  const now = Math.floor(Date.now() / 1000)
  const claims = { sub: 'p', room: 'r', aud: 'signalling-join', iat: now, exp: now + 60 }
  const withHeader = (header: object, payload: object, secret = SECRET): string => {
    const input = `${b64(JSON.stringify(header))}.${b64(JSON.stringify(payload))}`
    return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`
  }
  t.equal(app.signallingAuth.verifyJoinToken(withHeader({ typ: 'JWT', alg: 'HS256' }, claims)).sub, 'p', 'members in another order')
  t.equal(app.signallingAuth.verifyJoinToken(withHeader({ alg: 'HS256' }, claims)).sub, 'p', 'no typ')
  t.equal(app.signallingAuth.verifyJoinToken(withHeader({ alg: 'HS256', typ: 'JWT', kid: 'k1' }, claims)).sub, 'p', 'a kid')
  t.throws(() => app.signallingAuth.verifyJoinToken(withHeader({ alg: 'HS256' }, { ...claims, exp: now - 60 })), { message: 'Unauthorized: the join token has expired' }, 'expired')
  t.throws(() => app.signallingAuth.verifyJoinToken(withHeader({ alg: 'HS512' }, claims)), { message: 'Unauthorized: the join token is invalid' }, 'HS512')
  t.throws(() => app.signallingAuth.verifyJoinToken(withHeader({ alg: 'HS256' }, claims, `${SECRET}!`)), { message: 'Unauthorized: the join token is invalid' }, 'another secret')
  // the server's own header, but longer than lib/hs256.ts keeps buffers for
  const long = withHeader({ alg: 'HS256', typ: 'JWT' }, { ...claims, metadata: { blob: 'x'.repeat(13_000) } })
  t.ok(long.startsWith(HEADER) && long.length > 16 * 1024, `the server's header, ${long.length} characters`)
  t.equal(app.signallingAuth.verifyJoinToken(long).metadata?.blob, 'x'.repeat(13_000), 'accepted, by @fastify/jwt')
  t.throws(() => app.signallingAuth.verifyJoinToken(withHeader({ alg: 'HS256', typ: 'JWT' }, { ...claims, metadata: { blob: 'x'.repeat(13_000) } }, `${SECRET}!`)),
    { message: 'Unauthorized: the join token is invalid' }, 'and refused with another secret')
})
