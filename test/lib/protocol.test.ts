import t from 'tap'
import { parseClientMessage } from '../../lib/protocol.js'

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
