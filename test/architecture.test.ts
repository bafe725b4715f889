// The layering rules of ARCHITECTURE.md, checked on the source.
import { test } from 'tap'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'

const root = new URL('..', import.meta.url).pathname

function filesUnder (dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? filesUnder(path) : path.endsWith('.ts') ? [path] : []
  })
}

const lib = filesUnder(join(root, 'lib'))
const importsOf = (path: string): string[] => [...readFileSync(path, 'utf8').matchAll(/^import .* from '([^']+)'/gm)].map((m) => m[1]!)

test('lib/ is plain TypeScript: no Fastify import but @fastify/error', async (t) => {
  for (const file of lib) {
    const fastify = importsOf(file).filter((m) => (m === 'fastify' || m.startsWith('@fastify/') || m === 'fastify-plugin') && m !== '@fastify/error')
    t.same(fastify, [], relative(root, file))
  }
})

test('the parts of the relay do not import its composition', async (t) => {
  const parts = lib.filter((file) => file.includes('/lib/relay/'))
  t.ok(parts.length >= 10, 'the parts are found')
  for (const file of parts) t.notOk(importsOf(file).includes('../relay.js'), relative(root, file))
})

test('no file in lib/ is much over 400 lines', async (t) => {
  for (const file of lib) t.ok(readFileSync(file, 'utf8').split('\n').length <= 420, relative(root, file))
})
