// The demo page's handling of the server's `error` messages, in real headless Chromium against a real
// server: a routine PEER_NOT_FOUND goes to the console only, other errors still show the red banner.
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import type { WebSocketRoute } from 'playwright-core'
import { startServer } from '../helper.js'
import { launchChromium, watchPage } from '../browser/chromium.js'

const CLIENT_BUILD = fileURLToPath(new URL('../../dist/client/index.js', import.meta.url))
// A ceiling for a slow machine, not an expectation.
const TIMEOUT = 30_000

const browser = await launchChromium(t)
if (browser !== undefined) {
  t.test('PEER_NOT_FOUND is logged to the console, not shown; other server errors are shown', async (t) => {
    // The page imports the SDK from /client/, which the server serves from the build output.
    if (!existsSync(CLIENT_BUILD)) {
      t.fail(`${CLIENT_BUILD} is missing: run \`npm run build\` first`)
      return
    }
    const server = await startServer(t, { demo: true })
    const context = await browser.newContext()
    t.teardown(async () => { await context.close() })
    const page = await context.newPage()
    page.setDefaultTimeout(TIMEOUT)
    const { errors, log } = watchPage(page, 'alice')
    t.teardown(() => { if (!t.passing()) for (const line of log) t.comment(line) })

    // The page's own WebSocket to the server, through Playwright, so that the test can send on its behalf.
    let toServer: WebSocketRoute | undefined
    await page.routeWebSocket(/\/ws\?/, (ws) => { toServer = ws.connectToServer() })

    await page.goto(`${server.baseUrl}/?room=demo-errors`)
    await page.getByLabel('Your name').fill('Alice')
    await page.getByRole('button', { name: 'Join' }).click()
    await page.waitForSelector('#status[data-state="connected"]')
    if (toServer === undefined) throw new Error('the page\'s WebSocket was not routed')

    // Every text the error banner is given, however briefly.
    await page.evaluate(() => {
      const shown: string[] = []
      Object.assign(window, { shownErrors: shown })
      new MutationObserver((records) => {
        for (const record of records) for (const node of record.addedNodes) shown.push(node.textContent ?? '')
      }).observe(document.querySelector('#error .notice-text') as Node, { childList: true, characterData: true, subtree: true })
    })

    // A candidate for a peer that has just left, as the mesh sends while it learns of the departure:
    // the real server answers PEER_NOT_FOUND. Then a message of an unknown type, answered UNKNOWN_TYPE.
    const logged = page.waitForEvent('console', (message) => message.text().includes('PEER_NOT_FOUND'))
    toServer.send(JSON.stringify({ type: 'candidate', to: 'gone', data: { candidate: '' } }))
    toServer.send(JSON.stringify({ type: 'no-such-type' }))
    await page.locator('#error').waitFor({ state: 'visible' })

    t.match((await logged).text(), /gone.*\(PEER_NOT_FOUND\)/, 'PEER_NOT_FOUND is in the console')
    const shown = await page.evaluate(() => (window as unknown as { shownErrors: string[] }).shownErrors)
    t.equal(shown.length, 1, `the banner showed one error: ${JSON.stringify(shown)}`)
    t.match(shown[0], /UNKNOWN_TYPE/, 'the unknown type is shown')
    t.equal(await page.locator('#status').getAttribute('data-state'), 'connected', 'still in the call')
    t.same(errors, [], 'no page errors')
  })
}
