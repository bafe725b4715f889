// The standalone server with PEERJS_* settings only: the endpoint is where the settings say, in the mode they say.
import t from 'tap'
import { startServerProcess } from '../support/server-process.js'
import { PeerjsWire } from '../support/peerjs-wire.js'

const secrets = { SIGNALLING_API_KEY: 'test-api-key', SIGNALLING_JWT_SECRET: 'test-secret-0123456789abcdef0123456789abcdef' }

t.test('PEERJS_MODE=open with a path and a key of its own; off without PEERJS_MODE', async (t) => {
  const { listening } = startServerProcess(t, { ...secrets, PEERJS_MODE: 'open', PEERJS_PATH: '/p2p', PEERJS_KEY: 'lobby', PEERJS_DISCOVERY: 'true' })
  const port = await listening
  t.equal((await fetch(`http://127.0.0.1:${port}/p2p/lobby/id`)).status, 200)
  const a = await PeerjsWire.open(t, `ws://127.0.0.1:${port}/p2p`, { key: 'lobby', id: 'alice', token: 't' })
  await a.next('OPEN')
  t.same(await (await fetch(`http://127.0.0.1:${port}/p2p/lobby/peers`)).json(), ['alice'])
  const room = await fetch(`http://127.0.0.1:${port}/rooms/lobby`, { headers: { authorization: `Bearer ${secrets.SIGNALLING_API_KEY}` } })
  t.same((await room.json()).peers.map((p: { peerId: string }) => p.peerId), ['alice'], 'the key\'s room, created on demand')

  const off = startServerProcess(t, secrets)
  t.equal((await fetch(`http://127.0.0.1:${await off.listening}/peerjs/peerjs/id`)).status, 404)
})

t.test('a bad PEERJS_* setting stops the server with one line', async (t) => {
  const { exited } = startServerProcess(t, { ...secrets, PEERJS_MODE: 'yes' })
  const run = await exited
  t.equal(run.code, 1)
  t.equal(run.stderr, 'signalling: PEERJS_MODE must be off, open or token, got "yes"\n')
})
