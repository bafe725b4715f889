import t from 'tap'
import { Type } from '@sinclair/typebox'
import { RoomParams, TokenBody, tokenReplyJson, validatorCompiler } from '../../lib/schemas.js'

t.test('tokenReplyJson makes the bytes JSON.stringify makes, ids with characters to escape included', async (t) => {
  const token = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJlLW9mLTQzLWNoYXJhY3RlcnMtaW4tYmFzZTY0dXI'
  const expiresAt = new Date(Date.UTC(2026, 0, 1, 1)).toISOString()
  for (const [peerId, roomId] of [['alice', 'room-1'], ['a"b\\c', 'r\u0000\u001f'], ['✓ é', '\ud83d\ude00'], ['\ud800', 'x']]) {
    const reply = { token, peerId: peerId!, roomId: roomId!, expiresAt }
    t.equal(tokenReplyJson(reply), JSON.stringify(reply), JSON.stringify(peerId))
  }
})

t.test('validatorCompiler checks string-only parts in place and converts the others as the TypeBox provider does', async (t) => {
  const compile = (schema: Parameters<typeof validatorCompiler>[0]['schema'], httpPart: string) =>
    validatorCompiler({ schema, httpPart, method: 'GET', url: '/' }) as (value: unknown) => unknown

  const params = compile(RoomParams, 'params')
  t.equal(params({ roomId: 'room-1' }), true, 'valid string params are left in place')
  const badParams = params({ roomId: 'room 1' }) as { error: Array<{ message: string, instancePath: string }> }
  t.equal(badParams.error[0]?.instancePath, '/roomId')
  t.match(badParams.error[0]?.message, /to match/)

  const query = compile(Type.Object({ limit: Type.Integer(), name: Type.Optional(Type.String()) }), 'querystring')
  t.same(query({ limit: '5', name: 'x' }), { value: { limit: 5, name: 'x' } }, 'a number in the querystring is converted')
  t.equal((query({ limit: 'five' }) as { error: unknown[] }).error.length > 0, true)

  const body = compile(TokenBody, 'body')
  t.equal(body({ ttl: 60 }), true)
  t.equal((body({ ttl: '60' }) as { error: unknown[] }).error.length > 0, true, 'a body is never converted')
})
