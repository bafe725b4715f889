import t from 'tap'
import { assertMetadataSize, assertValid, TokenBody } from '../../lib/schemas.js'

t.test('assertValid returns valid input and names the first fault of invalid input', async (t) => {
  const body = { peerId: 'p', ttl: 60 }
  t.equal(assertValid(TokenBody, body, 'token request'), body)
  t.throws(() => assertValid(TokenBody, { ttl: 1 }, 'token request'), { code: 'INVALID_REQUEST', message: /token request\/ttl .*10/ })
  t.throws(() => assertValid(TokenBody, { ttl: '60' }, 'token request'), { code: 'INVALID_REQUEST' }, 'input given in code is not converted')
})

t.test('assertMetadataSize counts serialized bytes and refuses deep nesting with a typed error', async (t) => {
  t.doesNotThrow(() => { assertMetadataSize(undefined, 10, 'metadata') })
  t.doesNotThrow(() => { assertMetadataSize({ a: 'é' }, 10, 'metadata') }, '{"a":"é"} is 10 bytes')
  t.throws(() => { assertMetadataSize({ a: 'éé' }, 10, 'metadata') }, { code: 'INVALID_REQUEST', message: /metadata exceeds 10 bytes serialized/ })
  let deep: unknown = {}
  for (let i = 0; i < 100_000; i++) deep = { d: deep }
  t.throws(() => { assertMetadataSize(deep, 1024, 'peer metadata') }, { code: 'INVALID_REQUEST', message: /peer metadata is nested too deeply/ })
})
