// Runs the shipped reverse-proxy configs (deploy/nginx.conf, deploy/haproxy.cfg) for one test, on a free port.
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import { freePort, requireProgram } from './programs.js'

export interface RunningProxy {
  port: number
  /** `http://127.0.0.1:PORT` */
  url: string
  /** Kills the proxy and all its processes, and removes its directory (also done in teardown). */
  stop: () => Promise<void>
}

export interface Upstream { host: string, port: number }

const deployDir = new URL('../../deploy/', import.meta.url).pathname

function address ({ host, port }: Upstream): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`
}

/**
 * Replaces the one line that `marker` matches (the line without its indentation; markers start with `^`, so
 * commented-out lines never match), keeping the indentation; a null replacement removes the line. Throws when
 * there is not exactly one: the shipped file changed, and so must this helper.
 */
function replaceLine (text: string, file: string, marker: RegExp, replacement: (line: string) => string | null): string {
  const lines = text.split('\n')
  const hits = lines.flatMap((line, i) => marker.test(line.trim()) ? [i] : [])
  if (hits.length !== 1) throw new Error(`${file}: expected one line matching ${String(marker)}, found ${hits.length}`)
  const i = hits[0] as number
  const line = lines[i] as string
  const indent = /^\s*/.exec(line)?.[0] ?? ''
  const replaced = replacement(line.trim())
  if (replaced === null) lines.splice(i, 1)
  else lines[i] = indent + replaced
  return lines.join('\n')
}

/** `text` with `pattern` replaced, or an error naming the file when `pattern` is not in it. */
function mustReplace (text: string, file: string, pattern: RegExp, replacement: string): string {
  if (!pattern.test(text)) throw new Error(`${file}: ${String(pattern)} not found in "${text}"`)
  return text.replace(pattern, replacement)
}

/**
 * Puts one `server` line per upstream where the shipped file names node1 and node2, each a copy of node1's line
 * (`max_fails=...`, ...) with `render` applied to it for the i-th upstream; node2's line goes.
 */
function replaceNodes (text: string, file: string, upstreams: Upstream[], render: (line: string, upstream: Upstream, i: number) => string): string {
  if (upstreams.length === 0) throw new Error('a proxy needs at least one upstream')
  const result = replaceLine(text, file, /^server .*\bnode2:8086\b/, () => null)
  return replaceLine(result, file, /^server .*\bnode1:8086\b/, (line) => upstreams.map((u, i) => render(line, u, i)).join('\n'))
}

/** Starts `argv` in its own process group (nginx forks workers), and waits until `port` accepts TCP. */
async function run (t: Test, name: string, argv: string[], port: number, dir: string): Promise<RunningProxy> {
  const [program, ...args] = argv as [string, ...string[]]
  // the last 64 KiB of what it printed (haproxy logs every request to stdout), for the error when it fails to start
  let output = ''
  const keep = (chunk: string): void => { output = (output + chunk).slice(-65536) }
  const child: ChildProcess = spawn(program, args, { cwd: dir, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
  child.stdout?.setEncoding('utf8').on('data', keep)
  child.stderr?.setEncoding('utf8').on('data', keep)
  const exited = once(child, 'exit')
  const group = child.pid
  let stopped: Promise<void> | undefined
  const stop = async (): Promise<void> => {
    stopped ??= (async () => {
      // SIGKILL to the whole group: the master and its workers at once, nothing is left to serve
      if (group !== undefined) {
        try { process.kill(-group, 'SIGKILL') } catch {}
      }
      if (child.exitCode === null && child.signalCode === null) await exited
      // orphaned workers are reaped by init: wait until the group is empty
      for (let i = 0; group !== undefined && i < 100; i++) {
        try { process.kill(-group, 0) } catch { break }
        if (i === 99) throw new Error(`${name}: processes of group ${group} still alive after SIGKILL`)
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
      rmSync(dir, { recursive: true, force: true })
    })()
    await stopped
  }
  t.teardown(stop)
  for (let i = 0; i < 200; i++) {
    if (await accepts(port)) return { port, url: `http://127.0.0.1:${port}`, stop }
    if (child.exitCode !== null || child.signalCode !== null) break
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  await stop()
  throw new Error(`${name} did not start on port ${port}:\n${output}`)
}

async function accepts (port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.once('error', () => resolve(false))
    socket.once('connect', () => { socket.destroy(); resolve(true) })
  })
}

/**
 * A fresh directory for one proxy's files, removed in teardown even when the proxy never started; traversable by
 * nginx's unprivileged workers when the tests run as root.
 */
function scratchDir (t: Test, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  chmodSync(dir, 0o755)
  return dir
}

/**
 * deploy/nginx.conf in front of `upstreams`, as shipped except for: `listen 8080;` (a free port on 127.0.0.1),
 * the `server node1:8086 ...;`/`server node2:8086 ...;` lines (one per upstream, same parameters), `pid`,
 * `error_log` and `access_log` (into a temporary directory), and the temp paths, which the file leaves at the
 * image's built-in defaults (set to the same directory). Run with `-g 'daemon off;'`. Undefined when nginx is missing.
 */
export async function startNginx (t: Test, upstreams: Upstream[]): Promise<RunningProxy | undefined> {
  const program = requireProgram(t, 'nginx', 'apt-get install nginx')
  if (program === undefined) return undefined
  const file = 'deploy/nginx.conf'
  const port = await freePort()
  const dir = scratchDir(t, 'nginx-')
  let conf = readFileSync(join(deployDir, 'nginx.conf'), 'utf8')
  conf = replaceLine(conf, file, /^listen 8080;$/, () => `listen 127.0.0.1:${port};`)
  conf = replaceNodes(conf, file, upstreams, (line, u) => mustReplace(line, file, /\bnode1:8086\b/, address(u)))
  conf = replaceLine(conf, file, /^pid \S+;$/, () => `pid ${join(dir, 'nginx.pid')};`)
  conf = replaceLine(conf, file, /^error_log \S+/, (line) => line.replace(/^error_log \S+/, `error_log ${join(dir, 'error.log')}`))
  conf = replaceLine(conf, file, /^access_log \S+/, (line) => line.replace(/^access_log \S+/, `access_log ${join(dir, 'access.log')}`))
  // the shipped file relies on the built-in temp paths (/var/cache/nginx in the image, /var/lib/nginx on Debian)
  const temps = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((kind) => `${kind}_temp_path ${join(dir, `${kind}_temp`)};`)
  conf = replaceLine(conf, file, /^http \{$/, (line) => `${line} ${temps.join(' ')}`)
  const confFile = join(dir, 'nginx.conf')
  writeFileSync(confFile, conf)
  return await run(t, 'nginx', [program, '-p', `${dir}/`, '-e', join(dir, 'error.log'), '-c', confFile, '-g', 'daemon off;'], port, dir)
}

/**
 * deploy/haproxy.cfg in front of `upstreams`, as shipped except for: `bind :8080` (a free port on 127.0.0.1) and
 * the `server node1 node1:8086`/`server node2 node2:8086` lines (one per upstream, same parameters). It writes no
 * files (logs go to stdout); run in the foreground with `-db`. Undefined when haproxy is missing.
 */
export async function startHaproxy (t: Test, upstreams: Upstream[]): Promise<RunningProxy | undefined> {
  const program = requireProgram(t, 'haproxy', 'apt-get install haproxy')
  if (program === undefined) return undefined
  const file = 'deploy/haproxy.cfg'
  const port = await freePort()
  const dir = scratchDir(t, 'haproxy-')
  let cfg = readFileSync(join(deployDir, 'haproxy.cfg'), 'utf8')
  cfg = replaceLine(cfg, file, /^bind :8080$/, () => `bind 127.0.0.1:${port}`)
  cfg = replaceNodes(cfg, file, upstreams, (line, u, i) => mustReplace(line, file, /^server node1 node1:8086\b/, `server node${i + 1} ${address(u)}`))
  const cfgFile = join(dir, 'haproxy.cfg')
  writeFileSync(cfgFile, cfg)
  return await run(t, 'haproxy', [program, '-db', '-f', cfgFile], port, dir)
}
