// Real processes: a client frozen with SIGSTOP, and the server drained with SIGTERM (and forced with a second one).
import t, { type Test } from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import { startServer, TEST_API_KEY, TEST_SECRET, TestPeer, upgradeStatus } from '../helper.js'
import { startServerProcess } from '../support/server-process.js'

const root = new URL('../..', import.meta.url).pathname

function track (t: Test, child: ChildProcess): void {
  t.teardown(() => {
    if (child.exitCode !== null || child.signalCode !== null) return
    child.kill('SIGCONT')
    child.kill('SIGKILL')
  })
}

t.test('a half-open peer (its process stopped with SIGSTOP) is dropped by the heartbeat: peer-left (timeout)', async (t) => {
  const server = await startServer(t, { heartbeatInterval: 200 })
  await server.createRoom({ roomId: 'r' })
  const watcher = await server.join('r', 'watcher')
  const { token } = await server.issueToken('r', { peerId: 'frozen' })
  const client = spawn(process.execPath, ['--input-type=module', '-e', `
    import WebSocket from 'ws'
    const socket = new WebSocket(process.argv[1])
    socket.on('message', (data) => { if (JSON.parse(data).type === 'welcome') console.log('joined') })
  `, `${server.wsUrl}?token=${token}`], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] })
  track(t, client)
  await once(client.stdout!, 'data')
  await watcher.next('peer-joined')
  const stoppedAt = Date.now()
  client.kill('SIGSTOP')
  t.same(await watcher.next('peer-left', 5000), { type: 'peer-left', peerId: 'frozen', reason: 'timeout' })
  t.comment(`reported ${Date.now() - stoppedAt} ms after SIGSTOP (heartbeat every 200 ms)`)
  t.equal((await server.app.signalling.room('r')).peerCount, 1)
})

async function serverProcess (t: Test, env: Record<string, string> = {}) {
  const server = startServerProcess(t, { SIGNALLING_API_KEY: TEST_API_KEY, SIGNALLING_JWT_SECRET: TEST_SECRET, DEMO: 'false', ...env })
  const port = await server.listening
  const base = `http://127.0.0.1:${port}`
  const api = async (path: string, body: object) => await (await fetch(base + path, { method: 'POST', headers: { authorization: `Bearer ${TEST_API_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })).json() as { token: string }
  return { child: server.child, base, ws: `ws://127.0.0.1:${port}/ws`, api, log: () => server.run.stdout + server.run.stderr }
}

t.test('SIGTERM drains: readiness goes false, peers get 1012 with their messages flushed, the process exits', async (t) => {
  const server = await serverProcess(t)
  await server.api('/rooms', { roomId: 'r' })
  const a = await TestPeer.connect(t, `${server.ws}?token=${(await server.api('/rooms/r/tokens', { peerId: 'a' })).token}`)
  const b = await TestPeer.connect(t, `${server.ws}?token=${(await server.api('/rooms/r/tokens', { peerId: 'b' })).token}`)
  await a.next('welcome')
  await b.next('welcome')
  await a.next('peer-joined')
  // a slow reader keeps the drain open long enough to look at it
  ;(b.socket as unknown as { _socket: { pause: () => void } })._socket.pause()
  for (let i = 0; i < 50; i++) a.send({ type: 'candidate', to: 'b', data: i })
  await a.settle()
  const lateToken = (await server.api('/rooms/r/tokens', { peerId: 'late' })).token
  const signalledAt = Date.now()
  server.child.kill('SIGTERM')
  t.equal((await a.closed).code, 1012, 'service restart: reconnect, elsewhere')
  // b has not read its close frame yet, so the drain is still under way
  const ready = await fetch(`${server.base}/ready`)
  t.equal(ready.status, 503, 'readiness is 503 while draining')
  t.match(await ready.json(), { status: 'closing', backplane: 'none' })
  const late = await upgradeStatus(`${server.ws}?token=${lateToken}`)
  t.equal(late.status, 503, 'a new upgrade is refused while draining')
  t.equal(JSON.parse(late.body).code, 'SERVICE_UNAVAILABLE')
  ;(b.socket as unknown as { _socket: { resume: () => void } })._socket.resume()
  t.equal((await b.closed).code, 1012)
  const candidates = b.received.filter((m) => m.type === 'candidate').map((m) => m.data)
  t.same(candidates, [...Array(50).keys()], 'every accepted message was delivered before the close frame')
  const [code] = await once(server.child, 'exit')
  t.comment(`exited ${Date.now() - signalledAt} ms after SIGTERM`)
  t.equal(code, 0)
})

t.test('a second signal forces the exit', async (t) => {
  const server = await serverProcess(t, { DRAIN_TIMEOUT: '60' })
  await server.api('/rooms', { roomId: 'r' })
  const stuck = await TestPeer.connect(t, `${server.ws}?token=${(await server.api('/rooms/r/tokens', { peerId: 's' })).token}`)
  await stuck.next('welcome')
  // never reads the close frame: the drain would wait its full minute
  ;(stuck.socket as unknown as { _socket: { pause: () => void } })._socket.pause()
  server.child.kill('SIGTERM')
  await sleep(500)
  t.equal(server.child.exitCode, null, 'still draining after the first signal')
  const forcedAt = Date.now()
  server.child.kill('SIGTERM')
  const [code] = await once(server.child, 'exit')
  t.comment(`exited ${Date.now() - forcedAt} ms after the second SIGTERM`)
  t.equal(code, 1)
  t.match(server.log(), /second SIGTERM, exiting/)
})
