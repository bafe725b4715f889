// The standalone entry as a user runs it: a real process, real environment variables, real TLS.
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import WebSocket from 'ws'
import { TEST_API_KEY, TEST_SECRET } from './helper.js'
import { requireProgram } from './support/programs.js'
import { startServerProcess } from './support/server-process.js'

t.test('NODE_ENV=production without secrets refuses to start with a clear message', async (t) => {
  const cases: Array<[string, Record<string, string>, RegExp]> = [
    ['no secrets', {}, /NODE_ENV=production needs SIGNALLING_API_KEY and SIGNALLING_JWT_SECRET to be set/],
    ['no API key', { SIGNALLING_JWT_SECRET: TEST_SECRET }, /needs SIGNALLING_API_KEY to be set/],
    ['no JWT secret', { SIGNALLING_API_KEY: TEST_API_KEY }, /needs SIGNALLING_JWT_SECRET to be set/],
    ['short JWT secret', { SIGNALLING_API_KEY: TEST_API_KEY, SIGNALLING_JWT_SECRET: 'short' }, /SIGNALLING_JWT_SECRET must be at least 32 bytes/]
  ]
  for (const [name, env, message] of cases) {
    const { exited } = startServerProcess(t, { NODE_ENV: 'production', ...env })
    const run = await exited
    t.equal(run.code, 1, `${name}: exit code 1`)
    t.match(run.stderr, message, name)
    t.notMatch(run.stderr, /\n\s+at /, `${name}: no stack trace`)
  }
})

t.test('without secrets in development it generates them, warns, and prints the API key once', async (t) => {
  const { child, run, listening } = startServerProcess(t, {})
  const port = await listening
  const key = /API key for this run: (\S+)/.exec(run.stdout)?.[1]
  t.ok(key, 'the API key is printed')
  t.match(run.stdout, /secrets not set: generated random ones/)
  t.equal(run.stdout.split(key!).length - 1, 1, 'printed exactly once')
  const res = await fetch(`http://127.0.0.1:${port}/rooms`, { headers: { authorization: `Bearer ${key}` } })
  t.equal(res.status, 200, 'the printed key works')
  child.kill('SIGTERM')
  const [code] = await once(child, 'exit')
  t.equal(code, 0, 'SIGTERM closes cleanly')
})

t.test('TLS_CERT and TLS_KEY switch to HTTPS and WSS', async (t) => {
  const openssl = requireProgram(t, 'openssl')
  if (openssl === undefined) return
  const dir = mkdtempSync(join(tmpdir(), 'signalling-tls-'))
  const cert = join(dir, 'server.cert')
  const key = join(dir, 'server.key')
  execFileSync(openssl, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost'], { stdio: 'ignore' })
  const { listening, run } = startServerProcess(t, { SIGNALLING_API_KEY: TEST_API_KEY, SIGNALLING_JWT_SECRET: TEST_SECRET, TLS_CERT: cert, TLS_KEY: key })
  const port = await listening
  t.match(run.stdout, /Server listening at https:\/\//)
  const agentOptions = { rejectUnauthorized: false }
  const request = async (method: string, path: string, body?: object) => {
    const https = await import('node:https')
    return await new Promise<{ status: number, json: Record<string, string> }>((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port, path, method, ...agentOptions, headers: { authorization: `Bearer ${TEST_API_KEY}`, 'content-type': 'application/json' } }, (res) => {
        let text = ''
        res.on('data', (c: Buffer) => { text += c.toString() })
        res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) }))
      })
      req.on('error', reject)
      req.end(body === undefined ? undefined : JSON.stringify(body))
    })
  }
  t.equal((await request('POST', '/rooms', { roomId: 'secure' })).status, 201)
  const { json } = await request('POST', '/rooms/secure/tokens', { peerId: 'p' })
  const socket = new WebSocket(`wss://127.0.0.1:${port}/ws?token=${json.token}`, agentOptions)
  t.teardown(() => socket.terminate())
  const [data] = await once(socket, 'message') as [Buffer]
  t.match(JSON.parse(data.toString()), { type: 'welcome', peerId: 'p', roomId: 'secure' })
})

t.test('a missing or unreadable certificate is a clear startup error, not a stack trace', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'signalling-tls-'))
  const garbage = join(dir, 'garbage.pem')
  writeFileSync(garbage, 'not a certificate')
  const base = { SIGNALLING_API_KEY: TEST_API_KEY, SIGNALLING_JWT_SECRET: TEST_SECRET }
  const cases: Array<[string, Record<string, string>, RegExp]> = [
    ['missing cert file', { TLS_CERT: join(dir, 'nope.cert'), TLS_KEY: garbage }, /cannot read TLS_CERT ".*nope\.cert": ENOENT/],
    ['cert without key', { TLS_CERT: garbage }, /TLS_CERT and TLS_KEY must be set together/],
    ['not PEM', { TLS_CERT: garbage, TLS_KEY: garbage }, /signalling: cannot start: /]
  ]
  for (const [name, env, message] of cases) {
    const run = await startServerProcess(t, { ...base, ...env }).exited
    t.equal(run.code, 1, name)
    t.match(run.stderr, message, name)
    t.notMatch(run.stderr, /\n\s+at /, `${name}: no stack trace`)
  }
})

t.test('a bad PORT is refused with a clear message', async (t) => {
  const run = await startServerProcess(t, { PORT: 'eighty' }).exited
  t.equal(run.code, 1)
  t.match(run.stderr, /PORT must be an integer from 0 to 65535, got "eighty"/)
})

t.test('LISTEN_BACKLOG: connections made while the server is frozen wait in the kernel up to the backlog', async (t) => {
  /** Opens `count` connections to a stopped server and counts those whose handshake completes within a while. */
  const handshakes = async (port: number, count: number): Promise<number> => {
    const sockets = Array.from({ length: count }, () => connect({ host: '127.0.0.1', port }))
    let connected = 0
    for (const socket of sockets) {
      socket.on('connect', () => { connected++ })
      socket.on('error', () => {})
    }
    // past the handshakes the kernel completes at once, short of the first SYN retransmission (1 s)
    await sleep(600)
    for (const socket of sockets) socket.destroy()
    return connected
  }
  // the kernel's own cap on any backlog
  const somaxconn = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8'))
  for (const [backlog, count] of [[64, 200], [undefined, 1000]] as const) {
    const { child, listening } = startServerProcess(t, backlog === undefined ? {} : { LISTEN_BACKLOG: String(backlog) })
    const port = await listening
    child.kill('SIGSTOP')
    const connected = await handshakes(port, count)
    child.kill('SIGCONT')
    if (backlog === undefined) {
      t.equal(connected, Math.min(count, somaxconn + 1), `default backlog: ${connected} of ${count} handshakes done while the server was stopped (somaxconn ${somaxconn})`)
    } else {
      // the kernel queues backlog + 1 and drops the SYNs beyond
      t.ok(connected >= backlog && connected <= backlog + 2, `backlog ${backlog}: ${connected} of ${count} handshakes done`)
    }
    child.kill('SIGTERM')
    await once(child, 'exit')
  }
})
