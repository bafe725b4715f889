// HS256 JWS (RFC 7515 compact form, RFC 7518 § 3.2) for join tokens, with HMAC-SHA256 (RFC 2104) built from two
// one-shot SHA-256 digests over buffers kept between calls. `createHmac` makes an Hmac object with a native context
// per token, and a server issuing or checking tokens as fast as it can spent more CPU allocating and collecting those
// than hashing.
//
// `verify` only judges tokens that carry the header `sign` writes, byte for byte: that is every token this server
// issues, and the one shape it can check without parsing a header. Any other header (and any token over 16 KiB) is
// left to a general verifier (@fastify/jwt in plugins/auth.ts), which parses it and applies the whole of RFC 7515.
import { hash, timingSafeEqual } from 'node:crypto'

const BLOCK = 64
const DIGEST = 32
/** The base64url of a 32-byte digest, unpadded. */
const SIGNATURE_CHARS = 43
const HEADER = `${Buffer.from('{"alg":"HS256","typ":"JWT"}').toString('base64url')}.`
const BASE64URL = /^[A-Za-z0-9_-]*$/

/**
 * Longest token `verify` judges itself: its buffers grow to the longest token they have held and stay that size, and a
 * longer token, far beyond what this server issues, is not worth keeping that memory for.
 */
const MAX_TOKEN_CHARS = 16 * 1024

/** What `verify` returns for a token it leaves to a general verifier: another header, or over 16 KiB. */
export const UNJUDGED: unique symbol = Symbol('left to a general JWS verifier')

export interface Hs256 {
  /** Signs a JSON object, byte for byte what @fastify/jwt's `sign` makes of the same object. */
  sign: (payload: object) => string
  /** Signs a payload already written as JSON (one object). */
  signJson: (json: string) => string
  /**
   * The parsed payload of a token in `sign`'s form whose signature is right; `undefined` if the token is malformed or
   * its signature wrong (a signature is accepted only in canonical base64url); `UNJUDGED` for another header or a
   * token over 16 KiB.
   * The claims are not checked.
   */
  verify: (token: string) => unknown
}

export function hs256 (secret: string | Buffer): Hs256 {
  let key = Buffer.from(secret)
  if (key.length > BLOCK) key = hash('sha256', key, 'buffer')
  // the inner block (key ^ ipad, then the signing input: the header, written once, and a payload) and the outer one
  // (key ^ opad, then the inner digest), written in place on each call; `json` holds a payload's UTF-8 on its way
  // to or from base64url
  let inner = Buffer.alloc(BLOCK + 1024)
  const outer = Buffer.alloc(BLOCK + DIGEST)
  let json = Buffer.alloc(1024)
  // a received signature and the expected one, side by side for a constant-time comparison
  const given = Buffer.alloc(SIGNATURE_CHARS)
  const expected = Buffer.alloc(SIGNATURE_CHARS)
  for (let i = 0; i < BLOCK; i++) {
    const k = key[i] ?? 0
    inner[i] = k ^ 0x36
    outer[i] = k ^ 0x5c
  }

  /** HMAC-SHA256 of the signing input already in `inner` after the key block, as base64url. */
  function macOfInner (inputLength: number): string {
    // the digest as a string of one char per byte ('binary' is latin1) rather than a Buffer: no ArrayBuffer per call
    outer.write(hash('sha256', inner.subarray(0, BLOCK + inputLength), 'binary'), BLOCK, 'latin1')
    return hash('sha256', outer, 'base64url')
  }

  /** Room in `inner` for a signing input (and its signature) of this many characters. */
  function reserve (chars: number): void {
    if (BLOCK + chars > inner.length) {
      const grown = Buffer.alloc(grow(BLOCK + chars))
      inner.copy(grown, 0, 0, BLOCK + HEADER.length)
      inner = grown
    }
  }

  // with a key of ASCII bytes (a secret given as text, as a rule), key ^ ipad is ASCII as well, and the inner digest
  // takes the key block and the signing input as one string: no copy into `inner`, no view of it and no copy out,
  // 15 % less time per token than the path through `inner`, which any other key takes. The token is then a
  // concatenation, made flat once, where the reply is written
  const innerText = key.every((byte) => byte < 0x80) ? inner.toString('latin1', 0, BLOCK) : undefined

  /** HMAC-SHA256 of a signing input given as text, as base64url: for an ASCII key only (`innerText`). */
  function macOfText (keyBlock: string, input: string): string {
    outer.write(hash('sha256', keyBlock + input, 'binary'), BLOCK, 'latin1')
    return hash('sha256', outer, 'base64url')
  }

  function signJson (text: string): string {
    // at most 3 UTF-8 bytes per UTF-16 unit
    if (text.length * 3 > json.length) json = Buffer.alloc(grow(text.length * 3))
    const encoded = json.toString('base64url', 0, json.write(text))
    if (innerText !== undefined) {
      const input = HEADER + encoded
      return `${input}.${macOfText(innerText, input)}`
    }
    const inputLength = HEADER.length + encoded.length
    reserve(inputLength + 1 + SIGNATURE_CHARS)
    // the token is assembled in `inner`, after the header already there, where the inner digest reads its signing
    // input, and read out as one string
    inner.write(encoded, BLOCK + HEADER.length, 'latin1')
    const signature = macOfInner(inputLength)
    inner[BLOCK + inputLength] = 0x2e // '.'
    inner.write(signature, BLOCK + inputLength + 1, 'latin1')
    return inner.toString('latin1', BLOCK, BLOCK + inputLength + 1 + SIGNATURE_CHARS)
  }

  inner.write(HEADER, BLOCK, 'latin1')
  return {
    sign: (payload) => signJson(JSON.stringify(payload)),
    signJson,
    verify (token) {
      if (token.length > MAX_TOKEN_CHARS || !token.startsWith(HEADER)) return UNJUDGED
      const last = token.lastIndexOf('.')
      // a payload segment, however short, and a signature of a digest's length
      if (last < HEADER.length || token.length - last - 1 !== SIGNATURE_CHARS) return undefined
      const payload = token.slice(HEADER.length, last)
      // a payload outside the alphabet (another '.', padding, whitespace) is refused, not decoded leniently; a
      // signature compared as text needs no such check: only the canonical base64url of the right digest is equal
      if (!BASE64URL.test(payload)) return undefined
      if (innerText !== undefined) {
        // the signing input as it stands in the token, and the digests compared as text
        if (!sameText(macOfText(innerText, token.slice(0, last)), token, last + 1)) return undefined
      } else {
        // written as latin1, a character beyond it would lose its high byte: the alphabet is checked first
        const signature = token.slice(last + 1)
        if (!BASE64URL.test(signature)) return undefined
        given.write(signature, 0, 'latin1')
        // the header is in place; the payload follows it
        reserve(last)
        inner.write(payload, BLOCK + HEADER.length, 'latin1')
        expected.write(macOfInner(last), 0, 'latin1')
        if (!timingSafeEqual(given, expected)) return undefined
      }
      // 3 bytes per 4 characters
      if (payload.length > json.length) json = Buffer.alloc(grow(payload.length))
      try {
        return JSON.parse(json.toString('utf8', 0, json.write(payload, 'base64url'))) as unknown
      } catch {
        return undefined
      }
    }
  }
}

const grow = (bytes: number): number => 2 ** Math.ceil(Math.log2(bytes))

/**
 * Whether `text` at `from` holds `expected` (a signature's length, checked by the caller), in time that depends on
 * the length alone: every character is compared, and the differences are folded together without a branch.
 */
function sameText (expected: string, text: string, from: number): boolean {
  let difference = 0
  for (let i = 0; i < SIGNATURE_CHARS; i++) difference |= expected.charCodeAt(i) ^ text.charCodeAt(from + i)
  return difference === 0
}
