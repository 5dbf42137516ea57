// Cold-start benchmark: median wall time of `iamra credential-process` against the local fake
// endpoint, next to `node -e 0` measured in the same run (interleaved, so drift hits both alike).
// Usage: node bench/credential-process.mjs [runs] [p256|mldsa44|mldsa65|mldsa87]   (npm run bench builds first)
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { benchIdentity } from './fixture.mjs'

const runs = Number(process.argv[2] ?? 30)
const keyType = process.argv[3] ?? 'p256'
const root = new URL('..', import.meta.url).pathname
const dir = mkdtempSync(join(tmpdir(), 'iamra-bench-'))
const { fake, args } = await benchIdentity(dir, keyType)

const iamra = [join(root, 'bin/iamra.mjs'), 'credential-process', ...args]
const baseline = ['-e', '0']

function time(args) {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint()
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'] })
    child.on('exit', (code) => (code === 0 ? resolve(Number(process.hrtime.bigint() - start) / 1e6) : reject(new Error(`exit ${code}`))))
  })
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

try {
  for (let i = 0; i < 3; i++) {
    // warm the page cache
    await time(iamra)
    await time(baseline)
  }
  const a = []
  const b = []
  for (let i = 0; i < runs; i++) {
    b.push(await time(baseline))
    a.push(await time(iamra))
  }
  const m = { iamra: median(a), node: median(b) }
  const result = {
    runs,
    key: keyType,
    nodeMedianMs: +m.node.toFixed(1),
    credentialProcessMedianMs: +m.iamra.toFixed(1),
    ratio: +(m.iamra / m.node).toFixed(2),
    target: 1.6,
    createSessionCalls: fake.calls.length,
  }
  console.log(JSON.stringify(result))
  if (result.ratio > result.target) process.exitCode = 1
} finally {
  await fake.close()
  rmSync(dir, { recursive: true, force: true })
}
