// Hand-offs between two nodes' Handoffs over a real redis-server: the session, its missed frames, and the frames
// published while the hand-off was under way.
import t, { type Test } from 'tap'
import { RedisBackplane } from '../../../lib/redis-backplane.js'
import { CloseCodes } from '../../../lib/protocol.js'
import { Handoffs } from '../../../lib/relay/handoff.js'
import { requireProgram } from '../../support/programs.js'
import { startRedis } from '../../support/redis.js'
import { relayParts, socketPairs, type Parts } from './parts.js'

interface Node { parts: Parts, handoffs: Handoffs, backplane: RedisBackplane, beforeHandover?: () => void }

async function twoNodes (t: Test): Promise<[Node, Node] | undefined> {
  const redis = await startRedis(t)
  if (redis === undefined) return undefined
  const nodes: Node[] = []
  for (let i = 0; i < 2; i++) {
    const backplane = new RedisBackplane({ url: redis.url, keyPrefix: 'handoff:', nodeTtl: 2000 })
    await backplane.start()
    t.teardown(async () => { await backplane.close() })
    const parts = await relayParts({ backplane, resume: { handoffTimeout: 500 } })
    const handoffs = new Handoffs(parts.ctx, parts.departures)
    const node: Node = { parts, handoffs, backplane }
    backplane.onEvent((roomId, event) => {
      if (event.kind === 'resume-request') {
        node.beforeHandover?.()
        handoffs.onRequest(roomId, event)
      }
      else if (event.kind === 'resume-reply') handoffs.onReply(event)
      else if (event.kind === 'deliver' || event.kind === 'broadcast') handoffs.queue(roomId, event)
    })
    nodes.push(node)
  }
  return nodes as [Node, Node]
}

if (requireProgram(t, 'redis-server') !== undefined) {
  t.test('the node holding a session hands it over: its seq, the frames after the last one seen, and its place', async (t) => {
    const nodes = await twoNodes(t)
    if (nodes === undefined) return
    const [a, b] = nodes
    const { pair } = await socketPairs(t)
    const old = await pair()
    const alice = await a.parts.seat(old.server, 'alice')
    for (let i = 1; i <= 3; i++) a.parts.delivery.deliver(alice, `{"type":"message","from":"bob","data":${i}}`)
    await b.backplane.watch('r1')
    const granted = await b.handoffs.request('r1', 'alice', 1)
    t.ok(granted?.ok)
    t.equal(granted?.seq, 3)
    t.same(granted?.frames.map((f) => (JSON.parse(f) as { data: number }).data), [2, 3], 'what the client missed after seq 1')
    t.equal(await old.closed, CloseCodes.REPLACED, 'the old node let its socket go')
    t.ok(alice.detached, 'and forgot the peer')
    t.ok(a.parts.rooms.get('r1') === undefined || a.parts.rooms.get('r1')?.remote?.has('alice') === true, 'which is now elsewhere')
    b.handoffs.done(granted!.requestId)
  })

  t.test('frames for the peer published after the request are queued for the new node', async (t) => {
    const nodes = await twoNodes(t)
    if (nodes === undefined) return
    const [a, b] = nodes
    const alice = await a.parts.seat(undefined, 'alice')
    a.parts.departures.enterGrace(alice)
    await b.backplane.watch('r1')
    // published by the old node on receiving the request, so after it and before its reply on the room's channel
    a.beforeHandover = () => {
      a.backplane.publish('r1', { kind: 'broadcast', except: 'carol', frame: '{"type":"message","from":"carol","data":"late"}' }).catch(() => {})
    }
    const granted = await b.handoffs.request('r1', 'alice', 0)
    t.ok(granted?.ok)
    t.same(b.handoffs.queued(granted!.requestId), ['{"type":"message","from":"carol","data":"late"}'], 'queued once, for the new node to deliver')
    b.handoffs.done(granted!.requestId)
    t.same(b.handoffs.queued(granted!.requestId), [], 'done ends the queue')
  })

  t.test('no session to hand over: the request ends with nothing, after the timeout', async (t) => {
    const nodes = await twoNodes(t)
    if (nodes === undefined) return
    const [a, b] = nodes
    await b.backplane.watch('r1')
    t.equal(await b.handoffs.request('r1', 'nobody', 0), undefined)
    const alice = await a.parts.seat(undefined, 'alice')
    a.parts.delivery.deliver(alice, '{"type":"pong"}')
    t.equal(await b.handoffs.request('r1', 'alice', 5), undefined, 'a seq the session never reached cannot be resumed')
    t.notOk(alice.detached, 'and the session stays where it was')
  })
}
