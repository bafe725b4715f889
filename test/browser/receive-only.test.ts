// A peer with nothing to send (no camera, no data channel) joins a room where another peer sends video, in
// real headless Chromium with the SDK the server serves: it offers to receive, and the video plays.
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import type { Page } from 'playwright-core'
import { startServer } from '../helper.js'
import { launchChromium, watchPage } from './chromium.js'

const CLIENT_BUILD = fileURLToPath(new URL('../../dist/client/index.js', import.meta.url))
// A ceiling for a slow machine, not an expectation.
const TIMEOUT = 60_000

/** Joins in `page` with the served SDK; `camera` sends the fake camera, else the mesh has nothing to send. */
async function join (page: Page, url: string, token: string, camera: boolean): Promise<void> {
  await page.evaluate(async ({ url, token, camera }) => {
    // the browser's own module, served by the demo routes; the types are those of the source it is built from
    const served = '/client/index.js'
    const { SignallingClient, Mesh } = await import(served) as typeof import('../../client/index.js')
    const streams = camera ? [await navigator.mediaDevices.getUserMedia({ video: true, audio: false })] : []
    const client = new SignallingClient({ url, token })
    const mesh = new Mesh(client, { dataChannel: false, streams })
    const video = document.createElement('video')
    video.muted = true
    video.autoplay = true
    document.body.append(video)
    const state = { tracks: [] as string[], peers: [] as string[] }
    Object.assign(window, { state, video })
    mesh.on('peer', ({ peerId }) => state.peers.push(peerId))
    mesh.on('track', ({ track, streams }) => {
      state.tracks.push(track.kind)
      if (track.kind === 'video') video.srcObject = streams[0] ?? new MediaStream([track])
    })
    await client.connect()
  }, { url, token, camera })
}

const browser = await launchChromium(t)
if (browser !== undefined) {
  t.test('a receive-only newcomer offers to receive and gets the other peer\'s video', async (t) => {
    if (!existsSync(CLIENT_BUILD)) {
      t.fail(`${CLIENT_BUILD} is missing: run \`npm run build\` first`)
      return
    }
    const server = await startServer(t, { demo: true })
    await server.createRoom({ roomId: 'watch' })
    const context = await browser.newContext()
    t.teardown(async () => { await context.close() })
    const pages: Page[] = []
    const errors: string[] = []
    for (const label of ['sender', 'viewer']) {
      const page = await context.newPage()
      page.setDefaultTimeout(TIMEOUT)
      errors.push(...watchPage(page, label).errors)
      // any page of the server's origin, so that the SDK under /client/ can be imported
      await page.goto(`${server.baseUrl}/health`)
      pages.push(page)
    }
    const [sender, viewer] = pages as [Page, Page]
    await join(sender, server.wsUrl, (await server.issueToken('watch', { peerId: 'sender' })).token, true)
    await join(viewer, server.wsUrl, (await server.issueToken('watch', { peerId: 'viewer' })).token, false)
    await viewer.waitForFunction(() => (window as unknown as { video: HTMLVideoElement }).video.videoWidth > 0, undefined, { timeout: TIMEOUT })
    const state = await viewer.evaluate(() => (window as unknown as { state: { tracks: string[], peers: string[] } }).state)
    const width = await viewer.evaluate(() => (window as unknown as { video: HTMLVideoElement }).video.videoWidth)
    t.comment(`the viewer plays the sender's video at ${width} px wide`)
    t.same(state.peers, ['sender'], 'the viewer is connected to the sender')
    t.same(state.tracks, ['video'], 'and receives its video track')
    t.same(errors, [], 'no page errors')
  })
}
