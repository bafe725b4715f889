import t from 'tap'
import { secretMatcher } from '../../plugins/auth.js'

t.test('secretMatcher accepts the secret and nothing else', async (t) => {
  const secret = 'k3y-0f-the-API_with.more+chars'
  const matches = secretMatcher(secret)
  t.equal(matches(secret), true, 'the secret')
  t.equal(matches(String([...secret].join(''))), true, 'the secret built anew')
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

t.test('secretMatcher compares every character, wherever the given value repeats', async (t) => {
  // the given value is read in turn, from its start again: a value whose repetition covers the secret must still fail
  const matches = secretMatcher('abab')
  t.equal(matches('ab'), false, 'half of a periodic secret')
  t.equal(matches('abab'), true)
  const same = secretMatcher('aaaa')
  t.equal(same('a'), false, 'one character of a secret made of it')
  t.equal(same('aa'), false)
  t.equal(same('aaaaa'), false)
})

t.test('secretMatcher compares characters beyond Latin-1 and lone surrogates', async (t) => {
  const matches = secretMatcher('clé-✓-\ud83d\ude00')
  t.equal(matches('clé-✓-\ud83d\ude00'), true)
  t.equal(matches('cle-✓-\ud83d\ude00'), false)
  t.equal(matches('clé-✓-\ud83d\ude01'), false)
  t.equal(matches('clé-✓-\ud83d'), false)
})
