// Cold-start benchmark: median wall time of `iamra credential-process` against the local fake
// endpoint, next to `node -e 0` measured in the same run (interleaved, so drift hits both alike).
// Usage: node bench/credential-process.mjs [runs] [p256|mldsa44|mldsa65|mldsa87]   (npm run bench builds first)
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createCa, createLeaf, createMlDsaCertificate, startFakeEndpoint } from '../dist/testing.mjs'

const runs = Number(process.argv[2] ?? 30)
const keyType = process.argv[3] ?? 'p256'
const root = new URL('..', import.meta.url).pathname
const dir = mkdtempSync(join(tmpdir(), 'iamra-bench-'))
const ta = 'arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/0b3f6a2e-7c41-4d8e-9a15-3e2f6b8c9d01'
const pr = 'arn:aws:rolesanywhere:us-east-1:123456789012:profile/6f1c2d3e-4a5b-4c6d-8e7f-901a2b3c4d5e'
const ca = await createCa({ name: 'bench CA', key: 'p256' })
const mlDsa = /^mldsa(44|65|87)$/.exec(keyType)
const leaf =
  mlDsa === null
    ? await createLeaf({ name: 'bench', key: keyType, issuer: ca })
    : await createMlDsaCertificate({ name: 'bench', level: Number(mlDsa[1]), issuer: ca })
writeFileSync(join(dir, 'c.pem'), leaf.certPem)
writeFileSync(join(dir, 'k.pem'), leaf.keyPem, { mode: 0o600 })
const fake = await startFakeEndpoint({ trustAnchors: [ca.certPem], region: 'us-east-1' })

const iamra = [
  join(root, 'bin/iamra.mjs'),
  'credential-process',
  '--certificate',
  join(dir, 'c.pem'),
  '--private-key',
  join(dir, 'k.pem'),
  '--trust-anchor-arn',
  ta,
  '--profile-arn',
  pr,
  '--role-arn',
  'arn:aws:iam::123456789012:role/bench',
  '--endpoint',
  fake.url,
]
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
