// The JWT attack list against the join token, beyond routes/ws-auth.test.ts: key confusion, foreign keys and key
// headers, `alg: none` spellings, malformed claims, tampering, other rooms, and a bad token hidden behind a good one.
// Every one must be refused before the upgrade, with no socket.
import { createHmac, generateKeyPairSync, sign as cryptoSign, constants, type KeyObject } from 'node:crypto'
import t, { type Test } from 'tap'
import { createSigner } from 'fast-jwt'
import { startServer, TEST_SECRET, upgradeStatus, type TestServer } from '../helper.js'

const now = (): number => Math.floor(Date.now() / 1000)
const claims = (extra: Record<string, unknown> = {}): Record<string, unknown> =>
  ({ sub: 'mallory', room: 'r', aud: 'signalling-join', iat: now(), exp: now() + 60, metadata: {}, ...extra })
const b64 = (part: unknown): string => Buffer.from(typeof part === 'string' ? part : JSON.stringify(part)).toString('base64url')
const signingInput = (header: unknown, payload: unknown): string => `${b64(header)}.${b64(payload)}`

/** HS256 by hand: any header, any key (a string, or a PEM used as an HMAC secret). */
function hs256 (payload: unknown, key: string | Buffer = TEST_SECRET, header: Record<string, unknown> = { alg: 'HS256', typ: 'JWT' }): string {
  const input = signingInput(header, payload)
  return `${input}.${createHmac('sha256', key).update(input).digest('base64url')}`
}

/** An asymmetric signature by hand, with `alg` and any extra header fields. */
function asymmetric (alg: 'RS256' | 'PS256' | 'ES256', key: KeyObject, payload: unknown, extra: Record<string, unknown> = {}): string {
  const input = signingInput({ alg, typ: 'JWT', ...extra }, payload)
  const signature = alg === 'RS256'
    ? cryptoSign('sha256', Buffer.from(input), key)
    : alg === 'PS256'
      ? cryptoSign('sha256', Buffer.from(input), { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 })
      : cryptoSign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' })
  return `${input}.${signature.toString('base64url')}`
}

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' })
const publicPem = rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString()
const publicPkcs1 = rsa.publicKey.export({ type: 'pkcs1', format: 'pem' }).toString()
const publicJwk = rsa.publicKey.export({ format: 'jwk' })

/** Replaces the payload of a real token and keeps its signature. */
function tamper (token: string, change: (payload: Record<string, unknown>) => Record<string, unknown> | string): string {
  const [head, body, signature] = token.split('.') as [string, string, string]
  const changed = change(JSON.parse(Buffer.from(body, 'base64url').toString()) as Record<string, unknown>)
  return `${head}.${b64(changed)}.${signature}`
}

async function expectRefused (t: Test, server: TestServer, name: string, token: string | undefined, status = 401,
  code = status === 401 ? 'UNAUTHORIZED' : 'ROOM_NOT_FOUND', headers: Record<string, string> = {}, query = ''): Promise<void> {
  const url = `${server.wsUrl}?${token === undefined ? '' : `token=${encodeURIComponent(token)}`}${query}`
  const { status: got, body } = await upgradeStatus(url, { headers })
  t.equal(got, status, `${name}: ${status}`)
  let replyCode: unknown
  try { replyCode = (JSON.parse(body) as { code?: unknown }).code } catch { replyCode = body }
  t.equal(replyCode, code, `${name}: ${code}`)
}

t.test('key confusion and foreign keys: RS/PS/ES-signed tokens and HS256 keyed with a public key are refused', async (t) => {
  const server = await startServer(t)
  await server.createRoom({ roomId: 'r' })
  const cases: Array<[string, string]> = [
    ['(a) RS256 signed with an RSA private key', asymmetric('RS256', rsa.privateKey, claims())],
    ['(a) RS256 through fast-jwt', createSigner({ algorithm: 'RS256', key: rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() })(claims())],
    ['(a) PS256 signed with an RSA private key', asymmetric('PS256', rsa.privateKey, claims())],
    ['(a) ES256 signed with an EC private key', asymmetric('ES256', ec.privateKey, claims())],
    ['(a) RS256 carrying its own public key in a jwk header', asymmetric('RS256', rsa.privateKey, claims(), { jwk: publicJwk })],
    ['(b) HS256 keyed with the RSA public key PEM (SPKI)', hs256(claims(), publicPem)],
    ['(b) HS256 keyed with the PEM without its final newline', hs256(claims(), publicPem.trimEnd())],
    ['(b) HS256 keyed with the PKCS#1 public key PEM', hs256(claims(), publicPkcs1)],
    ['(b) RS256 header over an HMAC keyed with the public key', hs256(claims(), publicPem, { alg: 'RS256', typ: 'JWT' })],
    ['(d) HS256 header, signature from another secret', hs256(claims(), 'another-secret-another-secret-another')],
    ['(d) HS256 header, signature from an empty secret', hs256(claims(), '')],
    ['(d) HS256 header, signature from the secret with a trailing space', hs256(claims(), `${TEST_SECRET} `)],
    ['(d) HS256 header, HS512 signature with the right secret', (() => {
      const input = signingInput({ alg: 'HS256', typ: 'JWT' }, claims())
      return `${input}.${createHmac('sha512', TEST_SECRET).update(input).digest('base64url')}`
    })()],
    ['(d) HS256 header, empty signature', `${signingInput({ alg: 'HS256', typ: 'JWT' }, claims())}.`],
    ['(d) HS256 header, a random 32-byte signature', `${signingInput({ alg: 'HS256', typ: 'JWT' }, claims())}.${Buffer.alloc(32, 7).toString('base64url')}`],
    ['(e) kid pointing at /dev/null, signed with an empty key', hs256(claims(), '', { alg: 'HS256', typ: 'JWT', kid: '../../../../../../dev/null' })],
    ['(e) kid naming another key, signed with that key', hs256(claims(), 'attacker-key-attacker-key-attacker-key', { alg: 'HS256', typ: 'JWT', kid: 'attacker' })],
    ['(e) kid with an SQL injection, signed with its result', hs256(claims(), 'x', { alg: 'HS256', typ: 'JWT', kid: "x' UNION SELECT 'x" })],
    ['(e) jku pointing at an attacker JWKS, RS256', asymmetric('RS256', rsa.privateKey, claims(), { jku: 'https://attacker.example/jwks.json', kid: 'k1' })],
    ['(e) x5u pointing at an attacker certificate, RS256', asymmetric('RS256', rsa.privateKey, claims(), { x5u: 'https://attacker.example/cert.pem' })],
    ['(e) x5c with a bogus certificate chain, RS256', asymmetric('RS256', rsa.privateKey, claims(), { x5c: [Buffer.from('not a certificate').toString('base64')] })],
    ['(e) jku on an HS256 token signed with another secret', hs256(claims(), 'attacker-key-attacker-key-attacker-key', { alg: 'HS256', typ: 'JWT', jku: 'https://attacker.example/jwks.json' })]
  ]
  for (const [name, token] of cases) await expectRefused(t, server, name, token)
  t.comment(`${cases.length} confusion and foreign-key tokens refused with 401`)
  t.equal((await server.app.signalling.room('r')).peerCount, 0, 'no one joined')
})

t.test('alg none in every spelling is refused, with or without a signature part', async (t) => {
  const server = await startServer(t)
  await server.createRoom({ roomId: 'r' })
  const good = (await server.issueToken('r', { peerId: 'p' })).token
  const goodSignature = good.split('.')[2]!
  const cases: Array<[string, string]> = []
  for (const alg of ['none', 'None', 'NONE', 'nOnE', '']) {
    const input = signingInput({ alg, typ: 'JWT' }, claims())
    cases.push([`(c) alg "${alg}" with a trailing dot`, `${input}.`])
    cases.push([`(c) alg "${alg}" without a trailing dot`, input])
  }
  cases.push(['(c) alg none with a valid token\'s signature', `${signingInput({ alg: 'none', typ: 'JWT' }, claims())}.${goodSignature}`])
  cases.push(['(c) no alg at all', `${signingInput({ typ: 'JWT' }, claims())}.`])
  cases.push(['(c) alg as an array', hs256(claims(), TEST_SECRET, { alg: ['none', 'HS256'], typ: 'JWT' })])
  cases.push(['(c) a header that is not JSON', `${Buffer.from('{alg:none}').toString('base64url')}.${b64(claims())}.`])
  for (const [name, token] of cases) await expectRefused(t, server, name, token)
  t.comment(`${cases.length} alg-none variants refused with 401`)
})

t.test('malformed and out-of-range claims are refused even when properly signed', async (t) => {
  const server = await startServer(t)
  await server.createRoom({ roomId: 'r' })
  const cases: Array<[string, string]> = [
    ['(f) exp as a string', hs256(claims({ exp: String(now() + 60) }))],
    ['(f) exp as a far-future string', hs256(claims({ exp: '9999999999' }))],
    ['(f) exp as a float', hs256(claims({ exp: now() + 60.5 }))],
    ['(f) exp null', hs256(claims({ exp: null }))],
    ['(f) exp true', hs256(claims({ exp: true }))],
    ['(f) exp an array', hs256(claims({ exp: [now() + 60] }))],
    ['(f) iat as a string', hs256(claims({ iat: String(now()) }))],
    ['(f) no iat', hs256((({ iat: _iat, ...rest }) => rest)(claims()))],
    ['(g) nbf 30 s in the future (skew is 5 s)', hs256(claims({ nbf: now() + 30 }))],
    ['(g) nbf a day in the future', hs256(claims({ nbf: now() + 86400 }))],
    ['(g) nbf in the future as a string', hs256(claims({ nbf: String(now() + 86400) }))],
    ['(g) nbf null', hs256(claims({ nbf: null }))],
    ['(h) expired 10 s ago (skew is 5 s)', hs256(claims({ iat: now() - 120, exp: now() - 10 }))],
    ['(h) expired long ago', hs256(claims({ iat: 1, exp: 2 }))],
    ['(h) exp 0', hs256(claims({ exp: 0 }))],
    ['(i) aud of another service', hs256(claims({ aud: 'something-else' }))],
    ['(i) aud in capitals', hs256(claims({ aud: 'SIGNALLING-JOIN' }))],
    ['(i) aud with a trailing space', hs256(claims({ aud: 'signalling-join ' }))],
    ['(i) aud as an array holding ours and another', hs256(claims({ aud: ['signalling-join', 'other'] }))],
    ['(i) no aud', hs256((({ aud: _aud, ...rest }) => rest)(claims()))],
    ['(i) a resume token without lastSeq', hs256(claims({ aud: 'signalling-resume' }))],
    ['room as an array', hs256(claims({ room: ['r'] }))],
    ['room with a path', hs256(claims({ room: '../r' }))],
    ['sub as a number', hs256(claims({ sub: 42 }))],
    ['sub empty', hs256(claims({ sub: '' }))],
    ['metadata as an array', hs256(claims({ metadata: ['x'] }))],
    ['payload not an object', hs256('"just a string"')],
    ['payload an array', hs256([claims()])]
  ]
  for (const [name, token] of cases) await expectRefused(t, server, name, token)
  t.comment(`${cases.length} tokens with malformed or out-of-range claims refused with 401`)
  t.equal((await server.app.signalling.room('r')).peerCount, 0, 'no one joined')
})

t.test('(j) a token for a room that does not exist, on a server where another room does, is 404', async (t) => {
  const server = await startServer(t)
  await server.createRoom({ roomId: 'B' })
  const inB = await server.join('B', 'bob')
  await expectRefused(t, server, 'token for room A', hs256(claims({ room: 'A' })), 404)
  await expectRefused(t, server, 'token for room b (case differs)', hs256(claims({ room: 'b' })), 404)
  await expectRefused(t, server, 'token for room A with the sub of a peer of B', hs256(claims({ room: 'A', sub: 'bob' })), 404)
  t.comment('3 tokens for a room that does not exist refused with 404 ROOM_NOT_FOUND before the upgrade')
  await inB.settle()
  t.same(inB.received, [], 'room B saw nothing')
  t.equal((await server.app.signalling.room('B')).peerCount, 1, 'room B still has only bob')
  await t.rejects(server.app.signalling.room('A'), { code: 'ROOM_NOT_FOUND' }, 'and room A was not created by the attempt')
})

t.test('(k) a tampered payload or header with the original signature is refused', async (t) => {
  const server = await startServer(t)
  await server.createRoom({ roomId: 'r' })
  await server.createRoom({ roomId: 'other' })
  const good = (await server.issueToken('r', { peerId: 'p', ttl: 60 })).token
  const [head, body, signature] = good.split('.') as [string, string, string]
  const flipped = Buffer.from(signature, 'base64url')
  flipped[0]! ^= 1
  const cases: Array<[string, string]> = [
    ['sub changed to another peer', tamper(good, (p) => ({ ...p, sub: 'admin' }))],
    ['room changed', tamper(good, (p) => ({ ...p, room: 'other' }))],
    ['exp pushed a year out', tamper(good, (p) => ({ ...p, exp: (p.exp as number) + 365 * 86400 }))],
    ['metadata added', tamper(good, (p) => ({ ...p, metadata: { role: 'admin' } }))],
    ['aud changed to the resume audience', tamper(good, (p) => ({ ...p, aud: 'signalling-resume' }))],
    ['same claims, re-serialized with spaces', tamper(good, (p) => JSON.stringify(p, null, 1))],
    ['same claims, keys reordered', tamper(good, (p) => Object.fromEntries(Object.entries(p).reverse()))],
    ['header changed to HS512', `${b64({ alg: 'HS512', typ: 'JWT' })}.${body}.${signature}`],
    ['header changed to alg none', `${b64({ alg: 'none', typ: 'JWT' })}.${body}.${signature}`],
    ['header with an extra kid', `${b64({ alg: 'HS256', typ: 'JWT', kid: 'x' })}.${body}.${signature}`],
    ['one bit of the signature flipped', `${head}.${body}.${flipped.toString('base64url')}`],
    ['signature cut short', `${head}.${body}.${signature.slice(0, -2)}`],
    ['signature of another token', `${head}.${body}.${hs256(claims(), 'x').split('.')[2]!}`],
    ['a fourth part appended', `${good}.${signature}`],
    ['the payload part doubled', `${head}.${body}${body}.${signature}`]
  ]
  for (const [name, token] of cases) await expectRefused(t, server, `(k) ${name}`, token)
  t.comment(`${cases.length} tampered tokens refused with 401`)
  t.equal((await server.app.signalling.room('r')).peerCount + (await server.app.signalling.room('other')).peerCount, 0, 'no one joined')
})

t.test('(l) a bad token in the query is not rescued by a good one in the header', async (t) => {
  const server = await startServer(t)
  await server.createRoom({ roomId: 'r' })
  const good = (await server.issueToken('r', { peerId: 'p' })).token
  const header = { authorization: `Bearer ${good}` }
  const none = `${signingInput({ alg: 'none', typ: 'JWT' }, claims())}.`
  await expectRefused(t, server, 'alg none in the query, good token in the header', none, 401, 'UNAUTHORIZED', header)
  await expectRefused(t, server, 'garbage in the query, good token in the header', 'garbage', 401, 'UNAUTHORIZED', header)
  await expectRefused(t, server, 'expired token in the query, good token in the header', hs256(claims({ iat: now() - 120, exp: now() - 30 })), 401, 'UNAUTHORIZED', header)
  await expectRefused(t, server, 'wrongly signed token in the query, good one in the header', hs256(claims(), 'another-secret-another-secret-another'), 401, 'UNAUTHORIZED', header)
  await expectRefused(t, server, 'a bad token in the header alone', undefined, 401, 'UNAUTHORIZED', { authorization: `Bearer ${none}` })
  await expectRefused(t, server, 'the good token under another scheme', undefined, 401, 'UNAUTHORIZED', { authorization: `Basic ${good}` })
  // a repeated parameter is not a string: no token is read from it, and the query fails its schema
  await expectRefused(t, server, 'a bad and a good token both in the query', none, 401, 'UNAUTHORIZED', {}, `&token=${good}`)
  await expectRefused(t, server, 'two bad tokens in the query, a good one in the header', none, 400, 'INVALID_REQUEST', header, `&token=${encodeURIComponent(none)}`)
  t.comment('8 bad tokens beside a good one refused before the upgrade: 7 with 401, 1 with 400')
  t.equal((await server.app.signalling.room('r')).peerCount, 0, 'no one joined')
  t.equal(server.app.signalling.relay.localPeerCount, 0, 'no socket was ever bound to a peer')
})
