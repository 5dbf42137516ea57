// Clock, environment and randomness come in from the entry points: below them, nothing reads Date.now(),
// new Date(), process.env, Math.random or node:crypto's random sources (src/runtime.ts says why).
import t from 'tap'
import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import ts from 'typescript'

const ROOT = new URL('..', import.meta.url).pathname

/**
 * The composition roots: the only files that build the real Runtime (src/runtime.ts).
 * - src/cli/process.ts: the process entry of the `iamra` command (bin/iamra.mjs, the single executables);
 *   it builds the CliContext every command gets.
 * - src/library/index.ts: the library's entry (`import { fromRolesAnywhere } from 'iamra'`); a caller's
 *   process.env is read when fromRolesAnywhere is called, unless the caller passes `env`.
 * - src/testing/kit-runtime.ts: the testing kit's (`iamra/testing`) default runtime: tests and users call
 *   the kit's functions (createCa, startFakeEndpoint, ...) directly, with no root above them; each of them
 *   also takes a runtime of its caller's. Only src/testing/ may import it.
 */
const ENTRY_POINTS = ['src/cli/process.ts', 'src/library/index.ts', 'src/testing/kit-runtime.ts']

/** node:crypto's random sources, however imported. */
const RANDOM_SOURCES = new Set(['randomBytes', 'randomUUID', 'randomInt', 'randomFill', 'randomFillSync', 'getRandomValues', 'pseudoRandomBytes'])

export interface Finding {
  readonly line: number
  readonly what: string
}

/** Every read of the real clock, environment or randomness in one TypeScript source. */
export function findAmbientReads(source: string, fileName = 'file.ts'): Finding[] {
  const sf = ts.createSourceFile(fileName, source, ts.ScriptTarget.ES2022, true)
  const found: Finding[] = []
  const add = (node: ts.Node, what: string): void => void found.push({ line: sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1, what })
  const text = (e: ts.Expression): string => e.getText(sf).replace(/\s+/g, '')
  const visit = (node: ts.Node): void => {
    if (ts.isPropertyAccessExpression(node) || ts.isElementAccessExpression(node)) {
      const name = ts.isPropertyAccessExpression(node) ? node.name.text : ts.isStringLiteral(node.argumentExpression) ? node.argumentExpression.text : ''
      const object = text(node.expression)
      if (object === 'Date' && name === 'now') add(node, 'Date.now')
      if (object === 'Math' && name === 'random') add(node, 'Math.random')
      if (/^(globalThis\.)?process$/.test(object) && name === 'env') add(node, 'process.env')
      if (/^(globalThis\.)?(crypto|webcrypto|\w+\.webcrypto)$/.test(object) && RANDOM_SOURCES.has(name)) add(node, `${object}.${name}`)
    }
    if (ts.isNewExpression(node) && text(node.expression) === 'Date' && (node.arguments === undefined || node.arguments.length === 0)) add(node, 'new Date()')
    if (ts.isCallExpression(node) && text(node.expression) === 'Date') add(node, 'Date()')
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier) && /^(node:)?crypto$/.test(node.moduleSpecifier.text)) {
      const bindings = node.importClause?.namedBindings
      if (bindings !== undefined && ts.isNamedImports(bindings)) {
        for (const el of bindings.elements) {
          const imported = (el.propertyName ?? el.name).text
          if (RANDOM_SOURCES.has(imported)) add(el, `import { ${imported} } from '${node.moduleSpecifier.text}'`)
        }
      }
    }
    ts.forEachChild(node, visit)
  }
  visit(sf)
  return found
}

/** Files importing the given module (a path relative to the repository), by their relative import specifiers. */
function importsOf(source: string, fileName: string): string[] {
  const sf = ts.createSourceFile(fileName, source, ts.ScriptTarget.ES2022, true)
  const out: string[] = []
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier !== undefined && ts.isStringLiteral(node.moduleSpecifier))
      out.push(node.moduleSpecifier.text)
    if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] !== undefined &&
      ts.isStringLiteral(node.arguments[0])
    )
      out.push(node.arguments[0].text)
    ts.forEachChild(node, visit)
  }
  visit(sf)
  return out
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = join(dir, d.name)
    return d.isDirectory() ? sourceFiles(p) : d.name.endsWith('.ts') && !d.name.endsWith('.d.ts') ? [p] : []
  })
}

/** Files (outside the entry points) that read the real clock, environment or randomness. */
export function violations(srcRoot: string): Map<string, Finding[]> {
  const out = new Map<string, Finding[]>()
  for (const file of sourceFiles(join(srcRoot, 'src'))) {
    const rel = relative(srcRoot, file)
    if (ENTRY_POINTS.includes(rel)) continue
    const found = findAmbientReads(readFileSync(file, 'utf8'), file)
    if (found.length > 0) out.set(rel, found)
  }
  return out
}

t.test('the scanner finds each kind of ambient read, however spelled', async (t) => {
  const bad = [
    "import { randomBytes, randomUUID as id } from 'node:crypto'",
    "import { randomInt } from 'crypto'",
    'const a = Date.now()',
    'const b = Date.now',
    'const c = new Date()',
    'const d = new Date',
    'const e = Date()',
    'const f = process.env.HOME',
    "const g = process['env']",
    'const h = globalThis.process.env',
    'const i = Math.random()',
    'const j = [1].map(Math.random)',
    'const k = crypto.randomUUID()',
    'const l = crypto.getRandomValues(new Uint8Array(4))',
    'const m = webcrypto.getRandomValues(new Uint8Array(4))',
  ].join('\n')
  t.same(
    findAmbientReads(bad).map((f) => f.what),
    [
      "import { randomBytes } from 'node:crypto'",
      "import { randomUUID } from 'node:crypto'",
      "import { randomInt } from 'crypto'",
      'Date.now',
      'Date.now',
      'new Date()',
      'new Date()',
      'Date()',
      'process.env',
      'process.env',
      'process.env',
      'Math.random',
      'Math.random',
      'crypto.randomUUID',
      'crypto.getRandomValues',
      'webcrypto.getRandomValues',
    ],
  )
  const fine = [
    "import { createHash, timingSafeEqual, webcrypto } from 'node:crypto'",
    'const a = new Date(ms)',
    'const b = new Date(now().getTime() + 1000)',
    'const c = ctx.now()',
    'const d = ctx.env.HOME',
    'const e = deps.random()',
    'const f = runtime.randomBytes(16)',
    'const g = Date.parse("2026-01-01")',
    'const h = webcrypto.subtle',
    '// Date.now() and process.env in a comment',
    "const i = 'Math.random() in a string'",
  ].join('\n')
  t.same(findAmbientReads(fine), [], 'injected sources, fixed dates, comments and strings are fine')
})

t.test('outside the entry points, nothing reads the real clock, environment or randomness', async (t) => {
  const found = violations(ROOT)
  for (const [file, list] of found) {
    t.fail(`${file} reads ${list.map((f) => `${f.what} (line ${f.line})`).join(', ')}: take it from the entry point's Runtime (src/runtime.ts) instead`)
  }
  for (const entry of ENTRY_POINTS) t.ok(sourceFiles(join(ROOT, 'src')).includes(join(ROOT, entry)), `${entry} exists`)
})

t.test("the testing kit's real runtime is imported from the kit only", async (t) => {
  const importers = sourceFiles(join(ROOT, 'src'))
    .filter((file) => !relative(ROOT, file).startsWith('src/testing/'))
    .filter((file) => importsOf(readFileSync(file, 'utf8'), file).some((s) => /kit-runtime(\.js)?$/.test(s)))
    .map((file) => relative(ROOT, file))
  t.same(importers, [], 'no file outside src/testing/ imports src/testing/kit-runtime.ts')
})

t.test('a tree whose deep modules read the clock, env or randomness fails the walk (as main did before this change)', async (t) => {
  // The same walk over a small tree shaped like the old one: each deep module is reported, the entry point is not.
  const dir = t.testdir({
    src: {
      cli: { 'process.ts': 'export const env = process.env\n' },
      fs: { 'lock.ts': "import { randomBytes } from 'node:crypto'\nexport const t = () => new Date()\n" },
      server: { 'authorize.ts': "import { randomBytes } from 'node:crypto'\nexport const DUMMY = randomBytes(64)\n" },
      imds: { 'token-store.ts': 'export const now = Date.now\n' },
    },
  })
  t.same(
    [...violations(dir).keys()].sort(),
    ['src/fs/lock.ts', 'src/imds/token-store.ts', 'src/server/authorize.ts'],
    'entry points are allowed, the deep modules are not',
  )
})
