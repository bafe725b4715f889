import { spawnSync } from 'node:child_process'
import { randomBytes, randomInt } from 'node:crypto'
import t from 'tap'
import {
  DEFAULT_TURN_TTL, IceConfigError, iceServersFor, parseIceConfig, turnCredentials, verifyTurnCredential,
  type IceConfig, type IceConfigInput
} from '../../lib/ice-servers.js'
import { requireProgram } from '../support/coturn.js'

// Computed with openssl when this test was written, e.g.
//   printf '%s' '1700003600:alice' | openssl dgst -sha1 -hmac 'north-wind' -binary | base64
const VECTORS = [
  { secret: 'north-wind', peerId: 'alice', ttl: 3600, nowMs: 1_700_000_000_000, username: '1700003600:alice', credential: 'iRtTIZ3N38dm9S+dP+UkHfnN9Qo=' },
  { secret: 'turn secret with spaces', peerId: 'peer_42-x', ttl: 60, nowMs: 1_700_000_000_999, username: '1700000060:peer_42-x', credential: 'QqTk0cYeU64/gNkFqH8WDeOPc6A=' },
  { secret: 'old-secret', peerId: 'alice', ttl: 3600, nowMs: 1_700_000_000_000, username: '1700003600:alice', credential: '9iMKnW6IJNDr4Me+OlGKvGzdUwo=' }
]

t.test('turnCredentials matches vectors computed with openssl dgst -sha1 -hmac', async (t) => {
  for (const v of VECTORS) {
    t.strictSame(turnCredentials(v.secret, v.peerId, v.ttl, v.nowMs), {
      username: v.username,
      credential: v.credential,
      expiresAt: Number(v.username.split(':')[0])
    }, `${v.secret} / ${v.peerId}`)
  }
})

t.test('turnCredentials agrees with the openssl program on a random case', async (t) => {
  const openssl = requireProgram(t, 'openssl')
  if (openssl === undefined) return
  const secret = randomBytes(24).toString('hex')
  const peerId = `p${randomBytes(6).toString('hex')}`
  const nowMs = randomInt(1_600_000_000_000, 2_000_000_000_000)
  const minted = turnCredentials(secret, peerId, 600, nowMs)
  const result = spawnSync(openssl, ['dgst', '-sha1', '-hmac', secret, '-binary'], { input: minted.username })
  t.equal(result.status, 0, 'openssl ran')
  t.equal(minted.credential, result.stdout.toString('base64'), `secret ${secret}, username ${minted.username}`)
})

t.test('expiry is the floor of now in seconds plus the ttl', async (t) => {
  t.equal(turnCredentials('s', 'a', 3600, 1_700_000_000_000).expiresAt, 1_700_003_600)
  t.equal(turnCredentials('s', 'a', 3600, 1_700_000_000_999).expiresAt, 1_700_003_600, 'milliseconds are dropped, not rounded')
  t.equal(turnCredentials('s', 'a', 3600, 1_700_000_001_000).expiresAt, 1_700_003_601)
  t.equal(turnCredentials('s', 'a', 60, 0).username, '60:a')
  const minted = turnCredentials('s', 'a', 86_400, 1_700_000_000_500)
  t.equal(minted.username, `${minted.expiresAt}:a`, 'the username carries the same expiry')
})

t.test('turnCredentials refuses arguments that would mint a useless credential', async (t) => {
  t.throws(() => turnCredentials('', 'a', 60), RangeError)
  t.throws(() => turnCredentials('s', '', 60), RangeError)
  t.throws(() => turnCredentials('s', 'a', 0), RangeError)
  t.throws(() => turnCredentials('s', 'a', 1.5), RangeError)
  t.throws(() => turnCredentials('s', 'a', 60, Number.NaN), RangeError)
})

const NOW = 1_700_000_000_000
const rotating: IceConfig = parseIceConfig({
  turnUrls: 'turn:turn.example.com:3478',
  turnSecret: 'north-wind',
  turnSecretPrevious: 'old-secret',
  turnTtl: 3600
})

t.test('rotation: credentials are minted with the current secret, the previous one still verifies', async (t) => {
  const [turn] = iceServersFor(rotating, 'alice', NOW)
  t.equal(turn?.username, '1700003600:alice')
  t.equal(turn?.credential, VECTORS[0]!.credential, 'minted with turnSecret, not turnSecretPrevious')
  t.strictSame(verifyTurnCredential(rotating, turn!.username!, turn!.credential!, NOW),
    { ok: true, secret: 'current', peerId: 'alice', expiresAt: 1_700_003_600 })

  const old = VECTORS[2]!
  t.strictSame(verifyTurnCredential(rotating, old.username, old.credential, NOW),
    { ok: true, secret: 'previous', peerId: 'alice', expiresAt: 1_700_003_600 }, 'handed out before the switch')

  const afterRotation: IceConfig = { ...rotating }
  delete afterRotation.turnSecretPrevious
  t.strictSame(verifyTurnCredential(afterRotation, old.username, old.credential, NOW),
    { ok: false, reason: 'bad-credential' }, 'once the previous secret is dropped its credentials stop working')
})

t.test('rotation: expired credentials are refused whichever secret minted them', async (t) => {
  const current = turnCredentials('north-wind', 'bob', 600, NOW)
  const previous = turnCredentials('old-secret', 'bob', 600, NOW)
  const lastValidMs = current.expiresAt * 1000 + 999
  t.equal(verifyTurnCredential(rotating, current.username, current.credential, lastValidMs).ok, true,
    'valid through its expiry second, as coturn counts')
  t.strictSame(verifyTurnCredential(rotating, current.username, current.credential, lastValidMs + 1),
    { ok: false, reason: 'expired' })
  t.strictSame(verifyTurnCredential(rotating, previous.username, previous.credential, lastValidMs + 1),
    { ok: false, reason: 'expired' })
})

t.test('verifyTurnCredential refuses forged, malformed and unconfigured cases', async (t) => {
  const forged = turnCredentials('not-the-secret', 'mallory', 600, NOW)
  t.strictSame(verifyTurnCredential(rotating, forged.username, forged.credential, NOW), { ok: false, reason: 'bad-credential' })
  const genuine = turnCredentials('north-wind', 'alice', 600, NOW)
  t.strictSame(verifyTurnCredential(rotating, genuine.username.replace('alice', 'admin'), genuine.credential, NOW),
    { ok: false, reason: 'bad-credential' }, 'the peer id is covered by the HMAC')
  t.strictSame(verifyTurnCredential(rotating, `${genuine.expiresAt + 3600}:alice`, genuine.credential, NOW),
    { ok: false, reason: 'bad-credential' }, 'the expiry is covered by the HMAC')
  t.strictSame(verifyTurnCredential(rotating, genuine.username, genuine.credential.slice(0, -1), NOW), { ok: false, reason: 'bad-credential' })
  for (const username of ['alice', ':alice', '1700003600:', 'x1700003600:alice']) {
    t.strictSame(verifyTurnCredential(rotating, username, genuine.credential, NOW), { ok: false, reason: 'malformed' }, username)
  }
  t.strictSame(verifyTurnCredential(parseIceConfig({}), genuine.username, genuine.credential, NOW), { ok: false, reason: 'not-configured' })
})

t.test('iceServersFor', async (t) => {
  t.strictSame(iceServersFor(parseIceConfig({}), 'alice', NOW), [], 'nothing configured: an empty array')
  t.strictSame(iceServersFor(parseIceConfig(), 'alice', NOW), [])

  t.strictSame(iceServersFor(parseIceConfig({ stunUrls: 'stun:stun.example.com:3478,stun:stun2.example.com' }), 'alice', NOW),
    [{ urls: ['stun:stun.example.com:3478', 'stun:stun2.example.com'] }], 'STUN only: one entry, no credentials')

  const both = parseIceConfig({
    stunUrls: ['stun:stun.example.com'],
    turnUrls: 'turn:turn.example.com:3478?transport=udp, turns:turn.example.com:5349?transport=tcp',
    turnSecret: 'north-wind'
  })
  const servers = iceServersFor(both, 'alice', NOW)
  t.strictSame(servers, [
    { urls: ['stun:stun.example.com'] },
    {
      urls: ['turn:turn.example.com:3478?transport=udp', 'turns:turn.example.com:5349?transport=tcp'],
      username: '1700003600:alice',
      credential: VECTORS[0]!.credential
    }
  ], 'TURN: one entry with credentials for this peer, default ttl')
  t.notMatch(JSON.stringify(servers), 'north-wind', 'the secret itself is never handed out')

  const [, turn] = servers
  if (Array.isArray(turn?.urls)) turn.urls.push('turn:evil.example.com')
  t.strictSame(both.turnUrls.length, 2, 'callers cannot alter the configuration through the returned arrays')
})

t.test('parseIceConfig normalises its input', async (t) => {
  t.strictSame(parseIceConfig({}), { stunUrls: [], turnUrls: [], turnTtl: DEFAULT_TURN_TTL })
  t.equal(DEFAULT_TURN_TTL, 3600)
  t.strictSame(parseIceConfig({ stunUrls: '', turnUrls: ' , ', turnSecret: '', turnTtl: '' }),
    { stunUrls: [], turnUrls: [], turnTtl: 3600 }, 'empty environment variables mean "not set"')
  t.strictSame(parseIceConfig({
    stunUrls: ' stun:a.example.com , STUN:a.example.com,stuns:[2001:db8::1]:5349,stun:192.0.2.1:3478 ',
    turnUrls: ['turn:turn.example.com', 'TURNS:turn.example.com:443?transport=TCP', 'turn:127.0.0.1:3478?transport=udp'],
    turnSecret: 's3cret',
    turnSecretPrevious: 'older',
    turnTtl: ' 600 '
  }), {
    stunUrls: ['stun:a.example.com', 'stuns:[2001:db8::1]:5349', 'stun:192.0.2.1:3478'],
    turnUrls: ['turn:turn.example.com', 'turns:turn.example.com:443?transport=tcp', 'turn:127.0.0.1:3478?transport=udp'],
    turnSecret: 's3cret',
    turnSecretPrevious: 'older',
    turnTtl: 600
  }, 'trimmed, scheme and transport lower-cased, duplicates dropped, ttl string parsed')
  t.equal(parseIceConfig({ turnTtl: 60 }).turnTtl, 60, 'lower bound')
  t.equal(parseIceConfig({ turnTtl: 604_800 }).turnTtl, 604_800, 'upper bound')
})

t.test('parseIceConfig refuses bad input with INVALID_ICE_CONFIG naming the setting', async (t) => {
  const turn = { turnUrls: 'turn:turn.example.com', turnSecret: 's3cret' }
  const cases: Array<[string, IceConfigInput, string, RegExp]> = [
    ['http URL as STUN', { stunUrls: 'http://stun.example.com' }, 'stunUrls', /must start with stun: or stuns:/],
    ['TURN URL as STUN', { stunUrls: 'turn:turn.example.com' }, 'stunUrls', /must start with stun: or stuns:/],
    ['STUN URL as TURN', { ...turn, turnUrls: 'stun:stun.example.com' }, 'turnUrls', /must start with turn: or turns:/],
    ['a bare host', { stunUrls: 'stun.example.com' }, 'stunUrls', /must start with stun:/],
    ['scheme://', { stunUrls: 'stun://stun.example.com' }, 'stunUrls', /not of the form scheme:host\[:port\]$/],
    ['no host', { stunUrls: 'stun:' }, 'stunUrls', /not of the form/],
    ['no host, port only', { ...turn, turnUrls: 'turn::3478' }, 'turnUrls', /not of the form scheme:host\[:port\]\[\?transport=udp\|tcp\]/],
    ['a path', { stunUrls: 'stun:stun.example.com/x' }, 'stunUrls', /not of the form/],
    ['userinfo', { ...turn, turnUrls: 'turn:user@turn.example.com' }, 'turnUrls', /not of the form/],
    ['port 0', { stunUrls: 'stun:stun.example.com:0' }, 'stunUrls', /port outside 1-65535/],
    ['port 65536', { ...turn, turnUrls: 'turn:turn.example.com:65536' }, 'turnUrls', /port outside 1-65535/],
    ['non-numeric port', { stunUrls: 'stun:stun.example.com:abc' }, 'stunUrls', /not of the form/],
    ['bad IPv4', { stunUrls: 'stun:256.1.1.1' }, 'stunUrls', /invalid host/],
    ['bad hostname', { stunUrls: 'stun:-bad-.example.com' }, 'stunUrls', /invalid host/],
    ['bad IPv6', { stunUrls: 'stun:[2001:db8::zz]' }, 'stunUrls', /invalid IPv6/],
    ['query on STUN', { stunUrls: 'stun:stun.example.com?transport=udp' }, 'stunUrls', /must not have a query/],
    ['unknown transport', { ...turn, turnUrls: 'turn:turn.example.com?transport=sctp' }, 'turnUrls', /only \?transport=udp or \?transport=tcp/],
    ['other query', { ...turn, turnUrls: 'turn:turn.example.com?foo=bar' }, 'turnUrls', /unsupported query/],
    ['not a string', { stunUrls: [42 as unknown as string] }, 'stunUrls', /expected strings, got number/],
    ['not a list', { stunUrls: 42 as unknown as string }, 'stunUrls', /expected a comma-separated string or an array of strings, got number/],
    ['TURN without secret', { turnUrls: 'turn:turn.example.com' }, 'turnSecret', /no TURN secret/],
    ['secret without TURN', { turnSecret: 's3cret' }, 'turnUrls', /no TURN urls/],
    ['previous without current', { turnSecretPrevious: 'older' }, 'turnSecretPrevious', /needs a current one/],
    ['blank secret', { ...turn, turnSecret: '   ' }, 'turnSecret', /must not be blank/],
    ['ttl too small', { turnTtl: 59 }, 'turnTtl', /from 60 to 604800, got 59/],
    ['ttl too large', { turnTtl: 604_801 }, 'turnTtl', /from 60 to 604800/],
    ['fractional ttl', { turnTtl: 60.5 }, 'turnTtl', /whole number/],
    ['ttl with a unit', { turnTtl: '1h' }, 'turnTtl', /expected a whole number of seconds, got "1h"/],
    ['negative ttl string', { turnTtl: '-60' }, 'turnTtl', /expected a whole number/],
    ['NaN ttl', { turnTtl: Number.NaN }, 'turnTtl', /whole number/]
  ]
  for (const [name, input, setting, message] of cases) {
    let error: unknown
    try {
      parseIceConfig(input)
    } catch (err) {
      error = err
    }
    t.ok(error instanceof IceConfigError, `${name}: throws IceConfigError`)
    t.match(error, { name: 'IceConfigError', code: 'INVALID_ICE_CONFIG', setting, message }, name)
  }
})
