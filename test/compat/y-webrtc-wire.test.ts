// The y-webrtc endpoint on the wire, through a real server: every message type of the reference protocol, and every
// refusal of a frame (a typed `error`, or a close), after which the connection and the server go on.
import t from 'tap'
import WebSocket from 'ws'
import { startServer, upgradeStatus, type TestServer } from '../helper.js'
import { YWebrtcWire } from '../support/y-webrtc-wire.js'
import type { AppOptions } from '../../app.js'
import { MAX_PUBLISH_BYTES, MAX_TOPICS } from '../../lib/compat/y-webrtc.js'

async function server (options: Partial<AppOptions> = {}): Promise<TestServer & { yjs: string }> {
  const started = await startServer(t, { yWebrtc: true, ...options })
  return { ...started, yjs: `${started.wsUrl.slice(0, -'/ws'.length)}/yjs` }
}

t.test('off by default: no y-webrtc endpoint', async (t) => {
  const s = await startServer(t)
  t.equal((await upgradeStatus(`${s.wsUrl.slice(0, -3)}/yjs`)).status, 404)
})

t.test('the path is configurable, under the plugin\'s prefix', async (t) => {
  const s = await startServer(t, { yWebrtc: { path: '/collab/signal' }, prefix: '/rtc' })
  const base = s.wsUrl.replace(/\/ws$/, '')
  t.equal((await upgradeStatus(`${base}/rtc/collab/signal`)).status, 101)
  t.equal((await upgradeStatus(`${base}/yjs`)).status, 404)
})

t.test('publish reaches every subscriber of the topic, the sender too, as sent with `clients` added', async (t) => {
  const s = await server()
  const a = await YWebrtcWire.open(t, s.yjs)
  const b = await YWebrtcWire.open(t, s.yjs)
  const c = await YWebrtcWire.open(t, s.yjs)
  await a.subscribe('doc')
  await b.subscribe('doc')
  await c.subscribe('elsewhere')
  const announce = { type: 'publish', topic: 'doc', data: { type: 'announce', from: 'peer-a' } }
  a.send(announce)
  t.same(await a.next('publish'), { ...announce, clients: 2 }, 'the sender gets its own publish, as the reference sends it')
  t.same(await b.next('publish'), { ...announce, clients: 2 })
  // an encrypted room's publish: `data` is a base64 string, and extra fields travel as they are
  const sealed = { type: 'publish', topic: 'doc', data: 'c2VhbGVk', extra: [1, { x: null }] }
  b.send(sealed)
  t.same(await a.next('publish'), { ...sealed, clients: 2 })
  t.same(await b.next('publish'), { ...sealed, clients: 2 })
  await c.settle()
  t.same(c.frames, [], 'nothing for a subscriber of another topic')
  t.same((await s.app.signalling.room('doc')).peerCount, 2, 'the topic is a room of ours, its subscribers its peers')
  const metrics = await (await fetch(`${s.baseUrl}/metrics`)).text()
  t.match(metrics, /signalling_messages_relayed_total\{type="message"\} [1-9]/, 'publishes are relayed messages in the metrics')
})

t.test('ping is answered pong; a frame with an `id` or other fields is answered the same', async (t) => {
  const s = await server()
  const a = await YWebrtcWire.open(t, s.yjs)
  a.send({ type: 'ping' })
  t.same(await a.next('pong'), { type: 'pong' })
  a.send({ type: 'ping', id: 7, extra: true })
  t.same(await a.next('pong'), { type: 'pong' })
})

t.test('several topics on one connection; unsubscribe leaves one room and stops its deliveries', async (t) => {
  const s = await server()
  const a = await YWebrtcWire.open(t, s.yjs)
  const b = await YWebrtcWire.open(t, s.yjs)
  a.send({ type: 'subscribe', topics: ['one', 'two', 'one'] })
  await a.subscribe('two')
  await a.subscribe('one')
  await b.subscribe('one')
  await b.subscribe('two')
  t.same((await s.app.signalling.room('one')).peerCount, 2)
  t.same((await s.app.signalling.room('two')).peerCount, 2)
  b.send({ type: 'unsubscribe', topics: ['one'] })
  await b.settle()
  a.send({ type: 'publish', topic: 'one', data: 1 })
  t.same(await a.next('publish'), { type: 'publish', topic: 'one', data: 1, clients: 1 }, 'one subscriber left')
  a.send({ type: 'publish', topic: 'two', data: 2 })
  t.same(await b.next('publish'), { type: 'publish', topic: 'two', data: 2, clients: 2 })
  t.same(b.frames, [], 'nothing of topic one after unsubscribe')
  t.same((await s.app.signalling.room('one')).peerCount, 1)
  b.send({ type: 'unsubscribe', topics: ['never-subscribed'] })
  await b.settle()
  t.same(b.frames, [], 'unsubscribing from a topic not subscribed is nothing, as in the reference')
  a.socket.close()
  await a.closed
  for (let i = 0; i < 200 && (await s.app.signalling.room('two')).peerCount > 1; i++) await new Promise((resolve) => setTimeout(resolve, 10))
  t.same((await s.app.signalling.room('two')).peerCount, 1, 'a closed connection leaves every room at once')
})

t.test('every malformed frame is answered a typed error; the connection and the server go on', async (t) => {
  const s = await server()
  const a = await YWebrtcWire.open(t, s.yjs)
  const b = await YWebrtcWire.open(t, s.yjs)
  await a.subscribe('doc')
  await b.subscribe('doc')
  const cases: Array<[string, unknown, string, RegExp]> = [
    ['malformed JSON', '{"type":"publish",', 'INVALID_MESSAGE', /not valid JSON/],
    ['a JSON array', '[1,2]', 'INVALID_MESSAGE', /not a JSON object/],
    ['a JSON number', '42', 'INVALID_MESSAGE', /not a JSON object/],
    ['null', 'null', 'INVALID_MESSAGE', /not a JSON object/],
    ['no type', { topic: 'doc' }, 'INVALID_MESSAGE', /`type` must be a string/],
    ['a type not a string', { type: 5 }, 'INVALID_MESSAGE', /`type` must be a string/],
    ['an unknown type', { type: 'gossip' }, 'UNKNOWN_TYPE', /gossip/],
    ['subscribe without topics', { type: 'subscribe' }, 'INVALID_MESSAGE', /`topics` must be an array/],
    ['topics not an array', { type: 'subscribe', topics: 'doc' }, 'INVALID_MESSAGE', /`topics` must be an array/],
    ['too many topics in one frame', { type: 'subscribe', topics: Array.from({ length: MAX_TOPICS + 1 }, (_, i) => `t${i}`) }, 'INVALID_MESSAGE', /at most 32 topics/],
    ['unsubscribe with topics not an array', { type: 'unsubscribe', topics: { doc: true } }, 'INVALID_MESSAGE', /`topics` must be an array/],
    ['publish without a topic', { type: 'publish', data: 1 }, 'INVALID_MESSAGE', /`topic` must be/],
    ['publish to a topic not a string', { type: 'publish', topic: ['doc'], data: 1 }, 'INVALID_MESSAGE', /`topic` must be/]
  ]
  for (const [what, frame, code, message] of cases) {
    a.send(frame)
    const error = await a.next('error')
    t.equal(error.code, code, what)
    t.match(error.message, message, what)
  }
  a.send({ type: 'subscribe', topics: [7, 'bad topic!', ''] })
  const refusals = [await a.next('error'), await a.next('error'), await a.next('error')]
  t.same(refusals.map((e) => [e.code, e.topic]), [['INVALID_MESSAGE', undefined], ['INVALID_MESSAGE', 'bad topic!'], ['INVALID_MESSAGE', '']], 'each bad topic refused, the topic named')
  a.send({ type: 'publish', topic: 'not-mine', data: 1 })
  t.same(await a.next('error'), { type: 'error', code: 'INVALID_MESSAGE', message: 'Invalid message: subscribe to the topic before publishing to it', topic: 'not-mine' })
  const deep = `{"type":"publish","topic":"doc","data":${'['.repeat(30_000)}${']'.repeat(30_000)}}`
  a.send(deep)
  t.same(await a.next('error'), { type: 'error', code: 'INVALID_MESSAGE', message: 'Invalid message: nested too deeply', topic: 'doc' }, 'nesting JSON.stringify cannot write back')
  a.send({ type: 'publish', topic: 'doc', data: 1, clients: 99 })
  t.same(await a.next('publish'), { type: 'publish', topic: 'doc', data: 1, clients: 2 }, 'the client\'s own `clients` is replaced, as the reference does')
  t.same(await b.next('publish'), { type: 'publish', topic: 'doc', data: 1, clients: 2 })
  a.socket.send(Buffer.from(JSON.stringify({ type: 'ping' })), { binary: true })
  t.same(await a.next('error'), { type: 'error', code: 'INVALID_MESSAGE', message: 'Invalid message: binary frames are not part of the protocol' })
  a.send({ type: 'publish', topic: 'doc', data: 'x'.repeat(MAX_PUBLISH_BYTES) })
  t.match(await a.next('error'), { code: 'INVALID_MESSAGE', message: /frame too large/ })
  await a.settle()
  await b.settle()
  t.same(b.frames, [], 'no refused frame reached another subscriber')
  a.send({ type: 'publish', topic: 'doc', data: 'still here' })
  t.same(await b.next('publish'), { type: 'publish', topic: 'doc', data: 'still here', clients: 2 }, 'the connection goes on')
})

t.test('a frame over 64 KiB closes the connection with 1009; the server goes on', async (t) => {
  const s = await server()
  const a = await YWebrtcWire.open(t, s.yjs)
  await a.subscribe('doc')
  a.send({ type: 'publish', topic: 'doc', data: 'x'.repeat(64 * 1024) })
  t.equal((await a.closed).code, 1009)
  const b = await YWebrtcWire.open(t, s.yjs)
  await b.subscribe('doc')
  t.same((await s.app.signalling.room('doc')).peerCount, 1, 'the closed connection left the room')
})

t.test('at most 32 topics per connection: the next subscription is refused, naming the topic', async (t) => {
  const s = await server()
  const a = await YWebrtcWire.open(t, s.yjs)
  a.send({ type: 'subscribe', topics: Array.from({ length: MAX_TOPICS }, (_, i) => `t${i}`) })
  a.send({ type: 'subscribe', topics: ['one-too-many'] })
  t.same(await a.next('error'), { type: 'error', code: 'INVALID_MESSAGE', message: `Invalid message: at most ${MAX_TOPICS} topics per connection`, topic: 'one-too-many' })
  a.send({ type: 'unsubscribe', topics: ['t0'] })
  await a.subscribe('one-too-many')
})

t.test('a subscriber of ours and a /ws peer of the same room, and the backend, reach each other', async (t) => {
  const s = await server()
  const a = await YWebrtcWire.open(t, s.yjs)
  await a.subscribe('mixed')
  const peer = await s.join('mixed', 'ws-peer')
  a.send({ type: 'publish', topic: 'mixed', data: { type: 'announce', from: 'x' } })
  const relayed = await peer.next('message')
  t.same(relayed.data, { type: 'publish', topic: 'mixed', data: { type: 'announce', from: 'x' } }, 'a publish reaches a /ws peer as `message`, whole')
  await a.next('publish')
  peer.send({ type: 'message', data: { data: 'from ws' } })
  t.same(await a.next('publish'), { type: 'publish', topic: 'mixed', data: 'from ws', clients: 2 })
  peer.send({ type: 'message', data: 'not an object' })
  t.same(await a.next('publish'), { type: 'publish', topic: 'mixed', data: 'not an object', clients: 2 }, 'data that is no object comes as `data`')
  peer.send(`{"type":"message","data":{"deep":${'['.repeat(30_000)}${']'.repeat(30_000)}}}`)
  peer.send({ type: 'message', data: { after: 'the deep one' } })
  t.same(await a.next('publish'), { type: 'publish', topic: 'mixed', after: 'the deep one', clients: 2 }, 'a /ws message nested too deeply to write back is skipped; the connection goes on')
  await s.app.signalling.relay.send('mixed', { notice: 'from the backend' })
  t.same(await a.next('publish'), { type: 'publish', topic: 'mixed', notice: 'from the backend', clients: 2 })
})

t.test('the keepalive pings; a client that answers no ping is dropped', async (t) => {
  const s = await server({ yWebrtc: { pingInterval: 100 } })
  const alive = await YWebrtcWire.open(t, s.yjs)
  const silent = await YWebrtcWire.open(t, s.yjs, { autoPong: false })
  await alive.subscribe('doc')
  await silent.subscribe('doc')
  t.equal((await silent.closed).code, 1006, 'dropped without a close frame')
  t.ok(silent.pings >= 1)
  for (let i = 0; i < 500 && alive.pings < 3; i++) await new Promise((resolve) => setTimeout(resolve, 10))
  t.ok(alive.pings >= 3, 'pinged again and again')
  t.equal(alive.socket.readyState, WebSocket.OPEN, 'a client that answers stays')
  t.same((await s.app.signalling.room('doc')).peerCount, 1, 'the dropped client left the room')
})
