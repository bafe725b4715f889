// Checks that a text is exactly one JSON value (RFC 8259) without building it: the relay's test of `data`, which it
// forwards as sent, so the check must never pass a text that JSON.parse would refuse.

// a string after its opening quote, up to and including the closing one (Friedl's unrolled loop: linear, since
// every repetition of the group starts at a backslash)
const STRING_REST = /[^"\\\u0000-\u001f]*(?:\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})[^"\\\u0000-\u001f]*)*"/y
const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y
const OBJECT = 0x7b
const OBJECT_END = 0x7d
const ARRAY = 0x5b
const ARRAY_END = 0x5d
const QUOTE = 0x22
// the open containers, innermost last; one shared stack, as the check is synchronous. A frame is at most 64 KiB,
// so it cannot nest deeper than this; a text that does is refused
const open = new Uint8Array(65_536)

function skipSpace (text: string, i: number): number {
  let c = text.charCodeAt(i)
  while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = text.charCodeAt(++i)
  return i
}

/** Index after the string that opens at `i`, or -1. */
function stringEnd (text: string, i: number): number {
  if (text.charCodeAt(i) !== QUOTE) return -1
  STRING_REST.lastIndex = i + 1
  return STRING_REST.test(text) ? STRING_REST.lastIndex : -1
}

/** Index after `"key":` (with any space around the colon) that starts at `i`, or -1. */
function memberValueStart (text: string, i: number): number {
  i = stringEnd(text, i)
  if (i < 0) return -1
  i = skipSpace(text, i)
  return text.charCodeAt(i) === 0x3a /* : */ ? i + 1 : -1
}

/**
 * True when `text` is one JSON value with nothing but whitespace around it: what JSON.parse would accept. Any text
 * this passes, JSON.parse parses; nothing is allocated, so checking a 6 KB SDP costs no garbage.
 */
export function isOneJsonValue (text: string): boolean {
  let depth = 0
  let i = 0
  for (;;) {
    // a value starts at i (after whitespace)
    i = skipSpace(text, i)
    const c = text.charCodeAt(i)
    if (c === QUOTE) {
      i = stringEnd(text, i)
    } else if (c === OBJECT || c === ARRAY) {
      if (depth === open.length) return false
      open[depth++] = c
      i = skipSpace(text, i + 1)
      const next = text.charCodeAt(i)
      if (next === (c === OBJECT ? OBJECT_END : ARRAY_END)) {
        depth--
        i++
      } else {
        // the first member's key, or the first element (read as the next value)
        if (c === OBJECT) i = memberValueStart(text, i)
        if (i < 0) return false
        continue
      }
    } else if (c === 0x74 /* t */) {
      i = text.startsWith('true', i) ? i + 4 : -1
    } else if (c === 0x66 /* f */) {
      i = text.startsWith('false', i) ? i + 5 : -1
    } else if (c === 0x6e /* n */) {
      i = text.startsWith('null', i) ? i + 4 : -1
    } else {
      NUMBER.lastIndex = i
      i = NUMBER.test(text) ? NUMBER.lastIndex : -1
    }
    if (i < 0) return false
    // after a value: close containers until a comma leads to the next value, or the text ends
    for (;;) {
      i = skipSpace(text, i)
      if (depth === 0) return i === text.length
      const next = text.charCodeAt(i)
      const container = open[depth - 1]
      if (next === 0x2c /* , */) {
        i = container === OBJECT ? memberValueStart(text, skipSpace(text, i + 1)) : i + 1
        if (i < 0) return false
        break
      }
      if (next !== (container === OBJECT ? OBJECT_END : ARRAY_END)) return false
      depth--
      i++
    }
  }
}
