import { createHmac } from 'node:crypto'
import t from 'tap'
import Fastify from 'fastify'
import jwt from '@fastify/jwt'
import { hs256, UNJUDGED } from '../../lib/hs256.js'
import { seededRandom } from '../support/seeded-random.js'

const SECRET = 'a-test-secret-of-at-least-32-bytes-0123456789'

const random = seededRandom(20261126)
const text = (length: number): string => Array.from({ length }, () => String.fromCharCode(random(0x3000))).join('')

// issued now, so that verification accepts them
const iat = Math.floor(Date.now() / 1000)
const claims = (metadata: Record<string, unknown>): object =>
  ({ sub: 'peer-1', room: 'room-1', aud: 'signalling-join', iat, exp: iat + 3600, metadata })

t.test('makes the same token, byte for byte, as @fastify/jwt signing HS256', async (t) => {
  const app = Fastify()
  await app.register(jwt, { secret: SECRET, sign: { algorithm: 'HS256' } })
  await app.ready()
  t.teardown(async () => { await app.close() })
  const sign = hs256(SECRET).sign
  // small, unicode, and past the signer's first buffer (1 KiB) and back, so the grown buffer is used again
  const payloads = [
    claims({}),
    claims({ name: 'Zoë 🚀', tags: ['a', 'b'], nested: { n: 1.5, ok: true, none: null } }),
    claims({ blob: 'x'.repeat(3000) }),
    claims({ name: text(40) }),
    claims({ blob: text(2000) }),
    claims({})
  ]
  for (const payload of payloads) {
    const token = sign(payload)
    t.equal(token, app.jwt.sign(payload), `${token.length} characters`)
    t.same(app.jwt.verify(token), payload, 'verifies and decodes to the same claims')
  }
})

t.test('the signature is HMAC-SHA256 of the signing input, for keys shorter than, equal to and longer than a block', async (t) => {
  // bytes of any value, and ASCII bytes only (which sign through a string rather than a buffer)
  for (const byteRange of [256, 128]) {
    for (const length of [1, 31, 32, 63, 64, 65, 100, 128, 200]) {
      const key = Buffer.from(Array.from({ length }, () => random(byteRange)))
      const { sign, verify } = hs256(key)
      for (let i = 0; i < 5; i++) {
        const token = sign(claims({ note: text(random(1500)) }))
        const [header, payload, signature] = token.split('.')
        const expected = createHmac('sha256', key).update(`${header}.${payload}`).digest('base64url')
        t.equal(signature, expected, `key of ${length} bytes below ${byteRange}, payload of ${payload!.length} characters`)
        t.not(verify(token), undefined, 'and verifies')
      }
    }
  }
})

t.test('a token signed with another secret, or altered, does not verify', async (t) => {
  const app = Fastify()
  await app.register(jwt, { secret: SECRET, verify: { algorithms: ['HS256'] } })
  await app.ready()
  t.teardown(async () => { await app.close() })
  const token = hs256(SECRET).sign(claims({ name: 'a' }))
  t.throws(() => app.jwt.verify(hs256(`${SECRET}!`).sign(claims({ name: 'a' }))), { code: 'FAST_JWT_INVALID_SIGNATURE' })
  const [header, payload, signature] = token.split('.')
  const forged = Buffer.from(JSON.stringify({ ...claims({ name: 'a' }), room: 'room-2' })).toString('base64url')
  t.throws(() => app.jwt.verify(`${header}.${forged}.${signature}`), { code: 'FAST_JWT_INVALID_SIGNATURE' })
  t.ok(app.jwt.verify(`${header}.${payload}.${signature}`), 'the untouched token verifies')
})

t.test('verify: returns the payload of its own tokens, refuses damaged ones, and leaves other headers alone', async (t) => {
  const { sign, verify } = hs256(SECRET)
  // small, then past the 1 KiB buffer and back
  for (const payload of [claims({}), claims({ blob: text(2000) }), claims({ name: 'Zoë 🚀' })]) {
    t.same(verify(sign(payload)), payload, `a token of ${sign(payload).length} characters`)
  }
  const token = sign(claims({ name: 'a' }))
  const [header, payload, signature] = token.split('.') as [string, string, string]
  t.equal(verify(hs256(`${SECRET}!`).sign(claims({ name: 'a' }))), undefined, 'another secret')
  t.equal(verify(`${header}.${Buffer.from(JSON.stringify(claims({ name: 'b' }))).toString('base64url')}.${signature}`), undefined, 'another payload')
  t.equal(verify(`${header}.${payload}.${signature.slice(0, -1)}`), undefined, 'a signature cut short')
  t.equal(verify(`${header}.${payload}.${signature}=`), undefined, 'a padded signature')
  t.equal(verify(`${header}.${payload}.x.${signature}`), undefined, 'a fourth segment')
  t.equal(verify(`${header}.${signature}`), undefined, 'no payload segment')
  const input = `${header}.${Buffer.from('not json').toString('base64url')}`
  t.equal(verify(`${input}.${createHmac('sha256', SECRET).update(input).digest('base64url')}`), undefined, 'a signed payload that is not JSON')
  t.equal(verify(`${Buffer.from('{"typ":"JWT","alg":"HS256"}').toString('base64url')}.${payload}.${signature}`), UNJUDGED, 'another header')
  t.equal(verify('garbage'), UNJUDGED, 'not a token at all: not this header either')
  const long = sign(claims({ blob: 'x'.repeat(13_000) }))
  t.ok(long.length > 16 * 1024, `a token of ${long.length} characters`)
  t.equal(verify(long), UNJUDGED, 'is left to the general verifier rather than grow the buffers for good')
})
