import { createHmac } from 'node:crypto'
import t, { type Test } from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import type { JWT } from '@fastify/jwt'
import auth from '../../plugins/auth.js'
import { joinClaims, RESUME_AUDIENCE } from '../../lib/join-token.js'

const SECRET = 'an-auth-plugin-secret-of-at-least-32-bytes'
const API_KEY = 'k3y-0f-the-API_with.more+chars'
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
const b64 = (part: unknown): string => Buffer.from(typeof part === 'string' ? part : JSON.stringify(part)).toString('base64url')
const now = (): number => Math.floor(Date.now() / 1000)
const claims = (extra: Record<string, unknown> = {}): Record<string, unknown> =>
  ({ sub: 'p', room: 'r', aud: 'signalling-join', iat: now(), exp: now() + 60, metadata: {}, ...extra })

/** HS256 by hand, with any header and secret. */
function signed (payload: unknown, header: object = { alg: 'HS256', typ: 'JWT' }, secret = SECRET): string {
  const input = `${b64(header)}.${b64(payload)}`
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`
}

/** A Fastify app with only the auth plugin, closed when the test ends. */
async function authApp (t: Test, options: { clockSkew?: number } = {}): Promise<FastifyInstance> {
  const app = Fastify()
  await app.register(auth, { jwtSecret: SECRET, apiKey: API_KEY, ...options })
  app.get('/backend', async (request) => ({ backend: await app.signallingAuth.isBackend(request) }))
  await app.ready()
  t.teardown(async () => { await app.close() })
  return app
}

const refusal = (message: string) => ({ code: 'UNAUTHORIZED', statusCode: 401, message: `Unauthorized: ${message}` })

t.test('signJoinToken makes an HS256 JWT that verifyJoinToken reads back', async (t) => {
  const app = await authApp(t)
  const join = joinClaims('r', 'p', 60, { name: 'Zoë' })
  const token = app.signallingAuth.signJoinToken(join)
  const [header, payload] = token.split('.') as [string, string, string]
  t.equal(Buffer.from(header, 'base64url').toString(), '{"alg":"HS256","typ":"JWT"}')
  t.equal(Buffer.from(payload, 'base64url').toString(), JSON.stringify(join), 'the claims as they are, in their order')
  t.equal(token, signed(join), 'the same token as an HMAC by hand')
  t.same(app.signallingAuth.verifyJoinToken(token), join)
  const resume = joinClaims('r', 'p', 60, {}, Date.now(), RESUME_AUDIENCE)
  t.same(app.signallingAuth.verifyJoinToken(app.signallingAuth.signJoinToken(resume)), resume, 'a resume token')
})

t.test('verifyJoinToken: HS256 only, exp and aud required, with the clock skew', async (t) => {
  const app = await authApp(t)
  const verify = (token: string | undefined) => app.signallingAuth.verifyJoinToken(token)
  t.throws(() => verify(undefined), refusal('a join token is required'))
  const accepted: Array<[string, string]> = [
    ['header members in another order', signed(claims(), { typ: 'JWT', alg: 'HS256' })],
    ['no typ', signed(claims(), { alg: 'HS256' })],
    ['a kid', signed(claims(), { alg: 'HS256', typ: 'JWT', kid: 'k1' })],
    ['expired 2 s ago, within the 5 s skew', signed(claims({ exp: now() - 2 }))],
    ['nbf 2 s ahead, within the skew', signed(claims({ nbf: now() + 2 }))],
    ['over 16 KiB', signed(claims({ metadata: { blob: 'x'.repeat(13_000) } }))]
  ]
  for (const [name, token] of accepted) t.equal(verify(token).sub, 'p', name)
  t.throws(() => verify(signed(claims({ exp: now() - 30 }))), refusal('the join token has expired'), 'expired beyond the skew')
  const invalid: Array<[string, string]> = [
    ['empty', ''],
    ['not a JWT', 'garbage'],
    ['HS512', (() => {
      const input = `${b64({ alg: 'HS512', typ: 'JWT' })}.${b64(claims())}`
      return `${input}.${createHmac('sha512', SECRET).update(input).digest('base64url')}`
    })()],
    ['alg none', `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims())}.`],
    ['another secret', signed(claims(), undefined, `${SECRET}!`)],
    ['over 16 KiB, another secret', signed(claims({ metadata: { blob: 'x'.repeat(13_000) } }), undefined, `${SECRET}!`)],
    ['no exp', signed((({ exp: _exp, ...rest }) => rest)(claims()))],
    ['exp as a string', signed(claims({ exp: String(now() + 60) }))],
    ['nbf 30 s ahead', signed(claims({ nbf: now() + 30 }))],
    ['no aud', signed((({ aud: _aud, ...rest }) => rest)(claims()))],
    ['aud of another service', signed(claims({ aud: 'other' }))],
    ['claims that are not a join token', signed(claims({ room: '../r' }))],
    ['padding after the signature', `${signed(claims())}=`]
  ]
  for (const [name, token] of invalid) t.throws(() => verify(token), refusal(name === 'claims that are not a join token' ? 'token claims are not a join token' : 'the join token is invalid'), name)
})

t.test('the clock skew is an option', async (t) => {
  const app = await authApp(t, { clockSkew: 60 })
  t.equal(app.signallingAuth.verifyJoinToken(signed(claims({ exp: now() - 30 }))).sub, 'p', 'expired 30 s ago, within 60 s')
})

t.test('a signature in non-canonical base64url is refused, though it decodes to the right bytes', async (t) => {
  const app = await authApp(t)
  const token = signed(claims())
  t.equal(app.signallingAuth.verifyJoinToken(token).sub, 'p', 'the canonical token is accepted')
  // 43 characters carry 258 bits for a 256-bit digest: the last character's low 2 bits are padding
  const twin = ALPHABET[ALPHABET.indexOf(token.at(-1)!) ^ 1]!
  const variant = `${token.slice(0, -1)}${twin}`
  t.same(Buffer.from(variant.split('.')[2]!, 'base64url'), Buffer.from(token.split('.')[2]!, 'base64url'), 'the variant decodes to the same digest')
  t.ok((app.jwt as unknown as Record<string, JWT>).signalling!.verify(variant), '@fastify/jwt alone accepts the variant')
  t.throws(() => app.signallingAuth.verifyJoinToken(variant), refusal('the join token is invalid'), 'and the server refuses it')
})

t.test('isBackend accepts the API key and nothing else', async (t) => {
  const app = await authApp(t)
  const backend = async (authorization?: string): Promise<boolean> =>
    (await app.inject({ method: 'GET', url: '/backend', headers: authorization === undefined ? {} : { authorization } })).json().backend
  t.equal(await backend(`Bearer ${API_KEY}`), true, 'the key')
  t.equal(await backend(`bearer ${API_KEY}`), true, 'the scheme in any case')
  for (const [name, authorization] of [
    ['no header', undefined],
    ['an empty key', 'Bearer '],
    ['a prefix', `Bearer ${API_KEY.slice(0, -1)}`],
    ['the key and more', `Bearer ${API_KEY}x`],
    ['the key twice', `Bearer ${API_KEY}${API_KEY}`],
    ['other case', `Bearer ${API_KEY.toUpperCase()}`],
    ['another scheme', `Basic ${API_KEY}`]
  ] as Array<[string, string | undefined]>) t.equal(await backend(authorization), false, name)
})
