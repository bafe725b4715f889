import t from 'tap'
import { assertJoinClaims, bearerToken, joinClaims, RESUME_AUDIENCE, TOKEN_AUDIENCE, tokenFromRequest } from '../../lib/join-token.js'

t.test('joinClaims: exp is iat + ttl, in whole seconds, for the join or the resume audience', async (t) => {
  const now = Date.UTC(2026, 10, 26, 12) + 999
  const claims = joinClaims('room', 'peer', 3600, { name: 'Ann' }, now)
  t.same(claims, { sub: 'peer', room: 'room', aud: TOKEN_AUDIENCE, iat: Math.floor(now / 1000), exp: Math.floor(now / 1000) + 3600, metadata: { name: 'Ann' } })
  t.equal(joinClaims('room', 'peer', 60, {}, now, RESUME_AUDIENCE).aud, RESUME_AUDIENCE)
})

t.test('assertJoinClaims takes claims of a join token and refuses anything else', async (t) => {
  const claims = joinClaims('room', 'peer', 60, {})
  t.equal(assertJoinClaims(claims), claims)
  for (const [name, payload] of [
    ['not an object', 'text'],
    ['a room with a path', { ...claims, room: '../r' }],
    ['another audience', { ...claims, aud: 'other' }],
    ['exp as a string', { ...claims, exp: String(claims.exp) }],
    ['metadata as an array', { ...claims, metadata: [] }]
  ] as Array<[string, unknown]>) {
    t.throws(() => assertJoinClaims(payload), { code: 'UNAUTHORIZED', message: 'Unauthorized: token claims are not a join token' }, name)
  }
})

t.test('tokenFromRequest takes ?token= first, then Authorization: Bearer', async (t) => {
  t.equal(tokenFromRequest({ token: 'q' }, 'Bearer h'), 'q')
  t.equal(tokenFromRequest({ token: '' }, 'Bearer h'), 'h', 'an empty query token is no token')
  t.equal(tokenFromRequest({ token: ['a', 'b'] }, undefined), undefined, 'a repeated parameter is not a token')
  t.equal(tokenFromRequest(undefined, 'bearer  h'), 'h')
  t.equal(bearerToken('Basic h'), undefined)
  t.equal(bearerToken('Bearer two words'), undefined)
  t.equal(bearerToken(undefined), undefined)
})
