import t from 'tap'
import { buildTestApp } from '../helper.js'

t.test('with the demo on: the page, the SDK build and POST /demo/join', async (t) => {
  const app = await buildTestApp(t, { demo: true })
  const page = await app.inject({ url: '/' })
  t.equal(page.statusCode, 200)
  t.match(page.body, /<form/)
  t.equal((await app.inject({ url: '/client/index.js' })).statusCode, 200)
  const join = await app.inject({ method: 'POST', url: '/demo/join', payload: { room: 'lobby', name: 'Ann' } })
  t.equal(join.statusCode, 200)
  const { token, roomId } = join.json()
  t.equal(roomId, 'lobby')
  t.match(app.signalling.verifyToken(token), { room: 'lobby', metadata: { name: 'Ann' } })
  const again = await app.inject({ method: 'POST', url: '/demo/join', payload: { room: 'lobby', name: 'Bo' } })
  t.equal(again.statusCode, 200, 'a second person joins the same room')
  const bad = await app.inject({ method: 'POST', url: '/demo/join', payload: { room: 'no spaces', name: '' } })
  t.equal(bad.statusCode, 400)
  t.equal(bad.json().code, 'INVALID_REQUEST')
})

t.test('with the demo off (production default) neither the page nor the open token route exists', async (t) => {
  const app = await buildTestApp(t, { demo: false })
  t.equal((await app.inject({ url: '/' })).statusCode, 404)
  t.equal((await app.inject({ method: 'POST', url: '/demo/join', payload: { room: 'lobby', name: 'Ann' } })).statusCode, 404)
})
