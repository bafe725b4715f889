// Child process generating load on one server, driven step by step by the orchestrator over IPC.
import { announceReady } from './child-processes.js'
import { HttpPool } from './clients/http-client.js'
import { serveRpc } from './ipc-rpc.js'
import { BENCH_API_KEY } from './servers.js'
import { IdleSoak, type SoakParams } from './workloads/idle-soak.js'
import { JoinChurn, type ChurnSetup, type ChurnStep } from './workloads/join-churn.js'
import { runBurst, type BurstParams } from './workloads/negotiation-burst.js'
import { RelayFlows, type RelaySetup, type RelayStep } from './workloads/relay-flows.js'
import { runRestRate, type RestParams } from './workloads/rest-rate.js'

/** Sets of relay flows by name (`default` unless a call names one), so that one generator can alternate between them. */
const relays = new Map<string, RelayFlows>()
const relayNamed = (params: unknown): RelayFlows => {
  const name = (params as { name?: string }).name ?? 'default'
  const flows = relays.get(name)
  if (flows === undefined) throw new Error(`no relay flows named ${name}`)
  return flows
}
const soak = new IdleSoak()
const churn = new JoinChurn()

serveRpc({
  relaySetup: async (params) => {
    const name = (params as { name?: string }).name ?? 'default'
    relays.get(name)?.close()
    const relay = await RelayFlows.setup(params as RelaySetup)
    relays.set(name, relay)
    return { flows: relay.flowCount, joinSeconds: relay.joinSeconds, bytesPerMessage: relay.bytesPerMessage }
  },
  relayStep: async (params) => await relayNamed(params).step(params as RelayStep),
  burst: async (params) => await runBurst(params as BurstParams),
  soakJoin: async (params) => await soak.join(params as SoakParams),
  soakPrepare: async (params) => await soak.prepare(params as SoakParams),
  soakConnect: async (params) => await soak.connect(params as SoakParams),
  soakCheck: () => soak.check(),
  churnSetup: async (params) => await churn.setup(params as ChurnSetup),
  churnStep: async (params) => await churn.step(params as ChurnStep),
  createRoom: async (params) => {
    const { port, roomId } = params as { port: number, roomId: string }
    const pool = await HttpPool.open(port, 1)
    const response = await pool.request('POST', '/rooms', { Authorization: `Bearer ${BENCH_API_KEY}` }, { roomId, maxPeers: 1000 })
    pool.close()
    if (response.status !== 201) throw new Error(`POST /rooms: ${response.status} ${response.body}`)
    return {}
  },
  rest: async (params) => await runRestRate(params as RestParams),
  exit: () => {
    for (const relay of relays.values()) relay.close()
    soak.close()
    churn.close()
    setImmediate(() => process.exit(0))
  }
})

announceReady({ pid: process.pid })
