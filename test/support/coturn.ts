// Starts a real coturn (`turnserver`) for one test, on free loopback ports, and stops it in teardown.
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes, randomInt } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { createSocket } from 'node:dgram'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import { findProgram, freePort } from './programs.js'

export { findProgram, requireProgram } from './programs.js'

export interface Coturn {
  host: '127.0.0.1'
  port: number
  secret: string
  realm: string
  /** `turn:127.0.0.1:PORT?transport=udp` */
  udpUrl: string
  /** `turn:127.0.0.1:PORT?transport=tcp` */
  tcpUrl: string
  /** The range coturn allocates relayed transport addresses from (`--min-port`, `--max-port`). */
  relayPorts: { min: number, max: number }
  /** Exactly what was run, for reports and debugging. */
  argv: string[]
  /** Everything coturn printed so far (it logs to stdout with `-v`). */
  log (): string
}

export interface CoturnOptions {
  secret: string
  /** Further `--static-auth-secret` values, as an operator rotating secrets would configure. */
  extraSecrets?: string[]
  realm?: string
  /** How long to wait for coturn to answer a STUN binding request before failing the test. */
  startTimeoutMs?: number
}

/**
 * Starts coturn with `use-auth-secret` on a free port of 127.0.0.1, waits until it answers STUN, and
 * kills it (by PID) in `t.teardown`. Call `requireProgram(t, 'turnserver', ...)` first.
 */
export async function startCoturn (t: Test, options: CoturnOptions): Promise<Coturn> {
  const binary = findProgram('turnserver')
  if (binary === undefined) throw new Error('turnserver not found: apt-get install coturn')
  const realm = options.realm ?? 'test'
  const port = await freePort()
  // A random block of relay ports keeps parallel test files from colliding; coturn skips busy ports.
  const minPort = randomInt(20000, 30000) * 2
  const maxPort = minPort + 199
  const dir = mkdtempSync(join(tmpdir(), 'coturn-'))

  const argv = [
    '-n', // ignore /etc/turnserver.conf
    '-v', // logs allocations and refusals, which is what a failing test needs to show
    '--use-auth-secret',
    ...[options.secret, ...(options.extraSecrets ?? [])].map((s) => `--static-auth-secret=${s}`),
    `--realm=${realm}`,
    '--listening-ip=127.0.0.1',
    '--relay-ip=127.0.0.1',
    `--listening-port=${port}`,
    `--min-port=${minPort}`,
    `--max-port=${maxPort}`,
    '--allow-loopback-peers',
    '--no-tls',
    '--no-dtls',
    '--no-cli',
    '--no-rfc5780',
    '--log-file=stdout',
    '--simple-log',
    `--pidfile=${join(dir, 'turnserver.pid')}`,
    `--userdb=${join(dir, 'turndb.sqlite')}`
  ]

  let output = ''
  const child = spawn(binary, argv, { stdio: ['ignore', 'pipe', 'pipe'] })
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => { output += chunk })
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => { output += chunk })
  const exited = new Promise<string>((resolve) => {
    child.once('exit', (code, signal) => resolve(`turnserver exited (code ${code}, signal ${signal})`))
    child.once('error', (err) => resolve(`turnserver failed to start: ${err.message}`))
  })

  t.teardown(async () => {
    await stop(child, exited)
    rmSync(dir, { recursive: true, force: true })
  })

  const timeoutMs = options.startTimeoutMs ?? 10_000
  const ready = await Promise.race([
    waitForStun(port, timeoutMs).then((ok) => ok ? 'ready' : `no STUN answer on 127.0.0.1:${port} within ${timeoutMs} ms`),
    exited
  ])
  if (ready !== 'ready') {
    throw new Error(`${ready}\n$ ${binary} ${argv.join(' ')}\n${output}`)
  }

  return {
    host: '127.0.0.1',
    port,
    secret: options.secret,
    realm,
    udpUrl: `turn:127.0.0.1:${port}?transport=udp`,
    tcpUrl: `turn:127.0.0.1:${port}?transport=tcp`,
    relayPorts: { min: minPort, max: maxPort },
    argv: [binary, ...argv],
    log: () => output
  }
}

async function stop (child: ChildProcess, exited: Promise<string>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return
  process.kill(child.pid, 'SIGTERM')
  const killed = await Promise.race([exited.then(() => true), delay(3000).then(() => false)])
  if (!killed && child.exitCode === null && child.signalCode === null) {
    process.kill(child.pid, 'SIGKILL')
    await exited
  }
}

/** Sends STUN Binding requests (RFC 5389) until one is answered, or the time runs out. */
async function waitForStun (port: number, timeoutMs: number): Promise<boolean> {
  const socket = createSocket('udp4')
  const transactionId = randomBytes(12)
  const request = Buffer.alloc(20)
  request.writeUInt16BE(0x0001, 0) // Binding request
  request.writeUInt16BE(0, 2) // no attributes
  request.writeUInt32BE(0x2112a442, 4) // magic cookie
  transactionId.copy(request, 8)

  let answered = false
  socket.on('message', (msg) => {
    if (msg.length >= 20 && msg.readUInt16BE(0) === 0x0101 && msg.subarray(8, 20).equals(transactionId)) answered = true
  })
  socket.on('error', () => {}) // ICMP port unreachable while coturn is starting; keep probing
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve))
  const deadline = Date.now() + timeoutMs
  try {
    while (!answered && Date.now() < deadline) {
      socket.send(request, port, '127.0.0.1')
      await delay(100)
    }
  } finally {
    socket.close()
  }
  return answered
}

function delay (ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
