// A page that loads the peerjs package's own browser bundle, served from an origin of its own (so that the client's
// `GET /id` crosses origins as on a real site), and helpers that drive `window.peerjs.Peer` in it.
import { readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { createRequire } from 'node:module'
import type { AddressInfo } from 'node:net'
import type { Browser, Page } from 'playwright-core'
import type { Test } from 'tap'
import { watchPage } from '../browser/chromium.js'

const BUNDLE = createRequire(import.meta.url).resolve('peerjs/dist/peerjs.min.js')

const PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>peerjs</title></head>
<body><video id="remote" autoplay muted playsinline></video><script src="/peerjs.min.js"></script></body></html>`

/** Serves the page and the bundle on 127.0.0.1; closed in teardown. Returns the page's URL. */
export async function servePeerjsPage (t: Test): Promise<string> {
  const bundle = readFileSync(BUNDLE)
  const server = createServer((request, response) => {
    if (request.url === '/peerjs.min.js') {
      response.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle)
    } else {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE)
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => { await new Promise((resolve) => server.close(resolve)) })
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
}

export interface PeerOptions { port: number, id?: string, key?: string, token?: string }

/** A fresh context and page with a Peer on the server at `port`; resolves with the id once the Peer is open, or rejects with its error. */
export async function openPeer (t: Test, browser: Browser, pageUrl: string, label: string, options: PeerOptions): Promise<{ page: Page, id: string, errors: string[] }> {
  const context = await browser.newContext()
  t.teardown(async () => { await context.close() })
  const page = await context.newPage()
  page.setDefaultTimeout(30_000)
  const { errors } = watchPage(page, label)
  await page.goto(pageUrl)
  const id = await page.evaluate(async ({ port, id, key, token }) => {
    const w = window as any
    const settings: Record<string, unknown> = { host: '127.0.0.1', port, path: '/peerjs', secure: false, config: { iceServers: [] } }
    if (key !== undefined) settings.key = key
    if (token !== undefined) settings.token = token
    const peer = id === undefined ? new w.peerjs.Peer(settings) : new w.peerjs.Peer(id, settings)
    w.peer = peer
    w.received = []
    w.connections = []
    // answers every DataConnection with what it got, and every call with the page's own camera
    peer.on('connection', (conn: any) => {
      w.connections.push(conn)
      conn.on('data', (data: unknown) => { w.received.push(data); conn.send(`echo:${String(data)}`) })
    })
    peer.on('call', async (call: any) => {
      const stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: true })
      call.on('stream', (remote: MediaStream) => { w.remoteStream = remote })
      call.answer(stream)
    })
    return await new Promise<string>((resolve, reject) => {
      peer.on('open', resolve)
      peer.on('error', (err: any) => { reject(new Error(`${String(err.type)}: ${String(err.message)}`)) })
    })
  }, options)
  return { page, id, errors }
}

/** Opens a DataConnection from `page` to `to`, sends `text`, and resolves with the answer that comes back. */
export async function exchange (page: Page, to: string, text: string): Promise<string> {
  return await page.evaluate(async ({ to, text }) => {
    const w = window as any
    const conn = w.peer.connect(to, { reliable: true })
    return await new Promise<string>((resolve, reject) => {
      conn.on('open', () => { conn.send(text) })
      conn.on('data', (data: unknown) => { resolve(String(data)) })
      conn.on('error', (err: any) => { reject(new Error(String(err.message))) })
    })
  }, { to, text })
}

/** Calls `to` with the fake camera and microphone; resolves with the remote video's size once frames play. */
export async function call (page: Page, to: string): Promise<{ width: number, height: number }> {
  await page.evaluate(async (to) => {
    const w = window as any
    const stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: true })
    const media = w.peer.call(to, stream)
    const remote = await new Promise<MediaStream>((resolve) => { media.on('stream', resolve) })
    const video = document.getElementById('remote') as HTMLVideoElement
    video.srcObject = remote
  }, to)
  const handle = await page.waitForFunction(() => {
    const video = document.getElementById('remote') as HTMLVideoElement
    return video.videoWidth > 0 && video.readyState >= 2 ? { width: video.videoWidth, height: video.videoHeight } : false
  }, undefined, { timeout: 30_000 })
  return await handle.jsonValue() as { width: number, height: number }
}

/** The error a Peer meets: resolves with `type: message`. */
export async function peerError (t: Test, browser: Browser, pageUrl: string, options: PeerOptions): Promise<string> {
  try {
    await openPeer(t, browser, pageUrl, 'refused', options)
  } catch (err) {
    return (err as Error).message.replace(/^page\.evaluate: (Error: )?/, '').split('\n')[0]!
  }
  return 'opened'
}
