// The Redis settings: one server, a cluster or Sentinel; a bad value stops startup with one line naming the setting.
import t from 'tap'
import { loadConfig } from '../../lib/config.js'
import { RedisBackplane } from '../../lib/redis-backplane.js'

t.test('REDIS_URL, REDIS_CLUSTER_NODES or REDIS_SENTINELS with REDIS_SENTINEL_NAME', async (t) => {
  t.match(loadConfig({ REDIS_URL: 'redis://127.0.0.1:6380' }).redis, { url: 'redis://127.0.0.1:6380', keyPrefix: 'signalling:', nodeTtl: 10_000 })
  t.same(loadConfig({ REDIS_CLUSTER_NODES: '10.0.0.1:7000, 10.0.0.2:7000', REDIS_PASSWORD: 'pw' }).redis?.cluster, { nodes: ['10.0.0.1:7000', '10.0.0.2:7000'], password: 'pw' })
  t.same(loadConfig({ REDIS_SENTINELS: 's1:26379,s2:26379', REDIS_SENTINEL_NAME: 'mymaster' }).redis?.sentinel, { sentinels: ['s1:26379', 's2:26379'], name: 'mymaster', password: undefined })
  t.equal(loadConfig({}).redis, undefined)
})

t.test('a bad Redis setting names itself', async (t) => {
  const invalid = { code: 'INVALID_CONFIG' }
  t.throws(() => loadConfig({ REDIS_CLUSTER_NODES: '10.0.0.1' }), { ...invalid, message: 'REDIS_CLUSTER_NODES must be a comma-separated list of host:port, got "10.0.0.1"' })
  t.throws(() => loadConfig({ REDIS_CLUSTER_NODES: 'a:99999' }), { ...invalid, message: /^REDIS_CLUSTER_NODES must be/ })
  t.throws(() => loadConfig({ REDIS_SENTINELS: 's1:x' }), { ...invalid, message: /^REDIS_SENTINELS must be/ })
  t.throws(() => loadConfig({ REDIS_SENTINELS: 's1:26379' }), { ...invalid, message: /^REDIS_SENTINEL_NAME must name the master/ })
  t.throws(() => loadConfig({ REDIS_SENTINEL_NAME: 'm' }), { ...invalid, message: /^REDIS_SENTINEL_NAME is set but REDIS_SENTINELS is empty/ })
  t.throws(() => loadConfig({ REDIS_URL: 'redis://x', REDIS_CLUSTER_NODES: 'a:1' }), { ...invalid, message: 'set only one of REDIS_URL, REDIS_CLUSTER_NODES and REDIS_SENTINELS, got REDIS_URL and REDIS_CLUSTER_NODES' })
})

t.test('the plugin\'s redis option: exactly one kind of Redis, well formed', async (t) => {
  t.throws(() => new RedisBackplane({}), { message: 'redis: give exactly one of url, cluster or sentinel' })
  t.throws(() => new RedisBackplane({ url: 'redis://x', cluster: { nodes: ['a:1'] } }), { message: /exactly one/ })
  t.throws(() => new RedisBackplane({ cluster: { nodes: [] } }), { message: /redis.cluster.nodes must list/ })
  t.throws(() => new RedisBackplane({ cluster: { nodes: ['nope'] } }), { message: 'redis.cluster.nodes must be a list of host:port, got "nope"' })
  t.throws(() => new RedisBackplane({ sentinel: { sentinels: ['s:1'], name: '' } }), { message: /redis.sentinel.name/ })
  t.throws(() => new RedisBackplane({ cluster: { nodes: ['a:1'] }, keyPrefix: '{app}:' }), { message: /keyPrefix must not hold \{ or \}/ })
})
