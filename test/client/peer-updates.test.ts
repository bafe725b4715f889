// The SDK and the backend's messages and metadata updates: `peer-updated` keeps the roster, updateMetadata
// needs the token's claim, and a message from the backend comes from SERVER_SENDER.
import t from 'tap'
import WebSocket from 'ws'
import { startServer } from '../helper.js'
import { RequestError, SERVER_SENDER, SignallingClient, type SignallingClientEvents } from '../../client/index.js'

function next<K extends keyof SignallingClientEvents & string> (client: SignallingClient, event: K): Promise<SignallingClientEvents[K]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} within 10 s`)), 10_000)
    client.once(event, (payload) => {
      clearTimeout(timer)
      resolve(payload)
    })
  })
}

t.test('peer-updated keeps the roster; updateMetadata needs the claim; the backend speaks as SERVER_SENDER', async (t) => {
  const server = await startServer(t)
  await server.createRoom({ roomId: 'r' })
  const make = async (peerId: string, canUpdateMetadata: boolean): Promise<SignallingClient> => {
    const { token } = await server.issueToken('r', { peerId, metadata: { name: peerId }, canUpdateMetadata })
    const client = new SignallingClient({ url: server.wsUrl, token, WebSocket, requestTimeout: 500 })
    t.teardown(() => client.close())
    await client.connect()
    return client
  }
  const alice = await make('alice', false)
  const joined = next(alice, 'peer-joined')
  const bob = await make('bob', true)
  await joined

  const refused = await alice.updateMetadata({ name: 'A' }).then(() => undefined, (err: unknown) => err)
  t.ok(refused instanceof RequestError)
  t.equal((refused as RequestError).code, 'FORBIDDEN')
  const aliceTold = next(alice, 'peer-updated')
  const bobTold = next(bob, 'peer-updated')
  await bob.updateMetadata({ name: 'Bobby' })
  t.same((await aliceTold).peer.metadata, { name: 'Bobby' })
  t.equal((await bobTold).peer.peerId, 'bob', 'its own update comes back to the peer')
  t.same(alice.peers.get('bob'), { peerId: 'bob', metadata: { name: 'Bobby' } }, 'the roster holds the new metadata')
  t.notOk(bob.peers.has('bob'), 'a peer is never in its own roster')

  const message = next(alice, 'message')
  await server.app.signalling.send('r', { notice: 'call ends in 1 min' }, { to: 'alice' })
  t.same(await message, { type: 'message', from: SERVER_SENDER, data: { notice: 'call ends in 1 min' } })
  t.equal(SERVER_SENDER, '@server')
})
