import t from 'tap'
import { sameSecret } from '../../lib/secret.js'

t.test('sameSecret accepts the secret and nothing else', async (t) => {
  const secret = 'k3y-0f-the-API_with.more+chars'
  const matches = sameSecret(secret)
  t.equal(matches(secret), true, 'the secret')
  t.equal(matches([...secret].join('')), true, 'the secret built anew')
  const others: Array<[string, string]> = [
    ['empty', ''],
    ['one character', secret[0]!],
    ['a prefix', secret.slice(0, -1)],
    ['the secret and more', `${secret}x`],
    ['the secret twice', secret + secret],
    ['other case', secret.toUpperCase()],
    ['with a space', ` ${secret}`]
  ]
  for (const [name, given] of others) t.equal(matches(given), false, name)
  for (let i = 0; i < secret.length; i++) {
    const changed = `${secret.slice(0, i)}${secret[i] === 'x' ? 'y' : 'x'}${secret.slice(i + 1)}`
    t.equal(matches(changed), false, `character ${i} changed`)
  }
})

t.test('sameSecret compares characters beyond Latin-1 and lone surrogates as they are', async (t) => {
  const matches = sameSecret('clé-✓-\ud83d\ude00')
  t.equal(matches('clé-✓-\ud83d\ude00'), true)
  t.equal(matches('cle-✓-\ud83d\ude00'), false)
  t.equal(matches('clé-✓-\ud83d\ude01'), false)
  t.equal(matches('clé-✓-\ud83d'), false)
  // UTF-8 would write both as U+FFFD
  t.equal(sameSecret('a\ud800')('a\ud801'), false, 'two different lone surrogates')
})
