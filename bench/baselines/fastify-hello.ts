// Baseline for the REST routes: a bare Fastify app with a JSON GET route and the least a token route must do.
import Fastify from 'fastify'
import type { RunningServer } from '../servers.js'

// As long as the product's reply to POST /rooms/{id}/tokens with body {}: a join token for a random 32-hex peer id
// and no metadata is 252 characters, and the whole reply 363 bytes
const JOIN_TOKEN = ['h'.repeat(36), 'p'.repeat(171), 's'.repeat(43)].join('.')
const PEER_ID = '0123456789abcdef0123456789abcdef'
const EXPIRES_AT = '2026-01-01T01:00:00.000Z'

export async function startFastifyHello (): Promise<RunningServer> {
  const app = Fastify({ logger: false })
  app.get('/hello', async () => ({ hello: 'world' }))
  // the ceiling of any token route: Fastify's default JSON body parser in, a token-sized JSON object out with 201;
  // no auth, no schema (so no validation, and serialisation by JSON.stringify), no room lookup, no signing
  app.post('/echo-token', async (_request, reply) => {
    reply.code(201)
    return { token: JOIN_TOKEN, peerId: PEER_ID, roomId: 'rest', expiresAt: EXPIRES_AT }
  })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const address = app.server.address()
  if (address === null || typeof address === 'string') throw new Error('no TCP address')
  return { port: address.port, close: async () => { await app.close() } }
}
