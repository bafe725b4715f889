// The standalone server with Y_WEBRTC_* settings only: the endpoint is where the settings say, in the mode they say.
import t from 'tap'
import { upgradeStatus } from '../helper.js'
import { startServerProcess } from '../support/server-process.js'
import { YWebrtcWire } from '../support/y-webrtc-wire.js'

const secrets = { SIGNALLING_API_KEY: 'test-api-key', SIGNALLING_JWT_SECRET: 'test-secret-0123456789abcdef0123456789abcdef' }
const auth = { authorization: `Bearer ${secrets.SIGNALLING_API_KEY}` }

t.test('Y_WEBRTC_MODE=token with a path of its own and existing rooms; off without Y_WEBRTC_MODE', async (t) => {
  const { listening } = startServerProcess(t, { ...secrets, Y_WEBRTC_MODE: 'token', Y_WEBRTC_PATH: '/collab', Y_WEBRTC_ROOMS: 'existing' })
  const base = `http://127.0.0.1:${await listening}`
  t.equal((await upgradeStatus(`${base.replace('http', 'ws')}/collab`)).status, 401, 'the token mode: no token, no socket')
  t.equal((await fetch(`${base}/rooms`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: '{"roomId":"doc"}' })).status, 201)
  const { token } = await (await fetch(`${base}/rooms/doc/tokens`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: '{"peerId":"alice"}' })).json()
  const a = await YWebrtcWire.open(t, `${base.replace('http', 'ws')}/collab?token=${token}`)
  await a.subscribe('doc')
  const room = await (await fetch(`${base}/rooms/doc`, { headers: auth })).json()
  t.same(room.peers.map((p: { peerId: string }) => p.peerId), ['alice'])

  const off = startServerProcess(t, secrets)
  t.equal((await upgradeStatus(`ws://127.0.0.1:${await off.listening}/yjs`)).status, 404)
})

t.test('a bad Y_WEBRTC_* setting stops the server with one line', async (t) => {
  const { exited } = startServerProcess(t, { ...secrets, Y_WEBRTC_MODE: 'open', Y_WEBRTC_ROOMS: 'any' })
  const run = await exited
  t.equal(run.code, 1)
  t.equal(run.stderr, 'signalling: Y_WEBRTC_ROOMS must be create or existing, got "any"\n')
})
