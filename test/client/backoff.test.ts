// The reconnect policy of the client SDK: pure backoff and stop rules, then real sockets against a tiny
// `ws` server that misbehaves on purpose (terminates, closes with fatal codes, refuses the upgrade).
import t from 'tap'
import type { Test } from 'tap'
import { WebSocketServer, WebSocket } from 'ws'
import type { AddressInfo } from 'node:net'
import type { IncomingMessage } from 'node:http'
import {
  SignallingClient,
  ConnectError,
  RequestError,
  backoffDelay,
  isFatalCloseCode,
  isFatalUpgradeStatus,
  FATAL_CLOSE_CODES,
  DEFAULT_RECONNECT_OPTIONS,
  type CloseEvent,
  type WelcomeMessage
} from '../../client/index.js'
import { BrowserLikeWebSocket } from '../support/browser-like-websocket.js'

const fast = { initialDelay: 10, maxDelay: 40, factor: 2, jitter: 0 }

t.test('backoffDelay grows by factor from initialDelay and is capped at maxDelay', async (t) => {
  const options = { initialDelay: 100, maxDelay: 1000, factor: 2, jitter: 0 }
  const delays = [1, 2, 3, 4, 5, 6, 10, 100].map((attempt) => backoffDelay(attempt, options))
  t.same(delays, [100, 200, 400, 800, 1000, 1000, 1000, 1000])
  t.equal(backoffDelay(3, { initialDelay: 50, maxDelay: 10_000, factor: 3, jitter: 0 }), 450)
  t.equal(backoffDelay(0, options), 100, 'attempt 0 is treated as the first')
})

t.test('backoffDelay jitter: full jitter spans [0, d], partial jitter [d*(1-j), d]', async (t) => {
  const options = { initialDelay: 100, maxDelay: 1000, factor: 2, jitter: 1 }
  t.equal(backoffDelay(3, options, () => 0), 400, 'random 0 keeps the whole delay')
  t.equal(backoffDelay(3, options, () => 0.5), 200)
  t.equal(backoffDelay(3, options, () => 0.75), 100)
  t.ok(backoffDelay(3, options, () => 0.999999) < 0.001, 'random near 1 gives near 0 with full jitter')

  const partial = { ...options, jitter: 0.5 }
  t.equal(backoffDelay(3, partial, () => 0), 400)
  t.equal(backoffDelay(3, partial, () => 0.5), 300)
  t.equal(backoffDelay(10, partial, () => 0.5), 750, 'jitter applies after the cap')

  // Bounds hold for any random value in [0, 1).
  let seed = 42
  const lcg = (): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed / 2 ** 31 }
  for (let attempt = 1; attempt <= 12; attempt++) {
    const base = Math.min(1000, 100 * 2 ** (attempt - 1))
    for (let i = 0; i < 50; i++) {
      const d = backoffDelay(attempt, partial, lcg)
      if (d < base * 0.5 || d > base) t.fail(`attempt ${attempt}: ${d} outside [${base * 0.5}, ${base}]`)
    }
  }
  t.equal(backoffDelay(1, { ...options, jitter: 7 }, () => 0.5), 50, 'jitter above 1 is clamped to 1')
})

t.test('default reconnect options', async (t) => {
  t.same({ ...DEFAULT_RECONNECT_OPTIONS }, {
    initialDelay: 500, maxDelay: 30_000, factor: 2, jitter: 0.5, maxAttempts: Infinity, maxFailedOpens: 5
  })
})

t.test('stop rules: fatal close codes and upgrade statuses', async (t) => {
  t.same([...FATAL_CLOSE_CODES].sort(), [1000, 4403, 4404, 4409, 4413])
  for (const code of [1000, 4403, 4404, 4409, 4413]) t.equal(isFatalCloseCode(code), true, `close ${code} is fatal`)
  for (const code of [1001, 1006, 1009, 1011, 1012, 4000, 4500]) t.equal(isFatalCloseCode(code), false, `close ${code} reconnects`)
  for (const status of [400, 401, 403, 404]) t.equal(isFatalUpgradeStatus(status), true, `HTTP ${status} is fatal`)
  for (const status of [408, 429, 500, 502, 503]) t.equal(isFatalUpgradeStatus(status), false, `HTTP ${status} retries`)
})

// A `ws` server on port 0 that counts connection attempts (upgrades asked for, accepted or not).
interface FakeServer {
  url: string
  attempts: number
  requests: IncomingMessage[]
  wss: WebSocketServer
}

async function fakeServer (
  t: Test,
  onConnection: (socket: WebSocket, attempt: number) => void,
  refuseWith?: (attempt: number) => number | undefined
): Promise<FakeServer> {
  const server: FakeServer = { url: '', attempts: 0, requests: [], wss: undefined as unknown as WebSocketServer }
  const wss = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    verifyClient: (info, done) => {
      server.attempts++
      server.requests.push(info.req)
      const status = refuseWith?.(server.attempts)
      if (status === undefined) done(true)
      else done(false, status, 'refused by test')
    }
  })
  server.wss = wss
  wss.on('connection', (socket) => onConnection(socket, server.attempts))
  await new Promise<void>((resolve) => wss.once('listening', resolve))
  server.url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/ws`
  t.teardown(() => new Promise<void>((resolve) => {
    for (const client of wss.clients) client.terminate()
    wss.close(() => resolve())
  }))
  return server
}

function welcome (peerId = 'alice'): string {
  const message: WelcomeMessage = { type: 'welcome', peerId, roomId: 'room-1', peers: [] }
  return JSON.stringify(message)
}

// Records the client's lifecycle events in order.
function record (client: SignallingClient): string[] {
  const log: string[] = []
  client.on('open', () => log.push('open'))
  client.on('welcome', (w) => log.push(`welcome ${w.peerId}`))
  client.on('close', (e) => log.push(`close ${e.code} ${e.willReconnect ? 'reconnect' : 'final'}${e.httpStatus === undefined ? '' : ` http ${e.httpStatus}`}`))
  client.on('reconnecting', (r) => log.push(`reconnecting ${r.attempt} ${r.delay}`))
  return log
}

function nextClose (client: SignallingClient, final = true): Promise<CloseEvent> {
  return new Promise((resolve) => {
    const listener = (event: CloseEvent): void => {
      if (final && event.willReconnect) return
      client.off('close', listener)
      resolve(event)
    }
    client.on('close', listener)
  })
}

const settle = (ms = 300): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

t.test('the token is added to the URL and existing query parameters are kept', async (t) => {
  const server = await fakeServer(t, (socket) => socket.send(welcome()))
  const client = new SignallingClient({ url: `${server.url}?region=eu&token=stale`, token: 'a b&c', WebSocket })
  t.teardown(() => client.close())
  await client.connect()
  const url = new URL(server.requests[0]?.url ?? '', 'http://x')
  t.equal(url.pathname, '/ws')
  t.equal(url.searchParams.get('region'), 'eu')
  t.same(url.searchParams.getAll('token'), ['a b&c'])
})

t.test('reconnects after abnormal closes (terminate, 1006) with the backoff delays, then resumes', async (t) => {
  // The first three connections are cut without a close frame; the fourth gets its welcome.
  const server = await fakeServer(t, (socket, attempt) => {
    if (attempt <= 3) socket.terminate()
    else socket.send(welcome())
  })
  const client = new SignallingClient({ url: server.url, token: 'tok', WebSocket, reconnect: fast })
  t.teardown(() => client.close())
  const log = record(client)
  const w = await client.connect()
  t.equal(w.peerId, 'alice')
  t.equal(server.attempts, 4)
  t.same(log, [
    'open', 'close 1006 reconnect', 'reconnecting 1 10',
    'open', 'close 1006 reconnect', 'reconnecting 2 20',
    'open', 'close 1006 reconnect', 'reconnecting 3 40',
    'open', 'welcome alice'
  ])
  t.equal(client.state, 'open')

  // A later abnormal close starts again from the first delay: welcome resets the attempt count.
  const reconnecting = new Promise<{ attempt: number, delay: number }>((resolve) => client.once('reconnecting', resolve))
  for (const socket of server.wss.clients) socket.terminate()
  t.same(await reconnecting, { attempt: 1, delay: 10 })
  await new Promise((resolve) => client.once('welcome', resolve))
  t.equal(server.attempts, 5)
})

t.test('gives up after maxAttempts reconnects in a row', async (t) => {
  const server = await fakeServer(t, (socket) => socket.terminate())
  const client = new SignallingClient({ url: server.url, token: 'tok', WebSocket, reconnect: { ...fast, maxAttempts: 2 } })
  const log = record(client)
  const error = await client.connect().then(() => undefined, (err: unknown) => err)
  t.type(error, ConnectError)
  t.equal((error as ConnectError).code, 1006)
  t.equal(server.attempts, 3, 'the first connection and two reconnects')
  t.same(log, [
    'open', 'close 1006 reconnect', 'reconnecting 1 10',
    'open', 'close 1006 reconnect', 'reconnecting 2 20',
    'open', 'close 1006 final'
  ])
  t.equal(client.state, 'closed')
})

for (const [code, meaning] of [[4403, 'kicked'], [4404, 'room closed'], [4409, 'replaced'], [4413, 'room full'], [1000, 'normal closure']] as const) {
  t.test(`close ${code} (${meaning}) stops for good`, async (t) => {
    const server = await fakeServer(t, (socket) => {
      socket.send(welcome())
      socket.close(code, meaning)
    })
    const client = new SignallingClient({ url: server.url, token: 'tok', WebSocket, reconnect: fast })
    const log = record(client)
    const closed = nextClose(client)
    await client.connect()
    t.same(await closed, { code, reason: meaning, willReconnect: false })
    await settle()
    t.equal(server.attempts, 1, 'no second connection')
    t.same(log, ['open', 'welcome alice', `close ${code} final`])
    t.equal(client.state, 'closed')
    await t.rejects(client.connect(), { message: 'This client was closed; create a new one' })
  })
}

t.test('leave() sends leave; the server\'s close 1000 is final', async (t) => {
  const received: unknown[] = []
  const server = await fakeServer(t, (socket) => {
    socket.send(welcome())
    socket.on('message', (data) => {
      received.push(JSON.parse(String(data)))
      socket.close(1000, 'bye')
    })
  })
  const client = new SignallingClient({ url: server.url, token: 'tok', WebSocket, reconnect: fast })
  const log = record(client)
  await client.connect()
  await client.leave()
  t.same(received, [{ type: 'leave' }])
  await settle()
  t.equal(server.attempts, 1)
  t.same(log, ['open', 'welcome alice', 'close 1000 final'])
})

t.test('close() during a reconnect delay stops without another attempt', async (t) => {
  const server = await fakeServer(t, (socket) => socket.terminate())
  const client = new SignallingClient({ url: server.url, token: 'tok', WebSocket, reconnect: { ...fast, initialDelay: 200 } })
  const connecting = client.connect()
  await new Promise((resolve) => client.once('reconnecting', resolve))
  await client.close()
  await t.rejects(connecting, ConnectError)
  await settle(400)
  t.equal(server.attempts, 1)
  t.equal(client.state, 'closed')
})

t.test('HTTP 401 on the upgrade stops for good (ws exposes the status)', async (t) => {
  const server = await fakeServer(t, () => t.fail('no socket may open'), () => 401)
  const client = new SignallingClient({ url: server.url, token: 'bad', WebSocket, reconnect: fast })
  const log = record(client)
  const error = await client.connect().then(() => undefined, (err: unknown) => err)
  t.type(error, ConnectError)
  t.equal((error as ConnectError).httpStatus, 401)
  t.equal((error as ConnectError).message, 'Connection closed before welcome (code 1006, HTTP 401)')
  await settle()
  t.equal(server.attempts, 1)
  t.same(log, ['close 1006 final http 401'])
})

t.test('HTTP 503 on the upgrade is retried', async (t) => {
  const server = await fakeServer(t, (socket) => socket.send(welcome()), (attempt) => attempt <= 2 ? 503 : undefined)
  const client = new SignallingClient({ url: server.url, token: 'tok', WebSocket, reconnect: fast })
  const log = record(client)
  await client.connect()
  t.teardown(() => client.close())
  t.equal(server.attempts, 3)
  t.same(log, [
    'close 1006 reconnect http 503', 'reconnecting 1 10',
    'close 1006 reconnect http 503', 'reconnecting 2 20',
    'open', 'welcome alice'
  ])
})

t.test('browser-style refusal (close 1006 before open) is fatal after maxFailedOpens in a row', async (t) => {
  const server = await fakeServer(t, () => t.fail('no socket may open'), () => 401)
  const client = new SignallingClient({
    url: server.url, token: 'bad', WebSocket: BrowserLikeWebSocket, reconnect: { ...fast, maxFailedOpens: 3 }
  })
  const log = record(client)
  const error = await client.connect().then(() => undefined, (err: unknown) => err)
  t.type(error, ConnectError)
  t.equal((error as ConnectError).httpStatus, undefined)
  await settle()
  t.equal(server.attempts, 3)
  t.same(log, ['close 1006 reconnect', 'reconnecting 1 10', 'close 1006 reconnect', 'reconnecting 2 20', 'close 1006 final'])
})

t.test('a socket that opened resets the failed-open count', async (t) => {
  // Refused, refused, accepted then cut, refused, refused, accepted: never 3 failed opens in a row.
  const server = await fakeServer(
    t,
    (socket, attempt) => { if (attempt === 3) socket.terminate(); else socket.send(welcome()) },
    (attempt) => [1, 2, 4, 5].includes(attempt) ? 401 : undefined
  )
  const client = new SignallingClient({
    url: server.url, token: 'tok', WebSocket: BrowserLikeWebSocket, reconnect: { ...fast, maxFailedOpens: 3 }
  })
  t.teardown(() => client.close())
  await client.connect()
  t.equal(server.attempts, 6)
})

t.test('browser-style: after a welcome, closes before open do not stop the client; after 4410 they do again', async (t) => {
  // Accepted with a welcome, then cut; refused 4 times (an outage); accepted: resume refused with 4410;
  // then refused for good (the join token expired meanwhile).
  const server = await fakeServer(
    t,
    (socket, attempt) => {
      if (attempt === 1) {
        socket.send(JSON.stringify({ ...JSON.parse(welcome()) as WelcomeMessage, resumeToken: 'resume-me' }))
        socket.terminate()
      } else {
        socket.close(4410, 'SESSION_EXPIRED')
      }
    },
    (attempt) => attempt === 1 || attempt === 6 ? undefined : 401
  )
  const client = new SignallingClient({
    url: server.url, token: 'join-token', WebSocket: BrowserLikeWebSocket, reconnect: { ...fast, maxFailedOpens: 3 }
  })
  const log = record(client)
  const closed = nextClose(client)
  await client.connect()
  await closed
  t.equal(server.attempts, 9, 'the first join, 4 refusals, the refused resume, then 3 refusals')
  t.same(log, [
    'open', 'welcome alice', 'close 1006 reconnect', 'reconnecting 1 10',
    'close 1006 reconnect', 'reconnecting 2 20',
    'close 1006 reconnect', 'reconnecting 3 40',
    'close 1006 reconnect', 'reconnecting 4 40',
    'close 1006 reconnect', 'reconnecting 5 40',
    'open', 'close 4410 reconnect', 'reconnecting 6 40',
    'close 1006 reconnect', 'reconnecting 7 40',
    'close 1006 reconnect', 'reconnecting 8 40',
    'close 1006 final'
  ])
  const tokens = server.requests.map((req) => new URL(req.url ?? '', 'http://x').searchParams.get('token'))
  t.same(tokens, ['join-token', 'resume-me', 'resume-me', 'resume-me', 'resume-me', 'resume-me', 'join-token', 'join-token', 'join-token'])
})

t.test('reconnect: false never reconnects', async (t) => {
  const server = await fakeServer(t, (socket) => { socket.send(welcome()); socket.terminate() })
  const client = new SignallingClient({ url: server.url, token: 'tok', WebSocket, reconnect: false })
  const closed = nextClose(client)
  await client.connect()
  t.same(await closed, { code: 1006, reason: '', willReconnect: false })
  await settle()
  t.equal(server.attempts, 1)
})

t.test('request(): rejects on an error carrying its id, resolves when none comes, fails when not connected', async (t) => {
  const server = await fakeServer(t, (socket) => {
    socket.send(welcome())
    socket.on('message', (raw) => {
      const message = JSON.parse(String(raw)) as { type: string, to?: string, id?: number }
      if (message.to === 'nobody') {
        socket.send(JSON.stringify({ type: 'error', code: 'PEER_NOT_FOUND', message: 'Peer nobody not found', id: message.id }))
      }
    })
  })
  const client = new SignallingClient({ url: server.url, token: 'tok', WebSocket, requestTimeout: 200 })
  const errors: unknown[] = []
  client.on('error', (message) => errors.push(message))
  await client.connect()

  const error = await client.request({ type: 'offer', to: 'nobody', data: { sdp: 'x' } }).then(() => undefined, (err: unknown) => err)
  t.type(error, RequestError)
  t.match(error, { code: 'PEER_NOT_FOUND', message: 'Peer nobody not found', id: 1 })
  t.same(errors, [{ type: 'error', code: 'PEER_NOT_FOUND', message: 'Peer nobody not found', id: 1 }], 'the error event fires too')

  await t.resolves(client.request({ type: 'offer', to: 'bob', data: {} }), 'no error within the window: accepted')

  const pending = client.request({ type: 'message', data: 'hi' }, { timeout: 10_000 })
  for (const socket of server.wss.clients) socket.close(4404, 'gone')
  await t.rejects(pending, { name: 'RequestError', code: 'CONNECTION_CLOSED' })
  await t.rejects(client.request({ type: 'ping' }), { name: 'RequestError', code: 'NOT_CONNECTED' })
  t.equal(client.send({ type: 'ping' }), false, 'send() reports a closed socket')
})
