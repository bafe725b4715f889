// Summarises a V8 .cpuprofile (node --cpu-prof): self time per function, the hot spots a flame graph shows as plateaus.
import { readFileSync } from 'node:fs'
import { relative } from 'node:path'

interface ProfileNode { id: number, callFrame: { functionName: string, url: string, lineNumber: number }, children?: number[] }
interface CpuProfile { nodes: ProfileNode[], samples: number[], timeDeltas: number[], startTime: number, endTime: number }

export interface HotSpot { function: string, location: string, selfMs: number, selfPercent: number }

export function topSelfTime (file: string, root: string, limit = 15): { totalMs: number, idlePercent: number, hotSpots: HotSpot[] } {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const selfUs = new Map<number, number>()
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)))
  const totals = new Map<string, { function: string, location: string, us: number }>()
  let totalUs = 0
  let idleUs = 0
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)!.callFrame
    totalUs += us
    if (frame.functionName === '(idle)') { idleUs += us; continue }
    const url = frame.url.startsWith('file://') ? relative(root, new URL(frame.url).pathname) : frame.url
    const location = url === '' ? '(native)' : `${url}:${frame.lineNumber + 1}`
    const name = frame.functionName === '' ? '(anonymous)' : frame.functionName
    const key = `${name} ${location}`
    const entry = totals.get(key) ?? { function: name, location, us: 0 }
    entry.us += us
    totals.set(key, entry)
  }
  const busyUs = totalUs - idleUs
  const hotSpots = [...totals.values()].sort((a, b) => b.us - a.us).slice(0, limit).map((entry) => ({
    function: entry.function,
    location: entry.location,
    selfMs: Math.round(entry.us / 100) / 10,
    // share of the busy (non-idle) time
    selfPercent: busyUs === 0 ? 0 : Math.round(entry.us / busyUs * 1000) / 10
  }))
  return { totalMs: Math.round(totalUs / 1000), idlePercent: totalUs === 0 ? 0 : Math.round(idleUs / totalUs * 1000) / 10, hotSpots }
}
