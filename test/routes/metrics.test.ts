import t from 'tap'
import type { Test } from 'tap'
import Fastify from 'fastify'
import swagger from '@fastify/swagger'
import { METRICS_CONTENT_TYPE, SignallingMetrics } from '../../lib/metrics.js'
import metricsRoute, { type MetricsRouteOptions } from '../../routes/metrics.js'

async function build (t: Test, options: Partial<MetricsRouteOptions> = {}) {
  const metrics = new SignallingMetrics({ peers: () => 2, rooms: () => 1, backplane: () => 'none' })
  const app = Fastify()
  t.teardown(async () => { metrics.stop(); await app.close() })
  await app.register(swagger, { openapi: { info: { title: 'test', version: '0' } } })
  await app.register(metricsRoute, { metrics, ...options })
  await app.ready()
  return { app, metrics }
}

t.test('GET /metrics answers the exposition text with its content type', async (t) => {
  const { app, metrics } = await build(t)
  metrics.relayed('offer')
  const res = await app.inject({ method: 'GET', url: '/metrics' })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['content-type'], METRICS_CONTENT_TYPE)
  t.equal(res.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8')
  t.equal(res.headers['cache-control'], 'no-store')
  t.match(res.body, /^signalling_connected_peers 2$/m)
  t.match(res.body, /^signalling_messages_relayed_total\{type="offer"\} 1$/m)
})

t.test('the route stays out of the OpenAPI document', async (t) => {
  const { app } = await build(t)
  t.notOk(Object.hasOwn(app.swagger().paths ?? {}, '/metrics'))
})

t.test('with a token, a scrape needs Authorization: Bearer <token>', async (t) => {
  const { app } = await build(t, { token: 'scrape-secret' })
  for (const authorization of [undefined, 'Bearer wrong', 'Basic scrape-secret', 'Bearer scrape-secret-and-more']) {
    const res = await app.inject({ method: 'GET', url: '/metrics', headers: authorization === undefined ? {} : { authorization } })
    t.equal(res.statusCode, 401, `401 for ${authorization ?? 'no header'}`)
    t.same(res.json(), { statusCode: 401, code: 'UNAUTHORIZED', error: 'Unauthorized', message: 'Unauthorized: a valid metrics token is required' })
    t.equal(res.headers['www-authenticate'], 'Bearer realm="metrics"')
  }
  const ok = await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: 'Bearer scrape-secret' } })
  t.equal(ok.statusCode, 200)
  t.equal(ok.headers['content-type'], METRICS_CONTENT_TYPE)
  t.match(ok.body, /^# TYPE signalling_rooms gauge$/m)
})

t.test('an empty token is refused at registration rather than opening the route', async (t) => {
  const app = Fastify()
  t.teardown(async () => { await app.close() })
  const metrics = new SignallingMetrics({ peers: () => 0, rooms: () => 0, backplane: () => 'none' })
  t.teardown(() => metrics.stop())
  await t.rejects(async () => { await app.register(metricsRoute, { metrics, token: '' }).ready() }, /token/)
})
