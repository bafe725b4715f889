import t from 'tap'
import { joinClaims, joinClaimsJson, jsonString, RESUME_AUDIENCE, type JoinClaims } from '../../lib/join-token.js'

const awkward = ['', 'alice', 'room_1-A', 'a"b', 'back\\slash', 'tab\there', 'nul\u0000', '✓ é', '\ud83d\ude00', 'lone \ud800', 'x'.repeat(64)]

t.test('jsonString makes the bytes JSON.stringify makes', async (t) => {
  for (const value of awkward) t.equal(jsonString(value), JSON.stringify(value), JSON.stringify(value))
})

t.test('joinClaimsJson makes the bytes JSON.stringify makes of claims built by joinClaims', async (t) => {
  const now = Date.UTC(2026, 10, 26, 12)
  const metadatas: Array<Record<string, unknown>> = [{}, { name: 'Ann' }, { nested: { list: [1, 'two', null] }, 'é"': '\u0001' }]
  for (const id of awkward) {
    for (const metadata of metadatas) {
      const claims = joinClaims(id, id, 3600, metadata, now)
      t.equal(joinClaimsJson(claims), JSON.stringify(claims), `${JSON.stringify(id)} with ${JSON.stringify(metadata)}`)
    }
  }
  const resume = joinClaims('room', 'peer', 60, { a: 1 }, now, RESUME_AUDIENCE)
  t.equal(joinClaimsJson(resume), JSON.stringify(resume), 'a resume token')
  const { metadata: _, ...bare } = joinClaims('room', 'peer', 60, {}, now)
  t.equal(joinClaimsJson(bare), JSON.stringify(bare), 'no metadata')
})

t.test('joinClaimsJson leaves what it does not write itself to JSON.stringify', async (t) => {
  const now = Date.UTC(2026, 10, 26, 12)
  // metadata that is not a plain object: JSON.stringify calls toJSON, or reads only own enumerable keys
  const withDate = { ...joinClaims('room', 'peer', 60, {}, now), metadata: new Date(now) as unknown as Record<string, unknown> }
  t.equal(joinClaimsJson(withDate), JSON.stringify(withDate), 'a Date as metadata')
  const inherited = { ...joinClaims('room', 'peer', 60, {}, now), metadata: Object.create({ hidden: 1 }) as Record<string, unknown> }
  t.equal(joinClaimsJson(inherited), JSON.stringify(inherited), 'only inherited keys')
  const noPrototype = { ...joinClaims('room', 'peer', 60, {}, now), metadata: Object.assign(Object.create(null), { a: 1 }) as Record<string, unknown> }
  t.equal(joinClaimsJson(noPrototype), JSON.stringify(noPrototype), 'an object without a prototype')
  // times that are not integers (claims made elsewhere than joinClaims)
  for (const iat of [1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
    const odd = { ...joinClaims('room', 'peer', 60, {}, now), iat } as JoinClaims
    t.equal(joinClaimsJson(odd), JSON.stringify(odd), `iat ${iat}`)
  }
})
