// Baseline: the least a relay must do. A bare `ws` server forwarding `{type,to,data}` by peer id as `{type,from,data}`:
// no auth, no schemas, no rooms, no presence.
import { createServer } from 'node:http'
import { once } from 'node:events'
import { WebSocketServer, type WebSocket } from 'ws'
import { DEFAULT_LISTEN_BACKLOG } from '../../lib/config.js'
import type { RunningServer } from '../servers.js'

export async function startWsRelay (): Promise<RunningServer> {
  const server = createServer()
  // the same socket options as the product: no compression, 64 KiB frames
  const wss = new WebSocketServer({ server, perMessageDeflate: false, maxPayload: 64 * 1024 })
  const peers = new Map<string, WebSocket>()
  wss.on('connection', (socket, request) => {
    const id = new URLSearchParams((request.url ?? '').split('?')[1] ?? '').get('id') ?? ''
    peers.set(id, socket)
    socket.on('message', (data) => {
      let message: { type?: unknown, to?: unknown, data?: unknown }
      try {
        message = JSON.parse(data.toString())
      } catch {
        return
      }
      const target = typeof message.to === 'string' ? peers.get(message.to) : undefined
      target?.send(JSON.stringify({ type: message.type, from: id, data: message.data }))
    })
    socket.on('error', () => {})
    socket.on('close', () => { if (peers.get(id) === socket) peers.delete(id) })
  })
  // the product's backlog, as every server under test has: a burst of joins is not dropped by the kernel here either
  server.listen(0, '127.0.0.1', DEFAULT_LISTEN_BACKLOG)
  await once(server, 'listening')
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('no TCP address')
  return {
    port: address.port,
    close: async () => {
      for (const socket of wss.clients) socket.terminate()
      wss.close()
      server.close()
    }
  }
}
