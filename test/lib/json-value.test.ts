import t from 'tap'
import { isOneJsonValue } from '../../lib/json-value.js'
import { seededRandom } from '../support/seeded-random.js'

const parses = (text: string): boolean => {
  try {
    JSON.parse(text)
    return true
  } catch {
    return false
  }
}

// test names show a text escaped: a raw U+2028 would break the TAP line
const name = (text: string): string => JSON.stringify(text.slice(0, 40)).replace(/[^ -~]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)

t.test('one JSON value of every kind passes, with whitespace around and inside it', async (t) => {
  const valid = [
    '0', '-0', '12', '-3.25', '1e9', '2E-7', '6.02e+23', 'true', 'false', 'null', '""', '"a"',
    '"\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\uD83D\\uDE00"', '"\u00e9\u2028\ud800"', '[]', '{}', '[ ]', '{ }',
    ' \t\r\n[1, "2", {"a": [true, false, null]}] \n', '{"a":1,"b":{"c":[{}, []]}}', '{ "k" : "v" , "n" : -1.5e3 }',
    '[[[[[[[[[[1]]]]]]]]]]', '['.repeat(5000) + ']'.repeat(5000), '{"type":"offer","sdp":"v=0\\r\\no=- 1 2 IN IP4 127.0.0.1\\r\\n"}'
  ]
  for (const text of valid) {
    t.ok(parses(text), `JSON.parse accepts ${name(text)}`)
    t.equal(isOneJsonValue(text), true, name(text))
  }
})

t.test('anything that is not exactly one JSON value fails', async (t) => {
  const invalid = [
    '', ' ', '01', '1.', '.5', '-', '+1', '1e', '1e+', '0x10', 'NaN', 'Infinity', 'tru', 'truex', 'nul', 'False',
    '"', '"abc', '"a\nb"', '"a\u0000"', '"\\x41"', '"\\u12"', '"\\u12G4"', "'a'", '[', ']', '[1,]', '[,1]', '[1 2]',
    '{', '}', '{"a"}', '{"a":}', '{"a":1,}', '{a:1}', '{"a" 1}', '{"a":1 "b":2}', '{]', '[}', '[1}', '{"a":1]',
    '1 2', '1,', '{}{}', '{},{"from":"x"}', '1}', '"a"]', '\ufeff1', '[' .repeat(70_000) + ']'.repeat(70_000)
  ]
  for (const text of invalid) t.equal(isOneJsonValue(text), false, name(text))
})

t.test('never passes a text that JSON.parse refuses, and passes what it accepts (random texts)', async (t) => {
  const random = seededRandom(20261126)
  const alphabet = ['{', '}', '[', ']', ',', ':', '"', '\\', ' ', '\n', '0', '1', '-', '.', 'e', '+', 'u', 'a', 'F', 't', 'r', 'n', 'l', '\u0001', 'é', 'true', 'null', '"a"', '"\\n"', '"\\u00e9"']
  const value = (depth: number): unknown => {
    switch (random(depth > 3 ? 5 : 7)) {
      case 0: return random(2) === 0 ? random(1000) - 500 : (random(100000) - 50000) / 7 * 10 ** (random(40) - 20)
      case 1: return Array.from({ length: random(6) }, () => String.fromCharCode(random(0x3000))).join('')
      case 2: return random(2) === 0
      case 3: return null
      case 4: return ''
      case 5: return Array.from({ length: random(4) }, () => value(depth + 1))
      default: return Object.fromEntries(Array.from({ length: random(4) }, (_, k) => [`k${k}${String.fromCharCode(random(0x3000))}`, value(depth + 1)]))
    }
  }
  let agreed = 0
  let passed = 0
  for (let n = 0; n < 20_000; n++) {
    let text: string
    if (n % 2 === 0) {
      // a valid value, then perhaps one random edit
      text = JSON.stringify(value(0), null, random(3) === 0 ? 1 : undefined)
      if (random(2) === 0) {
        const at = random(text.length + 1)
        const edit = random(3)
        text = edit === 0
          ? text.slice(0, at) + text.slice(at + 1)
          : text.slice(0, at) + alphabet[random(alphabet.length)]! + text.slice(at + (edit === 1 ? 0 : 1))
      }
    } else {
      text = Array.from({ length: 1 + random(12) }, () => alphabet[random(alphabet.length)]!).join('')
    }
    const expected = parses(text)
    if (isOneJsonValue(text) !== expected) {
      t.fail(`disagrees with JSON.parse (${expected}) on ${JSON.stringify(text)}`)
      return
    }
    agreed++
    if (expected) passed++
  }
  t.equal(agreed, 20_000, `agreed with JSON.parse on every text, ${passed} of them valid`)
  t.ok(passed > 5000 && passed < 15_000, `both kinds were tried: ${passed} valid`)
})
