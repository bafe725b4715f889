import t from 'tap'
import { parseClientMessage, readDirectMessage } from '../../lib/protocol.js'

t.test('valid messages of each type parse', async (t) => {
  const valid = [
    { type: 'offer', to: 'b', data: { sdp: 'x' } },
    { type: 'answer', to: 'b', data: null },
    { type: 'candidate', to: 'b', data: [1] },
    { type: 'bye', to: 'b' },
    { type: 'message', data: 'hi' },
    { type: 'message', to: 'b', data: 0, id: 'abc' },
    { type: 'leave' },
    { type: 'ping', id: 9 }
  ]
  for (const message of valid) t.same(parseClientMessage(JSON.stringify(message)), { ok: true, message }, message.type)
})

t.test('invalid messages are refused with a code and a reason, never a throw', async (t) => {
  t.same(parseClientMessage('{'), { ok: false, code: 'INVALID_MESSAGE', reason: 'not valid JSON' })
  t.same(parseClientMessage('3'), { ok: false, code: 'INVALID_MESSAGE', reason: 'not a JSON object' })
  t.same(parseClientMessage('{"type":"zap","id":"q"}'), { ok: false, code: 'UNKNOWN_TYPE', reason: 'zap', id: 'q' })
  t.same(parseClientMessage('{"type":"__proto__"}'), { ok: false, code: 'UNKNOWN_TYPE', reason: '__proto__', id: undefined })
  t.same(parseClientMessage('{"type":"constructor"}'), { ok: false, code: 'UNKNOWN_TYPE', reason: 'constructor', id: undefined })
  t.match(parseClientMessage('{"type":"offer","data":1}'), { ok: false, code: 'INVALID_MESSAGE', reason: /\/to/ })
  t.match(parseClientMessage('{"type":"ping","id":{"a":1}}'), { ok: false, code: 'INVALID_MESSAGE', reason: /\/id/, id: undefined })
  const deep = '['.repeat(5000) + ']'.repeat(5000)
  t.match(parseClientMessage(`{"type":"message","data":${deep}}`), { ok: true }, 'deep nesting is data like any other')
})

t.test('the SDK\'s form of a message to one peer is read without decoding data, and means what the full parse means', async (t) => {
  const accepted = [
    '{"type":"offer","to":"bob","data":{"type":"offer","sdp":"v=0\\r\\n"}}',
    '{"type":"answer","to":"b","data":null}',
    '{"type":"candidate","to":"A-z_09","data":[1, 2.50, "\\u00e9"] }',
    '{"type":"bye","to":"b","data":"bye"}',
    '{"type":"message","to":"b","data":0}',
    `{"type":"offer","to":"${'x'.repeat(64)}","data":{}}`
  ]
  for (const text of accepted) {
    const direct = readDirectMessage(text)
    const full = parseClientMessage(text)
    if (direct === undefined || !full.ok) {
      t.fail(`read directly and parsed: ${text}`)
      continue
    }
    t.equal(text, `{"type":"${direct.type}","to":"${direct.to}","data":${direct.dataJson}}`, `data kept as sent: ${text}`)
    t.same({ type: direct.type, to: direct.to, data: JSON.parse(direct.dataJson) }, full.message, `same meaning: ${text}`)
  }
})

t.test('anything else is left to the full parse: the direct read never widens what is accepted', async (t) => {
  const declined: Array<[string, string]> = [
    // a second member after data: a spoofed `from` must never reach the other peer
    ['a member after data', '{"type":"offer","to":"b","data":{"a":1},"from":"mallory"}'],
    ['a repeated data', '{"type":"offer","to":"b","data":1,"data":2}'],
    ['an id', '{"type":"offer","to":"b","id":1,"data":1}'],
    ['another key order', '{"to":"b","type":"offer","data":1}'],
    ['no data', '{"type":"bye","to":"b"}'],
    ['a type that is not relayed', '{"type":"ping","to":"b","data":1}'],
    ['an unknown type', '{"type":"zap","to":"b","data":1}'],
    ['an escape in type', '{"type":"off\\u0065r","to":"b","data":1}'],
    ['an escape in to', '{"type":"offer","to":"\\u0062","data":1}'],
    ['an empty to', '{"type":"offer","to":"","data":1}'],
    ['a to of 65 characters', `{"type":"offer","to":"${'x'.repeat(65)}","data":1}`],
    ['a character outside ids in to', '{"type":"offer","to":"b.c","data":1}'],
    ['invalid data', '{"type":"offer","to":"b","data":{]}'],
    ['empty data', '{"type":"offer","to":"b","data":}'],
    ['whitespace after the object', '{"type":"offer","to":"b","data":1} '],
    ['whitespace inside the head', '{ "type":"offer","to":"b","data":1}'],
    ['a truncated frame', '{"type":"offer"}']
  ]
  for (const [what, text] of declined) t.equal(readDirectMessage(text), undefined, what)
})
