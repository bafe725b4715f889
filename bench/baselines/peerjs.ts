// Baseline: PeerJS server (npm `peer`) as it ships. Clients connect to /peerjs?key=peerjs&id=..&token=.., get OPEN,
// and send {type: OFFER|ANSWER|CANDIDATE, dst, payload}, delivered with `src` set.
import { PeerServer } from 'peer'
import type { Server } from 'node:http'
import type { RunningServer } from '../servers.js'

export async function startPeerjs (): Promise<RunningServer> {
  const server = await new Promise<Server>((resolve) => {
    PeerServer({
      host: '127.0.0.1',
      port: 0,
      path: '/',
      // its default of 5000 concurrent clients would stop the idle soak; every other setting is its default
      concurrent_limit: 1_000_000
    }, (listening) => resolve(listening as Server))
  })
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
