// credential-process --cache: reuse across processes, one CreateSession for parallel invocations, safe files.
import t from 'tap'
import { execFile } from 'node:child_process'
import { chmodSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createLeaf } from '../src/testing/pki.js'
import { BIN, runCli, spawnCli } from './helpers/cli.js'
import { onPath } from './helpers/processes.js'
import { startScenario } from './helpers/scenario.js'

t.test('reuse, renewal, file modes', async (t) => {
  const s = await startScenario('p256')
  t.teardown(s.close)
  const cacheDir = join(s.pki.dir, 'cache')
  const args = ['credential-process', ...s.args, '--cache', '--cache-dir', cacheDir]
  const first = await runCli(args)
  t.equal(first.code, 0, first.stderr)
  const second = await runCli(args)
  t.equal(second.stdout, first.stdout, 'the same credentials the second time')
  t.equal(s.fake.calls.length, 1, 'one CreateSession')
  t.equal(statSync(cacheDir).mode & 0o777, 0o700)
  const files = readdirSync(cacheDir).filter((f) => f.endsWith('.json'))
  t.equal(files.length, 1)
  t.equal(statSync(join(cacheDir, files[0] ?? '')).mode & 0o777, 0o600)
  t.notOk(
    readdirSync(cacheDir).some((f) => f.endsWith('.lock')),
    'no lock left behind',
  )

  const entry = join(cacheDir, files[0] ?? '')
  const aged = {
    ...(JSON.parse(readFileSync(entry, 'utf8')) as object),
    expiration: new Date(Date.now() + 15 * 60_000).toISOString(),
    fetchedAt: Date.now() - 45 * 60_000,
  }
  writeFileSync(entry, JSON.stringify(aged))
  t.equal((await runCli(args)).code, 0)
  t.equal(s.fake.calls.length, 2, 'less than 20 minutes left: refreshed')
  writeFileSync(entry, '{ damaged')
  t.equal((await runCli(args)).code, 0, 'a damaged entry is replaced')
  t.equal(s.fake.calls.length, 3)
  await runCli(['credential-process', ...s.args, '--cache', '--cache-dir', cacheDir, '--session-duration', '900'])
  t.equal(s.fake.calls.length, 4, 'other request parameters: another entry')
  const renewed = await createLeaf({ name: 'iamra test client', key: 'p256', issuer: s.pki.intermediate })
  writeFileSync(s.pki.path('leaf.pem'), renewed.certPem)
  writeFileSync(s.pki.path('key.pem'), renewed.keyPem)
  t.not((await runCli(args)).stdout, first.stdout, 'a renewed certificate is a new entry')
  t.equal(s.fake.calls.length, 5)
  chmodSync(cacheDir, 0o755)
  await runCli(args)
  t.equal(statSync(cacheDir).mode & 0o777, 0o700, 'a loose directory mode is tightened')
  const missing = await runCli([
    'credential-process',
    ...s.args.map((a) => (a.endsWith('key.pem') ? '/nonexistent/key.pem' : a)),
    '--cache',
    '--cache-dir',
    cacheDir,
  ])
  t.equal(missing.code, 3, 'an unreadable key is still reported as such')
})

t.test('20 parallel processes, one CreateSession', async (t) => {
  const s = await startScenario('p256')
  t.teardown(s.close)
  const cacheDir = join(s.pki.dir, 'cache')
  const results = await Promise.all(Array.from({ length: 20 }, () => spawnCli(['credential-process', ...s.args, '--cache', '--cache-dir', cacheDir])))
  t.ok(
    results.every((r) => r.code === 0),
    'all succeed',
  )
  t.equal(new Set(results.map((r) => r.stdout)).size, 1, 'all print the same credentials')
  t.equal(s.fake.calls.length, 1, 'exactly one CreateSession')
})

if (!onPath('aws')) t.skip('AWS CLI v1 (aws) is not on PATH', async () => {})
else {
  t.test('20 parallel aws commands with credential_process --cache: one CreateSession', async (t) => {
    const s = await startScenario('p256')
    t.teardown(s.close)
    const cfg = s.pki.write(
      'aws-config',
      `[default]\ncredential_process = ${process.execPath} ${BIN} credential-process ${s.args.join(' ')} --cache --cache-dir ${join(s.pki.dir, 'cache')}\n`,
    )
    const env = {
      PATH: process.env.PATH ?? '',
      HOME: s.pki.dir,
      AWS_CONFIG_FILE: cfg,
      AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_DEFAULT_REGION: 'us-east-1',
    }
    const run = () =>
      new Promise<{ code: number; out: string }>((resolve) =>
        execFile('aws', ['configure', 'list'], { env, timeout: 60_000 }, (err, out) => resolve({ code: err === null ? 0 : 1, out })),
      )
    const results = await Promise.all(Array.from({ length: 20 }, run))
    t.ok(
      results.every((r) => r.code === 0 && /custom-process/.test(r.out)),
      'every aws command got credentials from the process',
    )
    t.equal(s.fake.calls.length, 1, 'exactly one CreateSession for 20 aws commands')
  })
}
