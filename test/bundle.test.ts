// The shipped bundle: what `credential-process` loads (nothing heavy), and process-level behaviour.
import t from 'tap'
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { BIN, spawnCli } from './helpers/cli.js'
import { startScenario } from './helpers/scenario.js'

const RECORDER = fileURLToPath(new URL('./helpers/record-loads.mjs', import.meta.url))

t.test('credential-process loads only its own chunks and node builtins', async (t) => {
  const s = await startScenario('p256')
  t.teardown(s.close)
  const loadsFile = join(s.pki.dir, 'loads.txt')
  const out = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
    execFile(
      process.execPath,
      ['--import', RECORDER, BIN, 'credential-process', ...s.args],
      { env: { PATH: process.env.PATH ?? '', IAMRA_LOADS_FILE: loadsFile } },
      (err, stdout) => resolve({ code: err === null ? 0 : (err.code as number), stdout }),
    )
  })
  t.equal(out.code, 0)
  const urls = readFileSync(loadsFile, 'utf8').trim().split('\n')
  const files = urls.filter((u) => u.startsWith('file:')).map((u) => fileURLToPath(u))
  t.ok(
    files.every((f) => f.includes('/dist/') || f.endsWith('/bin/iamra.mjs')),
    'only bundle files, nothing from node_modules',
  )
  t.notOk(
    files.some((f) => f.endsWith('testing.mjs')),
    'not the testing kit',
  )
  const code = files.map((f) => readFileSync(f, 'utf8')).join('\n')
  // Strings only each library's code contains (names alone also appear in chunk file names).
  const markers: Record<string, string> = {
    '@peculiar/x509': 'tsyringe requires a reflect polyfill',
    fastify: 'FST_ERR_',
    yargs: 'Not enough non-option arguments',
    'prom-client': 'collectDefaultMetrics',
    '@noble/post-quantum (ML-DSA)': 'hash blockLen / outputLen must be >= 1',
    jose: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
  }
  for (const [lib, marker] of Object.entries(markers)) t.notOk(code.includes(marker), `no ${lib}`)
  t.notOk(
    files.some((f) => /\/(yargs-cli|serve|bind)-[A-Z0-9]+\.mjs$/.test(f)),
    'no server-side command chunk',
  )
  t.notOk(
    files.some((f) => /\/tpm-key-[A-Z0-9]+\.mjs$/.test(f)),
    'no TPM code for a file key',
  )
  const bytes = files.reduce((n, f) => n + readFileSync(f).length, 0)
  // 63,624 bytes before the rewiring of issue 9, which asks that it not grow: that is the bound. (The
  // rewiring's additions are paid for by loading sign-string and read-certificate-data, together, only
  // when they run, and by keeping esbuild's `require` banner off the chunks that never use it: 60,823
  // bytes in 18 files, against 63,624 in 17 before.)
  t.ok(bytes <= 63_624, `credential-process loads ${bytes} bytes of JavaScript`)
})

t.test('as a real process: stdout holds only the JSON, errors are one stderr line and an exit code', async (t) => {
  const s = await startScenario('p256')
  t.teardown(s.close)
  const ok = await spawnCli(['credential-process', ...s.args])
  t.equal(ok.code, 0)
  t.equal(ok.stderr, '')
  t.same(Object.keys(JSON.parse(ok.stdout) as object), ['Version', 'AccessKeyId', 'SecretAccessKey', 'SessionToken', 'Expiration'])
  t.notOk(ok.stdout.endsWith('\n'), 'no trailing newline, as the official helper')
  const bad = await spawnCli(['credential-process', ...s.args, '--session-duration', '10'])
  t.equal(bad.code, 2)
  t.match(bad.stderr, /^iamra: --session-duration must be a whole number of seconds from 900 to 43200, got "10" \[USAGE\]\n$/)
  const version = await spawnCli(['--version'])
  t.equal(version.stdout, `${(JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version}\n`)
})
