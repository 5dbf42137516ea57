// The layering of src/: no file import cycle, folder arrows only down the layer table
// (test/architecture/layers.ts), and docs/architecture.md showing the arrows the code has.
import t from 'tap'
import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import {
  checkFiles,
  checkFolders,
  cycles,
  folderGraph,
  importGraph,
  renderArchitecture,
  specifiersOf,
  transitiveReduction,
  type Graph,
} from './architecture/graph.js'
import { KNOWN_FILE_BREAKS, KNOWN_FOLDER_BREAKS, LAYERS, type Layer } from './architecture/layers.js'

const SRC = fileURLToPath(new URL('../src/', import.meta.url))
const DOC = new URL('../docs/architecture.md', import.meta.url)
const BEGIN =
  '<!-- Generated from test/architecture/layers.ts and the imports in src/ by test/architecture.test.ts; IAMRA_WRITE_ARCHITECTURE=1 npx tap test/architecture.test.ts rewrites it. -->'
const END = '<!-- End of the generated part. -->'

const graph = (arrows: Record<string, string[]>): Graph => new Map(Object.entries(arrows).map(([from, tos]) => [from, new Set(tos)]))

t.test('every kind of import is read, and only imports', async (t) => {
  const text = [
    "import a from './a.js'",
    "import type { B } from '../b/b.js'",
    "import { c, type C } from './c.js'",
    "export { d } from './d.js'",
    "export * from './e.js'",
    "import './f.js'",
    "const g = await import('./g.js')",
    "let h: typeof import('./h.js') | undefined",
    "import fs from 'node:fs'",
    "// import x from './comment.js'",
    'const s = "import y from \'./string.js\'"',
  ].join('\n')
  t.same(specifiersOf('x.ts', text), ['./a.js', '../b/b.js', './c.js', './d.js', './e.js', './f.js', './g.js', './h.js', 'node:fs'])
  t.throws(() => specifiersOf('x.ts', 'const m = "./m.js"\nawait import(m)'), /computed specifier/, 'an import() the test cannot follow is refused')
})

t.test('cycles are found in a small graph', async (t) => {
  t.same(cycles(graph({ a: ['b'], b: ['c'], c: [] })), [], 'a chain has none')
  t.same(cycles(graph({ a: ['b'], b: ['c'], c: ['a'], d: ['a'] })), [['a', 'b', 'c']], 'a three-file ring')
  t.same(cycles(graph({ a: ['a'] })), [['a']], 'a file importing itself')
  t.same(
    cycles(graph({ a: ['b'], b: ['a'], c: ['d'], d: ['c', 'a'] })),
    [
      ['a', 'b'],
      ['c', 'd'],
    ],
    'two rings, each reported once',
  )
})

t.test('the picture drops an arrow another path implies', async (t) => {
  t.same(transitiveReduction(graph({ a: ['b', 'c', 'd'], b: ['c'], c: [], d: [] })), graph({ a: ['b', 'd'], b: ['c'], c: [], d: [] }))
})

t.test('the file check fails on a cycle, passes a known arrow, and says when it can go', async (t) => {
  const files = graph({ 'x/a.ts': ['y/b.ts'], 'y/b.ts': ['x/a.ts'] })
  t.same(checkFiles(files, []), ['file import cycle: x/a.ts, y/b.ts'])
  t.same(checkFiles(files, [{ from: 'y/b.ts', to: 'x/a.ts', branch: 'fix', why: 'test' }]), [])
  const fixed = graph({ 'x/a.ts': ['y/b.ts'], 'y/b.ts': [] })
  t.match(checkFiles(fixed, [{ from: 'y/b.ts', to: 'x/a.ts', branch: 'fix', why: 'test' }]), [/is gone: take it off/])
  const oneWay = graph({ 'x/a.ts': [], 'y/b.ts': ['x/a.ts'] })
  t.match(checkFiles(oneWay, [{ from: 'y/b.ts', to: 'x/a.ts', branch: 'fix', why: 'test' }]), [/breaks no rule now/])
})

t.test('the folder check against a small layer table', async (t) => {
  const layers: Layer[] = [
    { name: 'top', folders: ['app'], role: '' },
    { name: 'middle', folders: ['svc', 'other'], role: '' },
    { name: 'bottom', folders: ['lib'], role: '' },
  ]
  t.same(checkFolders(graph({ app: ['svc', 'lib'], svc: ['other', 'lib'], other: ['lib'], lib: [] }), layers, []), [], 'down and sideways without a cycle')
  t.same(checkFolders(graph({ app: ['lib'], lib: ['app'] }), layers, []), ['lib -> app points up: bottom may not import top', 'folder import cycle: app, lib'])
  t.same(checkFolders(graph({ svc: ['other'], other: ['svc'] }), layers, []), ['folder import cycle: other, svc'], 'a cycle inside a layer')
  t.same(checkFolders(graph({ app: ['new'] }), layers, []), ['folder new is in no layer: add it to test/architecture/layers.ts'])
  t.same(checkFolders(graph({ lib: ['app'] }), layers, [{ from: 'lib', to: 'app', branch: 'fix', why: 'test' }]), [], 'a known break is tolerated')
  t.match(checkFolders(graph({ app: ['lib'], lib: [] }), layers, [{ from: 'lib', to: 'app', branch: 'fix', why: 'test' }]), [/lib -> app \(fix\) is gone/])
  t.match(checkFolders(graph({ app: ['lib'], lib: [] }), layers, [{ from: 'app', to: 'lib', branch: 'fix', why: 'test' }]), [
    /app -> lib \(fix\) breaks no rule now/,
  ])
})

const files = importGraph(SRC)
const folders = folderGraph(files)

t.test('src/ has no file import cycle', async (t) => {
  t.ok(files.size > 100, `read ${files.size} files`)
  t.same(checkFiles(files, KNOWN_FILE_BREAKS), [])
})

t.test('folder arrows in src/ only point down the layer table', async (t) => {
  t.same(checkFolders(folders, LAYERS, KNOWN_FOLDER_BREAKS), [])
})

t.test('an import from the bottom to the top of src/ is caught', async (t) => {
  const injected = new Map([...files].map(([f, deps]) => [f, new Set(deps)]))
  injected.get('errors.ts')?.add('cli/main.ts')
  t.match(checkFiles(injected, KNOWN_FILE_BREAKS), [/^file import cycle: .*cli\/main\.ts.*errors\.ts/])
  t.ok(checkFolders(folderGraph(injected), LAYERS, KNOWN_FOLDER_BREAKS).includes('errors -> cli points up: base may not import entry points'))
})

t.test('docs/architecture.md shows the layers and arrows src/ has', async (t) => {
  const doc = readFileSync(DOC, 'utf8')
  const start = doc.indexOf(BEGIN)
  const end = doc.indexOf(END)
  t.ok(start >= 0 && end > start, "the doc has the generated part's markers")
  const expected = `${BEGIN}\n${renderArchitecture(folders, LAYERS, KNOWN_FOLDER_BREAKS)}\n${END}`
  if (process.env.IAMRA_WRITE_ARCHITECTURE === '1' && start >= 0 && end > start) {
    writeFileSync(DOC, doc.slice(0, start) + expected + doc.slice(end + END.length))
    t.comment('rewrote the generated part of docs/architecture.md')
    return
  }
  t.equal(doc.slice(start, end + END.length), expected, 'up to date (IAMRA_WRITE_ARCHITECTURE=1 npx tap test/architecture.test.ts rewrites it)')
})
