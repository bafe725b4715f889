// WEBHOOK_* settings: parsed into the plugin's `webhooks` option, or refused with one line naming the setting.
import t from 'tap'
import { loadConfig } from '../../lib/config.js'
import { TEST_WEBHOOK_SECRET } from './receiver.js'

const base = { WEBHOOK_SECRET: TEST_WEBHOOK_SECRET }

t.test('no WEBHOOK_URLS: no webhooks', async (t) => {
  t.equal(loadConfig({}).webhooks, undefined)
})

t.test('URLs, per-URL filters, a default filter, and times in seconds', async (t) => {
  const config = loadConfig({
    ...base,
    WEBHOOK_URLS: 'https://a.example/hook, http://b.example/in|peer.joined|peer.left',
    WEBHOOK_EVENTS: 'room.created,room.deleted',
    WEBHOOK_RETRY_FOR: '3600',
    WEBHOOK_TIMEOUT: '5',
    WEBHOOK_BACKOFF_INITIAL: '2',
    WEBHOOK_BACKOFF_MAX: '60',
    WEBHOOK_QUEUE_SIZE: '500'
  })
  t.same(config.webhooks, {
    endpoints: [{ url: 'https://a.example/hook', events: ['room.created', 'room.deleted'] }, { url: 'http://b.example/in', events: ['peer.joined', 'peer.left'] }],
    secret: TEST_WEBHOOK_SECRET,
    retryFor: 3600_000,
    timeout: 5000,
    backoff: { initial: 2000, max: 60_000 },
    queueSize: 500
  })
})

t.test('defaults: retried for 24 h, 15 s per attempt, backoff from 5 s to 1 h, 10000 waiting', async (t) => {
  t.same(loadConfig({ ...base, WEBHOOK_URLS: 'https://a.example/hook' }).webhooks, {
    endpoints: [{ url: 'https://a.example/hook' }], secret: TEST_WEBHOOK_SECRET, retryFor: 86400_000, timeout: 15_000, backoff: { initial: 5000, max: 3600_000 }, queueSize: 10_000
  })
})

t.test('bad settings throw INVALID_CONFIG naming the setting', async (t) => {
  const urls = { WEBHOOK_URLS: 'https://a.example/hook' }
  t.throws(() => loadConfig(urls), { code: 'INVALID_CONFIG', message: /WEBHOOK_URLS needs WEBHOOK_SECRET/ })
  t.throws(() => loadConfig({ ...urls, WEBHOOK_SECRET: 'secret' }), { code: 'INVALID_CONFIG', message: /^WEBHOOK_SECRET must be whsec_/ })
  t.throws(() => loadConfig({ ...urls, WEBHOOK_SECRET: `whsec_${Buffer.from('short').toString('base64')}` }), { message: /^WEBHOOK_SECRET/ }, 'too short')
  t.throws(() => loadConfig({ ...base, WEBHOOK_URLS: 'not a url' }), { message: /^WEBHOOK_URLS must be comma-separated http\(s\) URLs/ })
  t.throws(() => loadConfig({ ...base, WEBHOOK_URLS: 'ftp://a.example' }), { message: /^WEBHOOK_URLS/ })
  t.throws(() => loadConfig({ ...base, WEBHOOK_URLS: 'https://a.example,https://a.example' }), { message: /^WEBHOOK_URLS lists a URL twice/ })
  t.throws(() => loadConfig({ ...base, WEBHOOK_URLS: 'https://a.example|peer.nope' }), { message: /^WEBHOOK_URLS has an unknown event type "peer.nope"/ })
  t.throws(() => loadConfig({ ...base, ...urls, WEBHOOK_EVENTS: 'room.gone' }), { message: /^WEBHOOK_EVENTS has an unknown event type/ })
  t.throws(() => loadConfig({ ...base, ...urls, WEBHOOK_TIMEOUT: '0' }), { message: 'WEBHOOK_TIMEOUT must be an integer from 1 to 300, got "0"' })
  t.throws(() => loadConfig({ ...base, ...urls, WEBHOOK_RETRY_FOR: '1h' }), { message: /^WEBHOOK_RETRY_FOR must be an integer/ })
  t.throws(() => loadConfig({ ...base, ...urls, WEBHOOK_BACKOFF_INITIAL: '10', WEBHOOK_BACKOFF_MAX: '5' }), { message: /^WEBHOOK_BACKOFF_MAX must be at least WEBHOOK_BACKOFF_INITIAL/ })
  t.throws(() => loadConfig({ ...base, ...urls, WEBHOOK_QUEUE_SIZE: '0' }), { message: /^WEBHOOK_QUEUE_SIZE/ })
})
