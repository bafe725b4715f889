// Baseline: PeerJS server (npm `peer`) as it ships. Clients connect to /peerjs?key=peerjs&id=..&token=.., get OPEN,
// and send {type: OFFER|ANSWER|CANDIDATE, dst, payload}, delivered with `src` set.
import { once } from 'node:events'
import { createServer } from 'node:http'
import express from 'express'
import { ExpressPeerServer } from 'peer'
import { DEFAULT_LISTEN_BACKLOG } from '../../lib/config.js'
import type { RunningServer } from '../servers.js'

export async function startPeerjs (): Promise<RunningServer> {
  // what its PeerServer() does (an Express app on an HTTP server, PeerJS mounted at the root), but listening with the
  // same backlog as the other servers: PeerServer() listens with Node's 511, and the churn's bursts would then end its
  // search at the kernel's accept queue rather than at its core
  const app = express()
  const server = createServer(app)
  // its default of 5000 concurrent clients would stop the idle soak; every other setting is its default
  app.use(ExpressPeerServer(server, { path: '/', concurrent_limit: 1_000_000 }))
  server.listen(0, '127.0.0.1', DEFAULT_LISTEN_BACKLOG)
  await once(server, 'listening')
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('no TCP address')
  return {
    port: address.port,
    close: async () => {
      server.closeAllConnections()
      server.close()
    }
  }
}
