// Real programs the tests start: find them, or skip (fail under CI) with one clear line; free ports for them.
import { accessSync, constants } from 'node:fs'
import { createServer } from 'node:net'
import { createSocket } from 'node:dgram'
import { delimiter, join } from 'node:path'
import type { Test } from 'tap'

/** Absolute path of `name` on PATH (plus the sbin directories, where Debian may put daemons), or undefined. */
export function findProgram (name: string): string | undefined {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean)
  for (const dir of [...dirs, '/usr/sbin', '/sbin', '/usr/local/sbin']) {
    const candidate = join(dir, name)
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {}
  }
  return undefined
}

const INSTALL_HINTS: Record<string, string> = {
  turnserver: 'apt-get install coturn',
  openssl: 'apt-get install openssl',
  'redis-server': 'apt-get install redis-server'
}

/**
 * Finds `name` or gives up on this test: without `CI` the test is skipped with one line saying how to
 * install the program; with `CI` set, a missing program is a failure. Returns undefined when it gave up,
 * in which case the caller must return without doing anything else.
 */
export function requireProgram (t: Test, name: string, install: string = INSTALL_HINTS[name] ?? `install ${name}`): string | undefined {
  const path = findProgram(name)
  if (path === undefined) skipUnlessCI(t, `${name} not found: ${install}`)
  return path
}

/** Skips the test with one line saying `why`, except under `CI`, where the missing piece is a failure. */
export function skipUnlessCI (t: Test, why: string): void {
  if (process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false') {
    t.fail(`${why} (required because CI is set)`)
    t.end()
  } else {
    t.plan(0, why)
  }
}

/** A port free for both TCP and UDP on 127.0.0.1 (coturn listens on both). */
export async function freePort (): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer()
      server.once('error', reject)
      server.listen(0, '127.0.0.1', () => {
        const address = server.address()
        server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0))
      })
    })
    const udpFree = await new Promise<boolean>((resolve) => {
      const socket = createSocket('udp4')
      socket.once('error', () => { socket.close(); resolve(false) })
      socket.bind(port, '127.0.0.1', () => socket.close(() => resolve(true)))
    })
    if (port !== 0 && udpFree) return port
  }
  throw new Error('no free TCP+UDP port on 127.0.0.1')
}

