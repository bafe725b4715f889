import t from 'tap'
import { loadConfig } from '../../lib/config.js'
import { checkLimits } from '../../lib/limits.js'

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
  t.match(config, { resume: { grace: 30_000 }, drainTimeout: 2000, allowedOrigins: ['https://a.example', 'https://b.example'], metricsToken: 'm' })
  t.equal(loadConfig({}).resume.grace, 15_000)
  t.throws(() => loadConfig({ REDIS_URL: 'http://x' }), { message: /REDIS_URL must start with redis:\/\// })
  t.throws(() => loadConfig({ TURN_URLS: 'turn:x.example' }), { code: 'INVALID_CONFIG', message: /TURN_SECRET|TURN_URLS/ })
})

t.test('limits and defaults: the plugin\'s defaults when unset', async (t) => {
  const config = loadConfig({})
  t.equal(config.trustProxy, undefined, 'no proxy trusted')
  t.same(config.messageRate, { perSecond: 50, burst: 200, abuseSeconds: 3 })
  t.same(config.requestRate, { rest: { max: 600, timeWindow: 60_000 }, upgrades: { max: 120, timeWindow: 60_000 }, authenticated: false })
  t.equal(config.maxBufferedBytes, 1024 * 1024)
  t.same(config.roomDefaults, { maxPeers: 50, emptyTimeout: 300 })
  t.same(config.resume, { grace: 15_000, maxMessages: 1000, maxBytes: 1024 * 1024, windowMessages: 8, windowBytes: 16 * 1024, handoffTimeout: 2000 })
})

t.test('limits and defaults from the environment, in seconds where the setting says so', async (t) => {
  const config = loadConfig({
    PEER_MESSAGE_RATE: '20',
    PEER_MESSAGE_BURST: '40',
    PEER_ABUSE_SECONDS: '5',
    RATE_LIMIT_WINDOW: '10',
    REST_RATE_LIMIT: '100',
    UPGRADE_RATE_LIMIT: '30',
    API_KEY_RATE_LIMIT: '5000',
    MAX_BUFFERED_BYTES: '262144',
    ROOM_MAX_PEERS: '8',
    ROOM_EMPTY_TIMEOUT: '0',
    RECONNECT_GRACE: '0',
    RESUME_MAX_MESSAGES: '50',
    RESUME_MAX_BYTES: '65536',
    RESUME_WINDOW_MESSAGES: '0',
    RESUME_WINDOW_BYTES: '4096',
    RESUME_HANDOFF_TIMEOUT: '3'
  })
  t.same(config.messageRate, { perSecond: 20, burst: 40, abuseSeconds: 5 })
  t.same(config.requestRate, { rest: { max: 100, timeWindow: 10_000 }, upgrades: { max: 30, timeWindow: 10_000 }, authenticated: { max: 5000, timeWindow: 10_000 } })
  t.equal(config.maxBufferedBytes, 262_144)
  t.same(config.roomDefaults, { maxPeers: 8, emptyTimeout: 0 })
  t.same(config.resume, { grace: 0, maxMessages: 50, maxBytes: 65_536, windowMessages: 0, windowBytes: 4096, handoffTimeout: 3000 })
})

t.test('0 turns the message rate and the request rates off', async (t) => {
  const config = loadConfig({ PEER_MESSAGE_RATE: '0', REST_RATE_LIMIT: '0', UPGRADE_RATE_LIMIT: '0', API_KEY_RATE_LIMIT: '0' })
  t.equal(config.messageRate, false)
  t.same(config.requestRate, { rest: false, upgrades: false, authenticated: false })
})

t.test('TRUST_PROXY takes true, a hop count, or addresses and CIDRs', async (t) => {
  t.equal(loadConfig({ TRUST_PROXY: 'true' }).trustProxy, true)
  t.equal(loadConfig({ TRUST_PROXY: 'false' }).trustProxy, undefined)
  t.equal(loadConfig({ TRUST_PROXY: '' }).trustProxy, undefined)
  t.equal(loadConfig({ TRUST_PROXY: '2' }).trustProxy, 2)
  t.same(loadConfig({ TRUST_PROXY: '10.0.0.5, 10.1.0.0/16,::1, fd00::/8,192.168.0.0/255.255.0.0,loopback' }).trustProxy,
    ['10.0.0.5', '10.1.0.0/16', '::1', 'fd00::/8', '192.168.0.0/255.255.0.0', 'loopback'])
  const bad: Array<[string, RegExp]> = [
    ['yes', /TRUST_PROXY must be true, a hop count, or comma-separated addresses\/CIDRs, got "yes"/],
    ['10.0.0.0/33', /got "10.0.0.0\/33"/],
    ['10.0.0.1, proxy.example.com', /got "proxy.example.com"/],
    ['0', /TRUST_PROXY as a hop count must be from 1 to 100, got "0"/],
    ['101', /hop count must be from 1 to 100/]
  ]
  for (const [value, message] of bad) t.throws(() => loadConfig({ TRUST_PROXY: value }), { code: 'INVALID_CONFIG', message }, value)
})

t.test('a malformed or out-of-range limit stops startup with one line naming the setting and its range', async (t) => {
  const bad: Array<[string, string, string]> = [
    ['PEER_MESSAGE_RATE', '-1', 'PEER_MESSAGE_RATE must be an integer from 0 to 1000000, got "-1"'],
    ['PEER_MESSAGE_BURST', '0', 'PEER_MESSAGE_BURST must be an integer from 1 to 1000000, got "0"'],
    ['PEER_ABUSE_SECONDS', '1.5', 'PEER_ABUSE_SECONDS must be an integer from 1 to 3600, got "1.5"'],
    ['RATE_LIMIT_WINDOW', '0', 'RATE_LIMIT_WINDOW must be an integer from 1 to 86400, got "0"'],
    ['REST_RATE_LIMIT', 'lots', 'REST_RATE_LIMIT must be an integer from 0 to 10000000, got "lots"'],
    ['UPGRADE_RATE_LIMIT', '1e3', 'UPGRADE_RATE_LIMIT must be an integer from 0 to 10000000, got "1e3"'],
    ['API_KEY_RATE_LIMIT', '-5', 'API_KEY_RATE_LIMIT must be an integer from 0 to 10000000, got "-5"'],
    ['MAX_BUFFERED_BYTES', '1000', 'MAX_BUFFERED_BYTES must be an integer from 65536 to 1073741824, got "1000"'],
    ['ROOM_MAX_PEERS', '1', 'ROOM_MAX_PEERS must be an integer from 2 to 1000, got "1"'],
    ['ROOM_EMPTY_TIMEOUT', '86401', 'ROOM_EMPTY_TIMEOUT must be an integer from 0 to 86400, got "86401"'],
    ['RECONNECT_GRACE', '3601', 'RECONNECT_GRACE must be an integer from 0 to 3600, got "3601"'],
    ['RESUME_MAX_MESSAGES', '0', 'RESUME_MAX_MESSAGES must be an integer from 1 to 1000000, got "0"'],
    ['RESUME_MAX_BYTES', '10', 'RESUME_MAX_BYTES must be an integer from 1024 to 1073741824, got "10"'],
    ['RESUME_WINDOW_MESSAGES', 'eight', 'RESUME_WINDOW_MESSAGES must be an integer from 0 to 10000, got "eight"'],
    ['RESUME_WINDOW_BYTES', '-1', 'RESUME_WINDOW_BYTES must be an integer from 0 to 67108864, got "-1"'],
    ['RESUME_HANDOFF_TIMEOUT', '61', 'RESUME_HANDOFF_TIMEOUT must be an integer from 1 to 60, got "61"']
  ]
  for (const [name, value, message] of bad) t.throws(() => loadConfig({ [name]: value }), { code: 'INVALID_CONFIG', message }, name)
})

t.test('every value the environment accepts, the plugin accepts: the extremes of each range', async (t) => {
  const highest = loadConfig({
    PEER_MESSAGE_RATE: '1000000', PEER_MESSAGE_BURST: '1000000', PEER_ABUSE_SECONDS: '3600', RATE_LIMIT_WINDOW: '86400',
    REST_RATE_LIMIT: '10000000', UPGRADE_RATE_LIMIT: '10000000', API_KEY_RATE_LIMIT: '10000000', MAX_BUFFERED_BYTES: '1073741824',
    ROOM_MAX_PEERS: '1000', ROOM_EMPTY_TIMEOUT: '86400', RECONNECT_GRACE: '3600', RESUME_MAX_MESSAGES: '1000000',
    RESUME_MAX_BYTES: '1073741824', RESUME_WINDOW_MESSAGES: '10000', RESUME_WINDOW_BYTES: '67108864', RESUME_HANDOFF_TIMEOUT: '60',
    HEARTBEAT_INTERVAL: '3600', DRAIN_TIMEOUT: '300'
  })
  const lowest = loadConfig({
    PEER_MESSAGE_RATE: '1', PEER_MESSAGE_BURST: '1', PEER_ABUSE_SECONDS: '1', RATE_LIMIT_WINDOW: '1', REST_RATE_LIMIT: '1',
    UPGRADE_RATE_LIMIT: '1', API_KEY_RATE_LIMIT: '1', MAX_BUFFERED_BYTES: '65536', ROOM_MAX_PEERS: '2', ROOM_EMPTY_TIMEOUT: '0',
    RECONNECT_GRACE: '0', RESUME_MAX_MESSAGES: '1', RESUME_MAX_BYTES: '1024', RESUME_WINDOW_MESSAGES: '0', RESUME_WINDOW_BYTES: '0',
    RESUME_HANDOFF_TIMEOUT: '1', HEARTBEAT_INTERVAL: '0', DRAIN_TIMEOUT: '0'
  })
  for (const config of [highest, lowest]) t.doesNotThrow(() => checkLimits(config))
})

t.test('PEERJS_*: the PeerJS endpoint is off unless PEERJS_MODE is open or token; bad values name the setting', async (t) => {
  t.equal(loadConfig({}).peerjs, undefined)
  t.equal(loadConfig({ PEERJS_MODE: 'off', PEERJS_KEY: 'k' }).peerjs, undefined)
  t.same(loadConfig({ PEERJS_MODE: 'open' }).peerjs, { mode: 'open', path: '/peerjs', key: 'peerjs', rooms: 'create', discovery: false })
  t.same(loadConfig({ PEERJS_MODE: 'token', PEERJS_PATH: '/rtc/peer', PEERJS_KEY: 'lobby', PEERJS_ROOMS: 'existing', PEERJS_DISCOVERY: 'true' }).peerjs,
    { mode: 'token', path: '/rtc/peer', key: 'lobby', rooms: 'existing', discovery: true })
  t.throws(() => loadConfig({ PEERJS_MODE: 'on' }), { code: 'INVALID_CONFIG', message: 'PEERJS_MODE must be off, open or token, got "on"' })
  t.throws(() => loadConfig({ PEERJS_PATH: '/' }), { code: 'INVALID_CONFIG', message: /^PEERJS_PATH must be a path/ })
  t.throws(() => loadConfig({ PEERJS_PATH: '/peerjs/' }), { code: 'INVALID_CONFIG', message: /^PEERJS_PATH/ })
  t.throws(() => loadConfig({ PEERJS_KEY: 'a key' }), { code: 'INVALID_CONFIG', message: /^PEERJS_KEY names a room/ })
  t.throws(() => loadConfig({ PEERJS_ROOMS: 'any' }), { code: 'INVALID_CONFIG', message: 'PEERJS_ROOMS must be create or existing, got "any"' })
  t.throws(() => loadConfig({ PEERJS_DISCOVERY: 'yes' }), { code: 'INVALID_CONFIG', message: 'PEERJS_DISCOVERY must be true or false, got "yes"' })
})

t.test('Y_WEBRTC_*: the y-webrtc endpoint is off unless Y_WEBRTC_MODE is open or token; bad values name the setting', async (t) => {
  t.equal(loadConfig({}).yWebrtc, undefined)
  t.equal(loadConfig({ Y_WEBRTC_MODE: 'off', Y_WEBRTC_PATH: '/collab' }).yWebrtc, undefined)
  t.same(loadConfig({ Y_WEBRTC_MODE: 'open' }).yWebrtc, { mode: 'open', path: '/yjs', rooms: 'create' })
  t.same(loadConfig({ Y_WEBRTC_MODE: 'token', Y_WEBRTC_PATH: '/collab/signal', Y_WEBRTC_ROOMS: 'existing' }).yWebrtc,
    { mode: 'token', path: '/collab/signal', rooms: 'existing' })
  t.throws(() => loadConfig({ Y_WEBRTC_MODE: 'yes' }), { code: 'INVALID_CONFIG', message: 'Y_WEBRTC_MODE must be off, open or token, got "yes"' })
  t.throws(() => loadConfig({ Y_WEBRTC_PATH: '/' }), { code: 'INVALID_CONFIG', message: /^Y_WEBRTC_PATH must be a path/ })
  t.throws(() => loadConfig({ Y_WEBRTC_PATH: 'yjs' }), { code: 'INVALID_CONFIG', message: /^Y_WEBRTC_PATH must be a path/ })
  t.throws(() => loadConfig({ Y_WEBRTC_PATH: '/yjs/' }), { code: 'INVALID_CONFIG', message: /^Y_WEBRTC_PATH/ })
  t.throws(() => loadConfig({ Y_WEBRTC_ROOMS: 'some' }), { code: 'INVALID_CONFIG', message: 'Y_WEBRTC_ROOMS must be create or existing, got "some"' })
  t.throws(() => loadConfig({ Y_WEBRTC_MODE: 'open', Y_WEBRTC_PATH: '/ws' }), { code: 'INVALID_CONFIG', message: /^Y_WEBRTC_PATH must differ/ })
  t.throws(() => loadConfig({ Y_WEBRTC_MODE: 'open', Y_WEBRTC_PATH: '/peerjs/peerjs', PEERJS_MODE: 'open' }), { code: 'INVALID_CONFIG', message: /^Y_WEBRTC_PATH must differ/ })
})
