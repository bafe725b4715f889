// HS256 JWS signing (RFC 7515 compact form, RFC 7518 § 3.2) for join tokens, with HMAC-SHA256 (RFC 2104) built from
// two one-shot SHA-256 digests over buffers kept between calls. `createHmac` makes an Hmac object with a native
// context per token, and a server issuing tokens as fast as it can spent more CPU allocating and collecting those
// than hashing. Verification stays with @fastify/jwt.
import { hash } from 'node:crypto'

const BLOCK = 64
const DIGEST = 32
const HEADER = `${Buffer.from('{"alg":"HS256","typ":"JWT"}').toString('base64url')}.`

/** Signs a JSON object as an HS256 JWT, byte for byte what @fastify/jwt's `sign` makes of the same object. */
export function hs256Signer (secret: string | Buffer): (payload: object) => string {
  let key = Buffer.from(secret)
  if (key.length > BLOCK) key = hash('sha256', key, 'buffer')
  // the inner block (key ^ ipad, then the signing input) and the outer one (key ^ opad, then the inner digest),
  // written in place on each call; `json` holds the payload's UTF-8 on its way to base64url
  let inner = Buffer.alloc(BLOCK + 1024)
  const outer = Buffer.alloc(BLOCK + DIGEST)
  let json = Buffer.alloc(1024)
  for (let i = 0; i < BLOCK; i++) {
    const k = key[i] ?? 0
    inner[i] = k ^ 0x36
    outer[i] = k ^ 0x5c
  }

  return (payload) => {
    const text = JSON.stringify(payload)
    // at most 3 UTF-8 bytes per UTF-16 unit
    if (text.length * 3 > json.length) json = Buffer.alloc(grow(text.length * 3))
    const input = HEADER + json.toString('base64url', 0, json.write(text))
    // base64url is ASCII: one byte per character
    if (BLOCK + input.length > inner.length) {
      const grown = Buffer.alloc(grow(BLOCK + input.length))
      inner.copy(grown, 0, 0, BLOCK)
      inner = grown
    }
    inner.write(input, BLOCK, 'latin1')
    // the digest as a string of one char per byte ('binary' is latin1) rather than a Buffer: no ArrayBuffer per call
    outer.write(hash('sha256', inner.subarray(0, BLOCK + input.length), 'binary'), BLOCK, 'latin1')
    return `${input}.${hash('sha256', outer, 'base64url')}`
  }
}

const grow = (bytes: number): number => 2 ** Math.ceil(Math.log2(bytes))
