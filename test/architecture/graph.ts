/**
 * The import graph of src/ and the checks on it: which file imports which (static, type-only,
 * re-exports, `import()` and `import('…')` types), the folder graph that follows, cycles (Tarjan's
 * strongly connected components) and arrows pointing up the layer table.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join, normalize, sep } from 'node:path'
import ts from 'typescript'
import type { KnownBreak, Layer } from './layers.js'

export type Graph = ReadonlyMap<string, ReadonlySet<string>>

/** Every module specifier a TypeScript source names, in order of appearance. */
export function specifiersOf(fileName: string, text: string): string[] {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS)
  const found: string[] = []
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier !== undefined && ts.isStringLiteral(node.moduleSpecifier)) {
      found.push(node.moduleSpecifier.text)
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const [arg] = node.arguments
      if (arg === undefined || !ts.isStringLiteralLike(arg)) throw new Error(`${fileName}: import() of a computed specifier cannot be checked`)
      found.push(arg.text)
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      found.push(node.argument.literal.text)
    } else if (
      ts.isImportEqualsDeclaration(node) &&
      ts.isExternalModuleReference(node.moduleReference) &&
      ts.isStringLiteral(node.moduleReference.expression)
    ) {
      found.push(node.moduleReference.expression.text)
    }
    ts.forEachChild(node, visit)
  }
  visit(source)
  return found
}

/** The file graph of a source tree: paths relative to root, `/`-separated; packages and node: are left out. */
export function importGraph(root: string): Map<string, Set<string>> {
  const files = (readdirSync(root, { recursive: true }) as string[])
    .filter((f) => f.endsWith('.ts'))
    .map((f) => f.split(sep).join('/'))
    .sort()
  const graph = new Map<string, Set<string>>()
  for (const file of files) {
    const deps = new Set<string>()
    for (const spec of specifiersOf(file, readFileSync(join(root, file), 'utf8'))) {
      if (!spec.startsWith('./') && !spec.startsWith('../')) continue
      const target = normalize(join(dirname(file), spec))
        .split(sep)
        .join('/')
        .replace(/\.js$/, '.ts')
      if (target.startsWith('../') || !existsSync(join(root, target))) throw new Error(`${file}: '${spec}' is not a .ts file under ${root}`)
      deps.add(target)
    }
    graph.set(file, deps)
  }
  return graph
}

/** The folder a file of src/ belongs to: its first directory, or its name for a file at the top. */
export function folderOf(file: string): string {
  const slash = file.indexOf('/')
  return slash < 0 ? file.replace(/\.ts$/, '') : file.slice(0, slash)
}

/** Arrows between folders (none from a folder to itself). */
export function folderGraph(files: Graph): Map<string, Set<string>> {
  const folders = new Map<string, Set<string>>()
  for (const [file, deps] of files) {
    const from = folderOf(file)
    const arrows = folders.get(from) ?? new Set<string>()
    folders.set(from, arrows)
    for (const dep of deps) if (folderOf(dep) !== from) arrows.add(folderOf(dep))
  }
  return folders
}

/** The cycles: strongly connected components of two or more nodes, or one node importing itself. Sorted. */
export function cycles(graph: Graph): string[][] {
  const index = new Map<string, number>()
  const low = new Map<string, number>()
  const stack: string[] = []
  const onStack = new Set<string>()
  const found: string[][] = []
  let next = 0
  const connect = (v: string): void => {
    index.set(v, next)
    low.set(v, next)
    next++
    stack.push(v)
    onStack.add(v)
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        connect(w)
        low.set(v, Math.min(low.get(v) ?? 0, low.get(w) ?? 0))
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v) ?? 0, index.get(w) ?? 0))
      }
    }
    if (low.get(v) !== index.get(v)) return
    const component: string[] = []
    for (let w = stack.pop(); w !== undefined; w = stack.pop()) {
      onStack.delete(w)
      component.push(w)
      if (w === v) break
    }
    if (component.length > 1 || graph.get(v)?.has(v) === true) found.push(component.sort())
  }
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) connect(v)
  return found.sort((a, b) => (a[0] ?? '').localeCompare(b[0] ?? ''))
}

function without(graph: Graph, known: readonly KnownBreak[]): Map<string, Set<string>> {
  const skip = new Set(known.map((k) => `${k.from} -> ${k.to}`))
  return new Map([...graph].map(([from, tos]) => [from, new Set([...tos].filter((to) => !skip.has(`${from} -> ${to}`)))]))
}

/** The arrows no path of other arrows implies (for an acyclic graph, the fewest arrows with the same reach). */
export function transitiveReduction(graph: Graph): Map<string, Set<string>> {
  return new Map([...graph].map(([from, tos]) => [from, new Set([...tos].filter((to) => ![...tos].some((via) => via !== to && reaches(graph, via, to))))]))
}

function reaches(graph: Graph, from: string, to: string): boolean {
  const seen = new Set<string>()
  const todo = [from]
  for (let v = todo.pop(); v !== undefined; v = todo.pop()) {
    if (v === to) return true
    if (seen.has(v)) continue
    seen.add(v)
    todo.push(...(graph.get(v) ?? []))
  }
  return false
}

/** Known breaks that can go: the arrow is gone, or it breaks no rule any more. */
function staleBreaks(graph: Graph, known: readonly KnownBreak[], breaksLayering: (k: KnownBreak) => boolean, kind: string): string[] {
  return known.flatMap((k) => {
    if (graph.get(k.from)?.has(k.to) !== true) return [`known ${kind} ${k.from} -> ${k.to} (${k.branch}) is gone: take it off the known list`]
    if (!breaksLayering(k) && !reaches(graph, k.to, k.from))
      return [`known ${kind} ${k.from} -> ${k.to} (${k.branch}) breaks no rule now: take it off the known list`]
    return []
  })
}

/** Problems with a file graph: cycles, and known breaks that can go. Empty when all is well. */
export function checkFiles(files: Graph, known: readonly KnownBreak[]): string[] {
  return [...cycles(without(files, known)).map((c) => `file import cycle: ${c.join(', ')}`), ...staleBreaks(files, known, () => false, 'file arrow')]
}

/** Problems with a folder graph against the layer table. Empty when all is well. */
export function checkFolders(folders: Graph, layers: readonly Layer[], known: readonly KnownBreak[]): string[] {
  const rank = new Map<string, number>()
  const problems: string[] = []
  layers.forEach((layer, i) => {
    for (const f of layer.folders) {
      if (rank.has(f)) problems.push(`folder ${f} is in two layers`)
      rank.set(f, i)
    }
  })
  const nodes = new Set([...folders.keys(), ...[...folders.values()].flatMap((s) => [...s])])
  for (const f of [...nodes].sort()) if (!rank.has(f)) problems.push(`folder ${f} is in no layer: add it to test/architecture/layers.ts`)
  const upward = (from: string, to: string): boolean => (rank.get(to) ?? Infinity) < (rank.get(from) ?? -Infinity)
  const checked = without(folders, known)
  for (const [from, tos] of [...checked].sort(([a], [b]) => a.localeCompare(b))) {
    for (const to of [...tos].sort()) {
      if (upward(from, to)) problems.push(`${from} -> ${to} points up: ${layerOf(layers, from)} may not import ${layerOf(layers, to)}`)
    }
  }
  problems.push(...cycles(checked).map((c) => `folder import cycle: ${c.join(', ')}`))
  problems.push(...staleBreaks(folders, known, (k) => upward(k.from, k.to), 'folder arrow'))
  return problems
}

function layerOf(layers: readonly Layer[], folder: string): string {
  return layers.find((l) => l.folders.includes(folder))?.name ?? '?'
}

/** The generated part of docs/architecture.md: the layer table, a mermaid picture and the arrows. */
export function renderArchitecture(folders: Graph, layers: readonly Layer[], known: readonly KnownBreak[]): string {
  const knownBy = new Map(known.map((k) => [`${k.from} -> ${k.to}`, k]))
  const lines: string[] = ['| Layer | Folders under `src/` | Role |', '| --- | --- | --- |']
  for (const l of layers) lines.push(`| ${l.name} | ${l.folders.map((f) => `\`${f}\``).join(', ')} | ${l.role} |`)
  lines.push('', '```mermaid', 'flowchart TD')
  layers.forEach((l, i) => {
    lines.push(`  subgraph L${i}["${l.name}"]`, '    direction LR')
    for (const f of l.folders) lines.push(`    ${f}`)
    lines.push('  end')
  })
  const reduced = transitiveReduction(without(folders, known))
  for (const [from, tos] of [...reduced].sort(([a], [b]) => a.localeCompare(b))) for (const to of [...tos].sort()) lines.push(`  ${from} --> ${to}`)
  for (const k of known) lines.push(`  ${k.from} -. "known: ${k.branch}" .-> ${k.to}`)
  lines.push('```', '', 'The picture leaves out an arrow when a path of other arrows already leads there; every arrow, as the imports in `src/` have it:', '')
  for (const [from, tos] of [...folders].sort(([a], [b]) => a.localeCompare(b))) {
    if (tos.size === 0) continue
    lines.push(
      `- \`${from}\` → ${[...tos]
        .sort()
        .map((to) => (knownBy.has(`${from} -> ${to}`) ? `\`${to}\` (known, ${knownBy.get(`${from} -> ${to}`)?.branch} removes it)` : `\`${to}\``))
        .join(', ')}`,
    )
  }
  return lines.join('\n')
}
