import { test } from 'tap'
import { SERVER_SENDER } from '../../../lib/protocol.js'
import { byteLength, closeCodeFor, dataJson, openRelayFrame } from '../../../lib/relay/frames.js'
import { CloseCodes } from '../../../lib/protocol.js'

test('a relayed frame is open JSON: closing it gives the message the recipient reads', async (t) => {
  t.same(JSON.parse(`${openRelayFrame('offer', 'alice', '{"sdp":"v=0"}')}}`), { type: 'offer', from: 'alice', data: { sdp: 'v=0' } })
  t.same(JSON.parse(`${openRelayFrame('message', SERVER_SENDER, undefined)}}`), { type: 'message', from: '@server' }, 'no data: no data field')
  t.match(SERVER_SENDER, /[^A-Za-z0-9_-]/, 'the server sender has a character no peer id may have')
})

test('dataJson writes any parsed value, even nested deeper than JSON.stringify recurses', async (t) => {
  t.equal(dataJson(undefined), undefined)
  t.equal(dataJson({ a: [1, 'x', null, { b: true }] }), '{"a":[1,"x",null,{"b":true}]}')
  const depth = 200_000
  const deep = JSON.parse('['.repeat(depth) + ']'.repeat(depth)) as unknown
  t.throws(() => JSON.stringify(deep), RangeError, 'too deep for JSON.stringify')
  t.equal(dataJson(deep), '['.repeat(depth) + ']'.repeat(depth))
  const deepObject = JSON.parse('{"k":'.repeat(depth) + '0' + '}'.repeat(depth)) as unknown
  t.equal(dataJson(deepObject), '{"k":'.repeat(depth) + '0' + '}'.repeat(depth))
})

test('byteLength counts bytes of every form ws hands a frame in', async (t) => {
  t.equal(byteLength(Buffer.from('héllo')), 6, 'bytes, not characters')
  t.equal(byteLength(new ArrayBuffer(7)), 7)
  t.equal(byteLength([Buffer.alloc(3), Buffer.alloc(4)]), 7, 'fragments')
})

test('a failed join closes with the code of its reason', async (t) => {
  t.equal(closeCodeFor('ROOM_FULL'), CloseCodes.ROOM_FULL)
  t.equal(closeCodeFor('ROOM_NOT_FOUND'), CloseCodes.ROOM_CLOSED)
  t.equal(closeCodeFor('SESSION_EXPIRED'), CloseCodes.SESSION_EXPIRED)
  t.equal(closeCodeFor('BACKPLANE_UNAVAILABLE'), CloseCodes.TRY_AGAIN_LATER)
  t.equal(closeCodeFor('INTERNAL_ERROR'), 1011)
})
