// Launches Debian's Chromium (never a downloaded browser) for browser tests, with fake camera and microphone.
import { existsSync, mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { chromium, type Browser, type Page } from 'playwright-core'
import type { Test } from 'tap'
import { skipUnlessCI } from '../support/programs.js'

export const CHROMIUM_PATH = '/usr/bin/chromium'

/** Where tests write screenshots; git-ignored. */
export const ARTIFACTS_DIR = fileURLToPath(new URL('../../test-artifacts/', import.meta.url))

const CHROMIUM_ARGS = [
  // a synthetic camera and microphone, granted without a prompt
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  '--no-sandbox',
  '--disable-gpu',
  // nothing from the network but the test server
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic'
]

/**
 * Launches headless Chromium, closed in `t.teardown`. When it is not installed the test is skipped with
 * one line, or fails when `CI` is set; then this returns undefined and the caller must stop.
 */
export async function launchChromium (t: Test): Promise<Browser | undefined> {
  if (!existsSync(CHROMIUM_PATH)) {
    skipUnlessCI(t, `chromium not found at ${CHROMIUM_PATH}: apt-get install chromium`)
    return undefined
  }
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS, timeout: 30_000 })
  t.teardown(async () => { await browser.close() })
  return browser
}

/** Collects a page's uncaught errors and console errors, to assert on and to print when a step fails. */
export function watchPage (page: Page, label: string): { errors: string[], log: string[] } {
  const errors: string[] = []
  const log: string[] = []
  page.on('pageerror', (err) => { errors.push(`${label}: ${err.message}`) })
  page.on('console', (message) => {
    log.push(`${label} [${message.type()}] ${message.text()}`)
    if (message.type() === 'error') errors.push(`${label} console: ${message.text()}`)
  })
  return { errors, log }
}

/** A path in the artifacts directory (created on demand). */
export function artifactPath (name: string): string {
  mkdirSync(ARTIFACTS_DIR, { recursive: true })
  return `${ARTIFACTS_DIR}${name}`
}
