import t from 'tap'
import { checkLimits, DEFAULT_MAX_BUFFERED_BYTES, DEFAULT_MESSAGE_RATE, DEFAULT_RESUME, DEFAULT_ROOM, type LimitOptions } from '../../lib/limits.js'
import { buildTestApp } from '../helper.js'

t.test('the defaults are within their own ranges', async (t) => {
  t.doesNotThrow(() => checkLimits({
    messageRate: DEFAULT_MESSAGE_RATE,
    maxBufferedBytes: DEFAULT_MAX_BUFFERED_BYTES,
    roomDefaults: DEFAULT_ROOM,
    resume: DEFAULT_RESUME,
    requestRate: { rest: { max: 600, timeWindow: 60_000 }, upgrades: false, authenticated: false }
  }))
  t.doesNotThrow(() => checkLimits({}), 'nothing set')
  t.doesNotThrow(() => checkLimits({ messageRate: false }), 'the message rate off')
})

t.test('each option out of its range is refused, naming it', async (t) => {
  const bad: Array<[LimitOptions, string]> = [
    [{ messageRate: { perSecond: 0 } }, '`messageRate.perSecond` must be an integer from 1 to 1000000, got 0'],
    [{ messageRate: { burst: 2.5 } }, '`messageRate.burst` must be an integer from 1 to 1000000, got 2.5'],
    [{ messageRate: { abuseSeconds: -1 } }, '`messageRate.abuseSeconds` must be an integer from 1 to 3600, got -1'],
    [{ requestRate: { upgrades: { max: 10, timeWindow: 10 } } }, '`requestRate.upgrades.timeWindow` must be an integer from 1000 to 86400000, got 10'],
    [{ requestRate: { authenticated: { timeWindow: 60_000 } as never } }, '`requestRate.authenticated.max` must be an integer from 1 to 10000000, got null'],
    [{ maxBufferedBytes: 1024 }, '`maxBufferedBytes` must be an integer from 65536 to 1073741824, got 1024'],
    [{ roomDefaults: { maxPeers: 1001 } }, '`roomDefaults.maxPeers` must be an integer from 2 to 1000, got 1001'],
    [{ roomDefaults: { emptyTimeout: '60' as never } }, '`roomDefaults.emptyTimeout` must be an integer from 0 to 86400, got "60"'],
    [{ resume: { grace: -1 } }, '`resume.grace` must be an integer from 0 to 3600000, got -1'],
    [{ resume: { handoffTimeout: 10 } }, '`resume.handoffTimeout` must be an integer from 100 to 60000, got 10'],
    [{ heartbeatInterval: Number.NaN }, '`heartbeatInterval` must be an integer from 0 to 3600000, got null']
  ]
  for (const [options, message] of bad) t.throws(() => checkLimits(options), { code: 'INVALID_OPTION', message: `signalling: ${message}` }, message)
})

t.test('registering the plugin with a limit out of range fails with that message', async (t) => {
  await t.rejects(buildTestApp(t, { roomDefaults: { maxPeers: 1 } }), { message: 'signalling: `roomDefaults.maxPeers` must be an integer from 2 to 1000, got 1' })
})

t.test('roomDefaults apply to rooms created without those fields, and the served document shows them', async (t) => {
  const app = await buildTestApp(t, { roomDefaults: { maxPeers: 4, emptyTimeout: 30 } })
  const room = await app.signalling.createRoom({})
  t.match(room, { maxPeers: 4, emptyTimeout: 30 })
  type Doc = { paths: Record<string, { post?: { requestBody?: { content: Record<string, { schema: { properties: Record<string, { default?: number }> } }> } } }> }
  const schema = (app.swagger() as Doc).paths['/rooms']?.post?.requestBody?.content['application/json']?.schema
  t.equal(schema?.properties.maxPeers?.default, 4)
  t.equal(schema?.properties.emptyTimeout?.default, 30)
})
