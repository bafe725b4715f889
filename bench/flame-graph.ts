// Turns a V8 .cpuprofile (node --cpu-prof) into folded stacks and a self-contained SVG flame graph, readable without any tool.
import { readFileSync, writeFileSync } from 'node:fs'
import { relative, isAbsolute } from 'node:path'
import { fileURLToPath } from 'node:url'

// bench/cpu-profile.ts keeps its profile types private, so the shape is spelled out here
export interface CallFrame { functionName: string, url: string, lineNumber: number, columnNumber: number }
export interface ProfileNode { id: number, callFrame: CallFrame, children?: number[] }
export interface CpuProfile { nodes: ProfileNode[], startTime: number, endTime: number, samples: number[], timeDeltas: number[] }

const REPOSITORY_ROOT = fileURLToPath(new URL('..', import.meta.url))

// frames below this share of the total would be thinner than a pixel or two: noise that only hides the plateaus
const MIN_FRAME_SHARE = 0.001
const FRAME_HEIGHT = 16
const PAD = 10
const HEADER_HEIGHT = 44
const FONT_SIZE = 11
// a monospace font makes the label width predictable, so labels can be cut to fit without measuring text
const CHAR_WIDTH = FONT_SIZE * 0.62

function location (url: string, root: string): string {
  if (url.startsWith('node:')) return url
  const path = url.startsWith('file://') ? fileURLToPath(url) : url
  const dependency = path.lastIndexOf('node_modules/')
  if (dependency !== -1) return path.slice(dependency + 'node_modules/'.length)
  if (!isAbsolute(path)) return path
  const own = relative(root, path)
  // a script outside the repository keeps its absolute path: '../../tmp/x.js' would only mislead
  return own.startsWith('..') ? path : own
}

function frameName (frame: CallFrame, root: string): string {
  const name = frame.functionName === '' ? '(anonymous)' : frame.functionName
  // V8's pseudo-frames and native functions carry no script, so there is no place to point at
  const where = frame.url === '' ? '' : ` (${location(frame.url, root)}${frame.lineNumber >= 0 ? `:${frame.lineNumber + 1}` : ''})`
  // ';' separates frames and a newline separates stacks in the folded format
  return `${name}${where}`.replace(/;/g, ',').replace(/[\r\n]+/g, ' ')
}

export function foldedStacks (profile: CpuProfile, options: { root?: string } = {}): Map<string, number> {
  const root = options.root ?? REPOSITORY_ROOT
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const parentOf = new Map<number, number>()
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id)

  const stackOf = new Map<number, string | null>()
  const stack = (id: number): string | null => {
    const known = stackOf.get(id)
    if (known !== undefined) return known
    const node = byId.get(id)!
    const parent = parentOf.get(id)
    let folded: string | null
    if (node.callFrame.functionName === '(idle)') folded = null
    // the '(root)' frame is under every stack and says nothing; a sample in it directly keeps its name
    else if (parent === undefined) folded = frameName(node.callFrame, root)
    else if (parentOf.get(parent) === undefined) folded = frameName(node.callFrame, root)
    else {
      const below = stack(parent)
      folded = below === null ? null : `${below};${frameName(node.callFrame, root)}`
    }
    stackOf.set(id, folded)
    return folded
  }

  const folded = new Map<string, number>()
  profile.samples.forEach((id, i) => {
    const key = stack(id)
    if (key === null) return
    // same convention as cpu-profile.ts (a sample owns the delta that precedes it) so both summaries agree; V8 can
    // record a slightly negative delta when samples arrive out of order, which must not shrink a frame
    folded.set(key, (folded.get(key) ?? 0) + Math.max(0, profile.timeDeltas[i] ?? 0))
  })
  return folded
}

export function writeFolded (map: Map<string, number>): string {
  // code-unit order, not localeCompare: the output must not depend on the machine's locale
  const stacks = [...map.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
  return stacks.map((stack) => `${stack} ${map.get(stack)!}\n`).join('')
}

interface Frame { name: string, us: number, children: Map<string, Frame> }

function buildTree (map: Map<string, number>): Frame {
  const all: Frame = { name: 'all', us: 0, children: new Map() }
  for (const [stack, us] of map) {
    all.us += us
    let frame = all
    for (const name of stack.split(';')) {
      let child = frame.children.get(name)
      if (child === undefined) {
        child = { name, us: 0, children: new Map() }
        frame.children.set(name, child)
      }
      child.us += us
      frame = child
    }
  }
  return all
}

function escapeXml (text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!)
}

// FNV-1a: a stable hash so a function keeps its colour from one profile to the next
function hash (text: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0
  return h
}

function colour (name: string): string {
  const h = hash(name)
  const v1 = (h & 0xff) / 255
  const v2 = ((h >>> 8) & 0xff) / 255
  const v3 = ((h >>> 16) & 0xff) / 255
  let rgb: [number, number, number]
  if (name === 'all') rgb = [200, 200, 200]
  else if (name === '(garbage collector)') rgb = [150 + 40 * v1, 90 + 30 * v2, 200 + 40 * v3]
  // no ':line)' means V8 or C++ (no script behind it); node: frames are Node's own JavaScript, not the project's
  else if (!/:\d+\)$/.test(name) || / \(node:[^()]*\)$/.test(name)) rgb = [50 + 40 * v1, 165 + 55 * v2, 165 + 55 * v3]
  // the "hot" palette of Brendan Gregg's flamegraph.pl, for JavaScript
  else rgb = [205 + 50 * v3, 230 * v1, 55 * v2]
  return `rgb(${rgb.map(Math.round).join(',')})`
}

// two decimals keep the SVG small while widths stay proportional to well below a pixel
function num (n: number): string {
  return String(Math.round(n * 100) / 100)
}

function label (name: string, width: number): string {
  const fits = Math.floor((width - 6) / CHAR_WIDTH)
  if (fits < 3) return ''
  return name.length <= fits ? name : `${name.slice(0, fits - 2)}..`
}

export function flameGraphSvg (map: Map<string, number>, options: { title: string, width?: number }): string {
  const width = options.width ?? 1200
  const all = buildTree(map)
  const scale = all.us === 0 ? 0 : (width - 2 * PAD) / all.us
  const minUs = all.us * MIN_FRAME_SHARE

  const placed: Array<{ frame: Frame, x: number, depth: number }> = []
  const place = (frame: Frame, x: number, depth: number): void => {
    placed.push({ frame, x, depth })
    let childX = x
    // alphabetical like flamegraph.pl: the graph is about totals, not about the order calls happened in
    const children = [...frame.children.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    for (const child of children) {
      if (child.us >= minUs) place(child, childX, depth + 1)
      childX += child.us * scale
    }
  }
  if (all.us > 0) place(all, PAD, 0)

  const depth = placed.reduce((max, p) => Math.max(max, p.depth), 0)
  const height = HEADER_HEIGHT + (depth + 1) * FRAME_HEIGHT + PAD
  const title = escapeXml(options.title)
  const lines = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ` +
      `font-family="Menlo, Consolas, 'DejaVu Sans Mono', monospace" font-size="${FONT_SIZE}" style="background:#fff">`,
    `<title>${title}</title>`,
    '<style>rect{stroke:#fff;stroke-width:0.5}text{fill:#000}</style>',
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="15">${title}</text>`,
    `<text x="${width / 2}" y="36" text-anchor="middle">${num(all.us / 1000)} ms sampled (idle excluded); hover a frame for its time</text>`
  ]
  for (const { frame, x, depth: d } of placed) {
    const w = frame.us * scale
    const y = height - PAD - (d + 1) * FRAME_HEIGHT
    const tip = `${frame.name} (${(frame.us / 1000).toFixed(2)} ms, ${(frame.us / all.us * 100).toFixed(2)} %)`
    const text = label(frame.name, w)
    lines.push(
      `<g><title>${escapeXml(tip)}</title>` +
        `<rect x="${num(x)}" y="${y}" width="${num(w)}" height="${FRAME_HEIGHT}" fill="${colour(frame.name)}" rx="2"/>` +
        (text === '' ? '' : `<text x="${num(x + 3)}" y="${y + FRAME_HEIGHT - 4}">${escapeXml(text)}</text>`) +
        '</g>'
    )
  }
  lines.push('</svg>')
  return `${lines.join('\n')}\n`
}

export function writeFlameGraphs (cpuprofilePath: string, title: string): { folded: string, svg: string } {
  const profile = JSON.parse(readFileSync(cpuprofilePath, 'utf8')) as CpuProfile
  const stacks = foldedStacks(profile)
  const base = cpuprofilePath.replace(/\.cpuprofile$/, '')
  const paths = { folded: `${base}.folded`, svg: `${base}.svg` }
  writeFileSync(paths.folded, writeFolded(stacks))
  writeFileSync(paths.svg, flameGraphSvg(stacks, { title }))
  return paths
}
