import t from 'tap'
import { loadConfig } from '../../lib/config.js'

t.test('defaults: port 8086, all interfaces, generated secrets in development', async (t) => {
  const config = loadConfig({})
  t.equal(config.port, 8086)
  t.equal(config.host, '0.0.0.0')
  t.same(config.generated, ['SIGNALLING_API_KEY', 'SIGNALLING_JWT_SECRET'])
  t.ok(Buffer.byteLength(config.jwtSecret) >= 32)
  t.equal(config.heartbeatInterval, 30_000)
  t.equal(config.listenBacklog, 4096)
})

t.test('settings from the environment', async (t) => {
  const config = loadConfig({ PORT: '9000', HOST: '127.0.0.1', SIGNALLING_API_KEY: 'k', SIGNALLING_JWT_SECRET: 's'.repeat(32), HEARTBEAT_INTERVAL: '10', TLS_CERT: 'c', TLS_KEY: 'k', LISTEN_BACKLOG: '1024' })
  t.match(config, { port: 9000, host: '127.0.0.1', listenBacklog: 1024, apiKey: 'k', heartbeatInterval: 10_000, generated: [], tls: { certFile: 'c', keyFile: 'k' } })
})

t.test('bad settings throw INVALID_CONFIG with the name of the setting', async (t) => {
  t.throws(() => loadConfig({ PORT: '70000' }), { code: 'INVALID_CONFIG', message: /PORT/ })
  t.throws(() => loadConfig({ LISTEN_BACKLOG: '0' }), { code: 'INVALID_CONFIG', message: 'LISTEN_BACKLOG must be an integer from 1 to 65535, got "0"' })
  t.throws(() => loadConfig({ HEARTBEAT_INTERVAL: '-1' }), { code: 'INVALID_CONFIG', message: /HEARTBEAT_INTERVAL/ })
  t.throws(() => loadConfig({ TLS_KEY: 'k' }), { code: 'INVALID_CONFIG', message: /TLS_CERT and TLS_KEY/ })
  t.throws(() => loadConfig({ NODE_ENV: 'production', SIGNALLING_API_KEY: 'k', SIGNALLING_JWT_SECRET: 'short' }), { message: /at least 32 bytes/ })
  t.throws(() => loadConfig({ SIGNALLING_API_KEY: 'k', SIGNALLING_JWT_SECRET: 'short' }), { message: /at least 32 bytes/ }, 'in development too')
})

t.test('the demo is on in development, off in production unless DEMO=true', async (t) => {
  const secrets = { SIGNALLING_API_KEY: 'k', SIGNALLING_JWT_SECRET: 's'.repeat(32) }
  t.equal(loadConfig({}).demo, true)
  t.equal(loadConfig({ DEMO: 'false' }).demo, false)
  t.equal(loadConfig({ NODE_ENV: 'production', ...secrets }).demo, false)
  t.equal(loadConfig({ NODE_ENV: 'production', DEMO: 'true', ...secrets }).demo, true)
  t.throws(() => loadConfig({ DEMO: 'yes' }), { code: 'INVALID_CONFIG', message: /DEMO must be true or false/ })
})

t.test('resume, drain, origins and metrics settings', async (t) => {
  const config = loadConfig({ RECONNECT_GRACE: '30', DRAIN_TIMEOUT: '2', ALLOWED_ORIGINS: 'https://a.example, https://b.example', METRICS_TOKEN: 'm' })
  t.match(config, { reconnectGrace: 30_000, drainTimeout: 2000, allowedOrigins: ['https://a.example', 'https://b.example'], metricsToken: 'm' })
  t.equal(loadConfig({}).reconnectGrace, 15_000)
  t.throws(() => loadConfig({ REDIS_URL: 'http://x' }), { message: /REDIS_URL must start with redis:\/\// })
  t.throws(() => loadConfig({ TURN_URLS: 'turn:x.example' }), { code: 'INVALID_CONFIG', message: /TURN_SECRET|TURN_URLS/ })
})
