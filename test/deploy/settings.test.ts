// The settings an operator reads about and writes are the ones the server reads: README, compose.yaml and lib/config.ts.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { parse } from 'yaml'
import { loadConfig } from '../../lib/config.js'

const root = new URL('../../', import.meta.url)

/** Every environment variable `loadConfig` reads, whatever the values (Redis, TLS and webhooks open more branches). */
function settingsRead (): Set<string> {
  const read = new Set<string>()
  const recording = (values: Record<string, string>) => new Proxy(values, {
    get (target, name) {
      if (typeof name === 'string') read.add(name)
      return target[name as string]
    }
  })
  loadConfig(recording({}))
  loadConfig(recording({ REDIS_URL: 'redis://127.0.0.1:6379', TLS_CERT: 'c', TLS_KEY: 'k', NODE_ENV: 'production', SIGNALLING_API_KEY: 'k', SIGNALLING_JWT_SECRET: 's'.repeat(32) }))
  loadConfig(recording({ WEBHOOK_URLS: 'https://backend.example.test/hooks', WEBHOOK_SECRET: `whsec_${Buffer.alloc(32, 1).toString('base64')}` }))
  return read
}

/** The names in the first column of the README's settings table. */
function documented (): Set<string> {
  const readme = readFileSync(new URL('README.md', root), 'utf8')
  const table = readme.slice(readme.indexOf('## Settings (standalone server)'), readme.indexOf('## REST API'))
  const names = new Set<string>()
  for (const line of table.split('\n')) {
    const first = /^\| ([^|]+) \|/.exec(line)?.[1] ?? ''
    for (const match of first.matchAll(/`([A-Z_]+)`/g)) names.add(match[1]!)
  }
  return names
}

t.test('every setting the server reads is in the README\'s settings table, and nothing else is', async (t) => {
  const read = settingsRead()
  t.ok(read.size > 30, `${read.size} settings read`)
  t.same([...read].filter((name) => !documented().has(name)).sort(), [], 'undocumented settings')
  t.same([...documented()].filter((name) => !read.has(name)).sort(), [], 'documented settings the server does not read')
})

t.test('deploy/compose.yaml sets only settings the server reads', async (t) => {
  const compose = parse(readFileSync(new URL('deploy/compose.yaml', root), 'utf8'), { merge: true }) as {
    services: Record<string, { environment?: Record<string, string>, build?: unknown }>
  }
  const read = settingsRead()
  const nodes = Object.entries(compose.services).filter(([, service]) => service.build !== undefined)
  t.same(nodes.map(([name]) => name), ['node1', 'node2'], 'two nodes built from the Dockerfile')
  for (const [name, service] of nodes) {
    const unknown = Object.keys(service.environment ?? {}).filter((setting) => !read.has(setting))
    t.same(unknown, [], `${name}: no setting the server ignores`)
    t.ok(service.environment?.TRUST_PROXY, `${name}: TRUST_PROXY is set behind the proxy`)
  }
})
