// Baseline for the REST routes: a bare Fastify app with one JSON route.
import Fastify from 'fastify'
import type { RunningServer } from '../servers.js'

export async function startFastifyHello (): Promise<RunningServer> {
  const app = Fastify({ logger: false })
  app.get('/hello', async () => ({ hello: 'world' }))
  await app.listen({ host: '127.0.0.1', port: 0 })
  const address = app.server.address()
  if (address === null || typeof address === 'string') throw new Error('no TCP address')
  return { port: address.port, close: async () => { await app.close() } }
}
