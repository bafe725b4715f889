// The demo page in real headless Chromium against a real server: two people see and hear each other and chat.
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import type { Browser, Page } from 'playwright-core'
import { startServer } from '../helper.js'
import { artifactPath, launchChromium, watchPage } from './chromium.js'

const CLIENT_BUILD = fileURLToPath(new URL('../../dist/client/index.js', import.meta.url))
// Every wait is bounded; these are ceilings for a slow machine, not expectations.
const CONNECT_TIMEOUT = 15_000
const MEDIA_TIMEOUT = 30_000

const browser = await launchChromium(t)
if (browser !== undefined) await run(browser)

async function run (browser: Browser): Promise<void> {
  // The page imports the SDK from /client/, which the server serves from the build output.
  if (!existsSync(CLIENT_BUILD)) {
    t.fail(`${CLIENT_BUILD} is missing: run \`npm run build\` first`)
    return
  }
  const server = await startServer(t, { demo: true })

  /** A fresh browser context (its own cookies, storage and camera) with one page on the demo. */
  async function openDemo (label: string, query: string, viewport = { width: 1280, height: 800 }): Promise<{ page: Page, errors: string[], log: string[] }> {
    const context = await browser.newContext({ viewport })
    t.teardown(async () => { await context.close() })
    const page = await context.newPage()
    page.setDefaultTimeout(CONNECT_TIMEOUT)
    const watched = watchPage(page, label)
    await page.goto(`${server.baseUrl}/${query}`)
    return { page, ...watched }
  }

  async function join (page: Page, name: string): Promise<void> {
    await page.getByLabel('Your name').fill(name)
    await page.getByRole('button', { name: 'Join' }).click()
    await page.waitForSelector('#status[data-state="connected"]')
  }

  /** Waits until the remote tile plays video with real frames (videoWidth > 0). */
  async function waitForRemoteVideo (page: Page): Promise<{ width: number, height: number }> {
    const handle = await page.waitForFunction(() => {
      const video = document.querySelector<HTMLVideoElement>('.tile[data-remote] video')
      if (video === null || video.paused || video.readyState < 2 || video.videoWidth === 0) return false
      return { width: video.videoWidth, height: video.videoHeight }
    }, undefined, { timeout: MEDIA_TIMEOUT })
    return await handle.jsonValue() as { width: number, height: number }
  }

  /** Sends `text` from `from` and waits for it, with its author, in `to`'s chat log. */
  async function chat (from: Page, to: Page, text: string): Promise<string> {
    const input = from.getByRole('textbox', { name: 'Message', exact: true })
    await input.fill(text)
    await input.press('Enter')
    const received = to.locator('#chat-log .chat-message:not([data-self])', { hasText: text })
    await received.waitFor()
    return (await received.locator('.chat-author').textContent()) ?? ''
  }

  function printLogsOnFailure (t: Test, ...pages: Array<{ log: string[] }>): void {
    t.teardown(() => {
      if (t.passing()) return
      for (const { log } of pages) for (const line of log) t.comment(line)
    })
  }

  t.test('two people in one room see each other\'s video and names, and chat over the data channel', async (t) => {
    const room = 'browser-call'
    // Alice on a desktop-sized window, Bob on a phone-sized one, both from a shared `?room=` link.
    const alice = await openDemo('alice', `?room=${room}`)
    const bob = await openDemo('bob', `?room=${room}`, { width: 390, height: 844 })
    printLogsOnFailure(t, alice, bob)

    t.equal(await alice.page.getByLabel('Room name').inputValue(), room, 'the room name comes from ?room=')
    await join(alice.page, 'Alice')
    await join(bob.page, 'Bob')
    t.equal(new URL(bob.page.url()).searchParams.get('room'), room, 'the address carries the room to share')

    const [aliceSees, bobSees] = await Promise.all([waitForRemoteVideo(alice.page), waitForRemoteVideo(bob.page)])
    t.ok(aliceSees.width > 0 && aliceSees.height > 0, `Alice sees Bob's video playing (${aliceSees.width}x${aliceSees.height})`)
    t.ok(bobSees.width > 0 && bobSees.height > 0, `Bob sees Alice's video playing (${bobSees.width}x${bobSees.height})`)

    t.equal(await alice.page.locator('.tile[data-remote] .tile-name').textContent(), 'Bob', 'Alice\'s remote tile is labelled Bob')
    t.equal(await bob.page.locator('.tile[data-remote] .tile-name').textContent(), 'Alice', 'Bob\'s remote tile is labelled Alice')
    t.equal(await alice.page.locator('.tile[data-self] .tile-name').textContent(), 'Alice (you)', 'the own tile is labelled as such')
    t.equal(await alice.page.locator('.tile[data-self] video').evaluate((video: HTMLVideoElement) => video.muted), true, 'the own video is muted')

    // Chat needs the data channel: the tile says "connected" once the mesh has announced the peer.
    await alice.page.waitForSelector('.tile[data-remote][data-state="connected"]')
    await bob.page.waitForSelector('.tile[data-remote][data-state="connected"]')
    t.equal(await chat(alice.page, bob.page, 'Hello from Alice'), 'Alice', 'Bob gets Alice\'s chat message, signed Alice')
    t.equal(await chat(bob.page, alice.page, 'Hi Alice, Bob here'), 'Bob', 'Alice gets Bob\'s answer, signed Bob')

    for (const [name, { page }] of [['alice', alice], ['bob', bob]] as const) {
      const path = artifactPath(`demo-call-${name}.png`)
      await page.screenshot({ path, fullPage: true })
      t.comment(`screenshot: ${path}`)
    }

    await alice.page.getByRole('button', { name: 'Leave' }).click()
    await bob.page.locator('.tile[data-remote]').waitFor({ state: 'detached' })
    await bob.page.locator('#chat-log .chat-system', { hasText: 'Alice left' }).waitFor()
    t.pass('when Alice leaves, her tile goes away on Bob\'s page and the chat says so')
    t.equal(await alice.page.locator('#join-view').isVisible(), true, 'Alice is back on the join form')

    t.same([...alice.errors, ...bob.errors], [], 'no page errors')
  })

  t.test('a refused camera still joins without media, says so, and sees the others', async (t) => {
    const room = 'browser-no-camera'
    const carol = await openDemo('carol', `?room=${room}`)
    const dave = await openDemo('dave', `?room=${room}`, { width: 390, height: 844 })
    printLogsOnFailure(t, carol, dave)
    await dave.page.evaluate(() => {
      navigator.mediaDevices.getUserMedia = async () => { throw new DOMException('Permission denied', 'NotAllowedError') }
    })

    await join(carol.page, 'Carol')
    await join(dave.page, 'Dave')
    const info = dave.page.locator('#info')
    await info.waitFor()
    t.match(await info.textContent(), /access was denied, so you joined without them/, 'Dave is told he joined without camera and microphone')
    t.equal(await dave.page.locator('.tile[data-self]').getAttribute('data-video'), 'off', 'Dave\'s own tile shows his initial instead of video')
    t.equal(await dave.page.getByRole('button', { name: 'No camera' }).isDisabled(), true, 'the camera button is disabled')

    const daveSees = await waitForRemoteVideo(dave.page)
    t.ok(daveSees.width > 0, 'Dave still sees Carol\'s video')
    await carol.page.locator('.tile[data-remote]', { hasText: 'Dave' }).waitFor()
    t.equal(await carol.page.locator('.tile[data-remote]').getAttribute('data-video'), 'off', 'Carol sees Dave\'s initial, not a black video')

    const path = artifactPath('demo-call-no-camera.png')
    await dave.page.screenshot({ path, fullPage: true })
    t.comment(`screenshot: ${path}`)
    t.same([...carol.errors, ...dave.errors], [], 'no page errors')
  })

  t.test('a refused join shows the server\'s error and stays on the form', async (t) => {
    const eve = await openDemo('eve', '?room=browser-full')
    printLogsOnFailure(t, eve)
    await eve.page.route('**/demo/join', async (route) => {
      await route.fulfill({
        status: 503,
        contentType: 'application/json',
        body: JSON.stringify({ statusCode: 503, code: 'SERVICE_UNAVAILABLE', error: 'Service Unavailable', message: 'Service unavailable: draining' })
      })
    })
    await eve.page.getByLabel('Your name').fill('Eve')
    await eve.page.getByRole('button', { name: 'Join' }).click()
    const error = eve.page.getByRole('alert')
    await error.waitFor()
    t.match(await error.textContent(), /The server could not let you join: Service unavailable: draining/, 'the server\'s message is shown')
    t.equal(await eve.page.locator('#join-view').isVisible(), true, 'the join form stays')
    t.equal(await eve.page.locator('#status').getAttribute('data-state'), 'idle', 'the status says not connected')
    const path = artifactPath('demo-join-error.png')
    await eve.page.screenshot({ path, fullPage: true })
    t.comment(`screenshot: ${path}`)
    // the 503 itself is logged by the browser as a failed resource; nothing else may go wrong
    t.same(eve.errors.filter((line) => !line.includes('503')), [], 'no page errors')
  })
}
