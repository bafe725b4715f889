// The unmodified peerjs 1.5 client (its own browser bundle) in headless Chromium, through this server: data both ways
// and a media call with fake devices, on one node and across two nodes on Redis; ID-TAKEN; a wrong token refused.
import t from 'tap'
import type { Browser } from 'playwright-core'
import { startServer } from '../helper.js'
import { launchChromium } from '../browser/chromium.js'
import { startRedis } from '../support/redis.js'
import { call, exchange, openPeer, peerError, servePeerjsPage } from '../support/peerjs-page.js'

const portOf = (baseUrl: string): number => Number(new URL(baseUrl).port)

const browser = await launchChromium(t)
if (browser !== undefined) run(browser)

function run (browser: Browser): void {
  t.test('two pages open a DataConnection and exchange messages both ways, then make a media call', async (t) => {
    const server = await startServer(t, { peerjs: true })
    const pageUrl = await servePeerjsPage(t)
    const alice = await openPeer(t, browser, pageUrl, 'alice', { port: portOf(server.baseUrl), id: 'alice' })
    // bob takes the id the server hands out (GET /peerjs/peerjs/id, across origins)
    const bob = await openPeer(t, browser, pageUrl, 'bob', { port: portOf(server.baseUrl) })
    t.match(bob.id, /^[0-9a-f-]{36}$/)
    t.equal(await exchange(bob.page, 'alice', 'hello'), 'echo:hello', 'bob to alice and back')
    t.same(await alice.page.evaluate(() => (window as any).received), ['hello'])
    t.equal(await exchange(alice.page, bob.id, 'hi bob'), 'echo:hi bob', 'alice to bob and back')
    const size = await call(bob.page, 'alice')
    t.ok(size.width > 0 && size.height > 0, `bob sees alice's camera (${size.width}x${size.height})`)
    t.ok(await alice.page.waitForFunction(() => (window as any).remoteStream?.getVideoTracks().length === 1), 'alice gets bob\'s stream')
    t.same([...alice.errors, ...bob.errors], [])
  })

  t.test('a second client claiming a taken id gets ID-TAKEN (unavailable-id)', async (t) => {
    const server = await startServer(t, { peerjs: true })
    const pageUrl = await servePeerjsPage(t)
    await openPeer(t, browser, pageUrl, 'first', { port: portOf(server.baseUrl), id: 'alice' })
    t.equal(await peerError(t, browser, pageUrl, { port: portOf(server.baseUrl), id: 'alice' }), 'unavailable-id: ID "alice" is taken')
  })

  t.test('token mode: a join token as the key opens its id; a wrong token is refused', async (t) => {
    const server = await startServer(t, { peerjs: { mode: 'token' } })
    await server.createRoom({ roomId: 'call' })
    const pageUrl = await servePeerjsPage(t)
    const port = portOf(server.baseUrl)
    const alice = await server.issueToken('call', { peerId: 'alice' })
    const opened = await openPeer(t, browser, pageUrl, 'alice', { port, key: alice.token })
    t.equal(opened.id, 'alice', 'the id comes from the token')
    const bob = await server.issueToken('call', { peerId: 'bob' })
    const bobPage = await openPeer(t, browser, pageUrl, 'bob', { port, id: 'bob', token: bob.token })
    t.equal(await exchange(bobPage.page, 'alice', 'signed'), 'echo:signed')
    const forged = `${bob.token.slice(0, -4)}AAAA`
    t.match(await peerError(t, browser, pageUrl, { port, id: 'bob', key: forged }), /^server-error: Invalid token provided/)
    t.match(await peerError(t, browser, pageUrl, { port, id: 'carol', token: bob.token }), /^server-error: Invalid token provided: it is for id "bob"/)
  })

  t.test('two pages on two nodes on Redis: a DataConnection both ways and a media call', async (t) => {
    const redis = await startRedis(t)
    if (redis === undefined) return
    const options = { peerjs: true, redis: { url: redis.url, keyPrefix: 'pj:', nodeTtl: 2000 } }
    const one = await startServer(t, options)
    const two = await startServer(t, options)
    const pageUrl = await servePeerjsPage(t)
    const alice = await openPeer(t, browser, pageUrl, 'alice', { port: portOf(one.baseUrl), id: 'alice' })
    const bob = await openPeer(t, browser, pageUrl, 'bob', { port: portOf(two.baseUrl), id: 'bob' })
    t.equal(await exchange(bob.page, 'alice', 'across'), 'echo:across', 'node two to node one and back')
    t.equal(await exchange(alice.page, 'bob', 'and back'), 'echo:and back', 'node one to node two and back')
    const size = await call(alice.page, 'bob')
    t.ok(size.width > 0, 'alice sees bob\'s camera across nodes')
    t.same([...alice.errors, ...bob.errors], [])
  })
}
