import t from 'tap'
import { readFile } from 'node:fs/promises'
import { validate } from '@readme/openapi-parser'
import { parse } from 'yaml'
import { DOCUMENTED_OPTIONS, generateOpenapiYaml } from '../scripts/openapi-yaml.js'
import { buildTestApp } from './helper.js'

const committedPath = new URL('../openapi.yaml', import.meta.url)

t.test('the committed openapi.yaml is what the code generates (run `npm run openapi` after changing a schema)', async (t) => {
  const committed = await readFile(committedPath, 'utf8')
  t.equal(committed, await generateOpenapiYaml())
})

t.test('openapi.yaml is a valid OpenAPI 3.1 document', async (t) => {
  const result = await validate(parse(await readFile(committedPath, 'utf8')))
  t.equal(result.valid, true, JSON.stringify((result as { errors?: unknown }).errors ?? []))
  t.equal(result.specification, 'OpenAPI')
})

t.test('it documents every REST route, the /ws upgrade and the WebSocket messages', async (t) => {
  const doc = parse(await readFile(committedPath, 'utf8'))
  t.equal(doc.openapi, '3.1.0')
  t.same(Object.keys(doc.paths['/rooms']).sort(), ['get', 'post'])
  t.same(Object.keys(doc.paths['/rooms/{roomId}']).sort(), ['delete', 'get'])
  t.ok(doc.paths['/rooms/{roomId}/peers/{peerId}'].delete)
  t.ok(doc.paths['/rooms/{roomId}/tokens'].post)
  t.same(Object.keys(doc.paths['/ws'].get.responses).sort(), ['101', '401', '403', '404', '429', '503'])
  for (const name of ['ClientOfferMessage', 'ClientMessageMessage', 'ClientLeaveMessage', 'ServerWelcomeMessage', 'ServerPeerLeftMessage', 'ServerErrorMessage', 'ServerRoomClosedMessage']) {
    t.ok(doc.components.schemas[name], `${name} is a component`)
  }
  t.ok(doc.paths['/peerjs/peerjs'].get, 'the PeerJS upgrade')
  t.same(Object.keys(doc.paths['/yjs'].get.responses).sort(), ['101', '401', '403', '404', '429', '503'], 'the y-webrtc upgrade')
  t.same(doc.paths['/yjs'].get.tags, ['y-webrtc'])
  t.same(doc.paths['/rooms'].post.responses['409'].content['application/json'].schema.properties.code.anyOf.length > 5, true)
})

t.test('the document is served at /openapi.json and the UI at /docs', async (t) => {
  const app = await buildTestApp(t, DOCUMENTED_OPTIONS)
  const json = await app.inject({ url: '/openapi.json' })
  t.equal(json.statusCode, 200)
  t.same(json.json(), parse(await readFile(committedPath, 'utf8')))
  const ui = await app.inject({ url: '/docs/' })
  t.equal(ui.statusCode, 200)
  t.match(ui.headers['content-type'], /text\/html/)
})
