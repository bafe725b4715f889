// What the kernel says about a process: CPU seconds, resident memory, open-file limits.
import { readFileSync } from 'node:fs'
import { execFileSync } from 'node:child_process'

/** Linux USER_HZ: /proc/<pid>/stat counts CPU time in ticks of 1/100 s on every mainstream kernel. */
const CLK_TCK = 100

export interface CpuSample { cpuSeconds: number, userSeconds: number, systemSeconds: number, wallMs: number }

/** utime + stime of a process (and each apart), in seconds, with the wall-clock time of the reading. */
export function cpuSample (pid: number): CpuSample {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // the command name (field 2) may hold spaces and parentheses: count fields after the last ')'
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const utime = Number(fields[11])
  const stime = Number(fields[12])
  return { cpuSeconds: (utime + stime) / CLK_TCK, userSeconds: utime / CLK_TCK, systemSeconds: stime / CLK_TCK, wallMs: performance.now() }
}

export interface CpuUse { cpuSeconds: number, wallSeconds: number, /** share of one core, 0..1+ */ coreShare: number }

export function cpuSince (pid: number, start: CpuSample): CpuUse {
  const end = cpuSample(pid)
  const cpuSeconds = end.cpuSeconds - start.cpuSeconds
  const wallSeconds = (end.wallMs - start.wallMs) / 1000
  return { cpuSeconds, wallSeconds, coreShare: wallSeconds > 0 ? cpuSeconds / wallSeconds : 0 }
}

/** Resident set size in bytes (VmRSS). */
export function rssBytes (pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)
  return match === null ? Number.NaN : Number(match[1]) * 1024
}

export function isAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

export function hasCommand (name: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

export interface FileLimit {
  /** Limit the children get. */
  soft: number
  hard: number
  /** Prefix that gives a child `soft` open files, when it differs from ours. */
  prefix: string[]
  note?: string
}

function ownLimit (): { soft: number, hard: number } {
  const line = /^Max open files\s+(\S+)\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))
  const parse = (v: string | undefined): number => v === 'unlimited' || v === undefined ? Number.MAX_SAFE_INTEGER : Number(v)
  return { soft: parse(line?.[1]), hard: parse(line?.[2]) }
}

/** Raises the children's open-file limit to `wanted` where allowed (root with CAP_SYS_RESOURCE), else to our hard limit. */
export function fileLimitFor (wanted: number): FileLimit {
  const own = ownLimit()
  if (own.soft >= wanted) return { soft: own.soft, hard: own.hard, prefix: [] }
  if (hasCommand('prlimit')) {
    try {
      execFileSync('prlimit', [`--nofile=${wanted}:${wanted}`, '--', 'true'], { stdio: 'ignore' })
      return { soft: wanted, hard: wanted, prefix: ['prlimit', `--nofile=${wanted}:${wanted}`, '--'] }
    } catch {}
    if (own.hard > own.soft) {
      return {
        soft: own.hard,
        hard: own.hard,
        prefix: ['prlimit', `--nofile=${own.hard}:${own.hard}`, '--'],
        note: `open-file hard limit is ${own.hard} and raising it was refused (no CAP_SYS_RESOURCE)`
      }
    }
  }
  return { soft: own.soft, hard: own.hard, prefix: [], note: `open-file limit is ${own.soft} (hard ${own.hard}) and raising it was refused (no CAP_SYS_RESOURCE)` }
}
