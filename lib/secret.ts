// Constant-time comparison of a presented credential (the API key, the metrics token) with the configured one.
import { createHash, timingSafeEqual } from 'node:crypto'

// UTF-16 code units as they are, so that digests are equal exactly when the strings are (UTF-8 would merge lone
// surrogates)
const digest = (value: string): Buffer => createHash('sha256').update(value, 'utf16le').digest()

/**
 * A check of presented values against one secret. Both sides are hashed to 32 bytes and compared with
 * `timingSafeEqual`, so the time reveals neither the secret's length nor its content.
 */
export function sameSecret (secret: string): (given: string) => boolean {
  const expected = digest(secret)
  return (given) => timingSafeEqual(digest(given), expected)
}
