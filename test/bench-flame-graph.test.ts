// The flame-graph writer turns the benchmark's .cpuprofile files into folded stacks and SVGs: checked here on a
// hand-built profile whose numbers are known, and on a real profile from node --cpu-prof.
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { type CpuProfile, flameGraphSvg, foldedStacks, writeFlameGraphs, writeFolded } from '../bench/flame-graph.js'

const frame = (functionName: string, url = '', lineNumber = -1) => ({ functionName, url, lineNumber, columnNumber: 0 })

// (root) -> main -> a dependency's function with '<', '&' and ';' in its name, and an anonymous function;
// plus (idle) and (garbage collector), both straight under (root) as V8 records them
const profile: CpuProfile = {
  nodes: [
    { id: 1, callFrame: frame('(root)'), children: [2, 5, 6] },
    { id: 2, callFrame: frame('main', 'file:///repo/lib/app.js', 9), children: [3, 4] },
    { id: 3, callFrame: frame('parse<T>&co;x', 'file:///repo/node_modules/dep/index.js', 4) },
    { id: 4, callFrame: frame('', 'file:///repo/lib/app.js', 19) },
    { id: 5, callFrame: frame('(idle)') },
    { id: 6, callFrame: frame('(garbage collector)') }
  ],
  startTime: 0,
  endTime: 1300,
  samples: [2, 3, 3, 5, 4, 6, 5],
  timeDeltas: [100, 150, 250, 300, 200, 100, 200]
}

const MAIN = 'main (lib/app.js:10)'
const DEP = 'parse<T>&co,x (dep/index.js:5)'
const ANON = '(anonymous) (lib/app.js:20)'

t.test('foldedStacks sums the microseconds of each stack, names frames by relative file and line, and leaves idle out', async (t) => {
  const folded = foldedStacks(profile, { root: '/repo' })
  t.same([...folded], [
    [MAIN, 100],
    [`${MAIN};${DEP}`, 400],
    [`${MAIN};${ANON}`, 200],
    ['(garbage collector)', 100]
  ])
  t.equal(writeFolded(folded), [
    '(garbage collector) 100',
    `${MAIN} 100`,
    `${MAIN};${ANON} 200`,
    `${MAIN};${DEP} 400`,
    ''
  ].join('\n'), 'writeFolded prints one "stack value" line per stack, sorted by stack')
})

t.test('flameGraphSvg draws one escaped, proportionally wide rect per frame', async (t) => {
  // 800 µs on 800 px between the 10 px margins: one pixel per microsecond
  const svg = flameGraphSvg(foldedStacks(profile, { root: '/repo' }), { title: 'a <small> & synthetic profile', width: 820 })
  t.ok(svg.startsWith('<svg'), 'it is an SVG document')
  t.ok(svg.trimEnd().endsWith('</svg>'), 'it is closed')
  t.notMatch(svg, /<script/, 'it needs no JavaScript')
  t.equal(svg.match(/<rect /g)?.length, 5, 'all, main, its two callees and the garbage collector: one rect each')
  t.match(svg, 'parse&lt;T&gt;&amp;co,x (dep/index.js:5)', 'a name with < and & is XML-escaped')
  t.notMatch(svg, 'parse<T>', 'the raw name never appears')
  t.match(svg, 'a &lt;small&gt; &amp; synthetic profile', 'the title is escaped as well')

  const widthOf = (name: string): number => {
    const group = svg.split('\n').find((line) => line.startsWith(`<g><title>${name} (`))
    const width = group?.match(/ width="([\d.]+)"/)?.[1]
    t.ok(width, `${name} has a rect`)
    return Number(width)
  }
  t.equal(widthOf('parse&lt;T&gt;&amp;co,x (dep/index.js:5)'), 400, 'the dependency frame is as wide as its time')
  t.equal(widthOf('(anonymous) (lib/app.js:20)'), 200, 'the anonymous frame is half as wide for half the time')
  t.equal(widthOf('all'), 800, 'the root spans the whole graph')
  t.match(svg, '<title>parse&lt;T&gt;&amp;co,x (dep/index.js:5) (0.40 ms, 50.00 %)</title>', 'the tooltip gives ms and share of the total')
})

t.test('flameGraphSvg leaves out frames under 0.1 % of the total and cuts labels to their rect', async (t) => {
  const stacks = new Map([['wide (lib/a.js:1)', 100_000], ['wide (lib/a.js:1);tiny (lib/b.js:1)', 50], ['narrow_function_with_a_long_name (lib/c.js:1)', 10_000]])
  const svg = flameGraphSvg(stacks, { title: 'thresholds' })
  t.notMatch(svg, 'tiny', 'a frame of 0.05 % is not drawn')
  t.equal(svg.match(/<rect /g)?.length, 3, 'all, wide and narrow remain')
  t.match(svg, />narrow_fun[\w]*\.\.<\/text>/, 'a label too long for its rect ends in ..')
  t.match(svg, /<title>narrow_function_with_a_long_name \(lib\/c\.js:1\) \(10\.00 ms, 9\.09 %\)<\/title>/, 'while its tooltip keeps the full name')
})

t.test('flameGraphSvg colours a frame by its name and kind', async (t) => {
  const stacks = new Map([['handler (lib/a.js:1)', 100], ['(garbage collector)', 100], ['readFile (node:fs:10)', 100], ['JSON.parse', 100]])
  const fill = (svg: string, name: string) => svg.split('\n').find((line) => line.startsWith(`<g><title>${name} (`))?.match(/fill="rgb\((\d+),(\d+),(\d+)\)"/)?.slice(1).map(Number)
  const svg = flameGraphSvg(stacks, { title: 'colours' })
  t.equal(svg, flameGraphSvg(new Map([...stacks].reverse()), { title: 'colours' }), 'the same stacks give the same SVG')
  const [r, g, b] = fill(svg, 'handler (lib/a.js:1)')!
  t.ok(r! >= 205 && g! <= 230 && b! <= 55, 'JavaScript is warm')
  const gc = fill(svg, '(garbage collector)')!
  t.ok(gc[2]! > gc[0]! && gc[2]! > gc[1]!, 'the garbage collector is blue-violet')
  for (const native of ['readFile (node:fs:10)', 'JSON.parse']) {
    const [nr, ng, nb] = fill(svg, native)!
    t.ok(ng! > nr! && nb! > nr!, `${native} is teal, as a native or Node frame`)
  }
})

t.test('writeFlameGraphs writes .folded and .svg next to the .cpuprofile', async (t) => {
  const dir = t.testdir({ 'server.cpuprofile': JSON.stringify(profile) })
  const paths = writeFlameGraphs(join(dir, 'server.cpuprofile'), 'server')
  t.same(paths, { folded: join(dir, 'server.folded'), svg: join(dir, 'server.svg') })
  t.ok(existsSync(paths.folded) && existsSync(paths.svg), 'both files exist')
  t.match(readFileSync(paths.folded, 'utf8'), /^\(garbage collector\) 100\n/)
  t.ok(readFileSync(paths.svg, 'utf8').startsWith('<svg'))
})

t.test('a real node --cpu-prof profile folds to a stack ending in the busy function', async (t) => {
  const dir = t.testdir({})
  const env = { ...process.env }
  // tap's loaders would otherwise run in the child and fill its profile with their own frames
  delete env.NODE_OPTIONS
  const script = 'function busyLoop () { const end = Date.now() + 200; let x = 0; while (Date.now() < end) x += Math.sqrt(x + 1); return x } busyLoop()'
  const child = spawnSync(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${dir}`, '-e', script], { env, encoding: 'utf8', timeout: 30_000 })
  t.equal(child.status, 0, 'the profiled script exits 0', { stderr: child.stderr })
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'))
  if (file === undefined) return t.fail('node wrote a .cpuprofile')
  const folded = foldedStacks(JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile)
  const busy = [...folded].filter(([stack]) => /(^|;)busyLoop( \([^;]*\))?$/.test(stack))
  t.ok(busy.length > 0, 'a stack ends in busyLoop', { stacks: [...folded.keys()] })
  t.ok(busy.every(([, us]) => us > 0), 'with time sampled in it')
  t.notOk([...folded.keys()].some((stack) => stack.includes('(idle)')), 'no idle stack')

  writeFileSync(join(dir, 'busy.cpuprofile'), readFileSync(join(dir, file)))
  const paths = writeFlameGraphs(join(dir, 'busy.cpuprofile'), 'busy loop')
  t.match(readFileSync(paths.svg, 'utf8'), /<title>busyLoop \(\[eval\]:1\) \([\d.]+ ms, [\d.]+ %\)<\/title>/, 'the SVG shows busyLoop with its time')
})
