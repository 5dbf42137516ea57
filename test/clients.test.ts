// Real AWS clients using `iamra credential-process` as their credential_process (the built bundle).
import t from 'tap'
import { execFile, spawnSync } from 'node:child_process'
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { stsMinter } from '../src/testing/fake-endpoint/sts-mint.js'
import { BIN } from './helpers/cli.js'
import { startMoto } from './helpers/moto.js'
import { onPath } from './helpers/processes.js'
import { startScenario } from './helpers/scenario.js'

const haveBoto3 = spawnSync('python3', ['-c', 'import boto3'], { stdio: 'ignore' }).status === 0
const built = existsSync(new URL('../dist/iamra.mjs', import.meta.url))

/** Runs a client with nothing from the real environment but PATH and the given variables. */
function isolated(cmd: string, args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      cmd,
      args,
      {
        env: {
          PATH: process.env.PATH ?? '',
          HOME: env.HOME ?? '/nonexistent',
          AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
          AWS_EC2_METADATA_DISABLED: 'true',
          AWS_DEFAULT_REGION: 'us-east-1',
          ...env,
        },
        timeout: 60_000,
      },
      (err, stdout, stderr) => resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr }),
    )
  })
}

/** An AWS config file whose default profile runs iamra credential-process with the given arguments. */
function configFile(dir: string, args: string[]): string {
  const path = join(dir, 'aws-config')
  writeFileSync(path, `[default]\ncredential_process = ${process.execPath} ${BIN} credential-process ${args.join(' ')}\n`)
  return path
}

t.test('prerequisites', async (t) => {
  t.ok(built, 'dist/ is built (npm test builds it; run `npm run build` before running tap alone)')
})

if (!haveBoto3) t.skip('boto3 is not installed: python3 -c "import boto3" failed', async () => {})
else {
  t.test('boto3 reads credentials from iamra credential-process', async (t) => {
    const s = await startScenario('p384')
    t.teardown(s.close)
    const cfg = configFile(s.pki.dir, s.args)
    const py =
      'import boto3; c=boto3.Session().get_credentials(); f=c.get_frozen_credentials(); print(c.method, f.access_key, bool(f.token), c._expiry_time.isoformat())'
    const r = await isolated('python3', ['-c', py], { AWS_CONFIG_FILE: cfg })
    t.equal(r.code, 0, r.stderr)
    t.match(r.stdout, /^custom-process ASIA[A-Z0-9]+ True \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00\n$/)
    t.equal(s.fake.calls.filter((c) => c.status === 201).length, 1)
  })
}

if (!onPath('aws')) t.skip('AWS CLI v1 (aws) is not on PATH', async () => {})
else if (!onPath('moto_server')) t.skip('moto_server is not installed', async () => {})
else {
  t.test('AWS CLI v1 + moto: the vended credentials are real and name the assumed role', async (t) => {
    const moto = await startMoto(t)
    if (moto === undefined) return
    const s = await startScenario('rsa2048', { mint: stsMinter({ endpoint: moto.endpoint, ...moto.broker }) })
    t.teardown(s.close)
    const args = s.args.map((a) => (a === 'arn:aws:iam::123456789012:role/iamra-test' ? moto.roleArn : a))
    const cfg = configFile(s.pki.dir, [...args, '--role-session-name', 'e2e'])
    const list = await isolated('aws', ['configure', 'list'], { AWS_CONFIG_FILE: cfg })
    t.match(list.stdout, /access_key\s+\*+[A-Z0-9]{4}\s+custom-process/, 'the CLI sees a custom-process credential')
    const who = await isolated('aws', ['sts', 'get-caller-identity', '--endpoint-url', moto.endpoint, '--output', 'json'], { AWS_CONFIG_FILE: cfg })
    t.equal(who.code, 0, who.stderr)
    const id = JSON.parse(who.stdout || '{}') as { Arn?: string; Account?: string }
    t.equal(id.Arn, 'arn:aws:sts::123456789012:assumed-role/test-role/e2e')
    t.equal(id.Account, '123456789012')

    const broken = configFile(s.pki.dir, [...args.slice(0, -1), 'http://127.0.0.1:1', '--timeout', '1'])
    const failed = await isolated('aws', ['sts', 'get-caller-identity', '--endpoint-url', moto.endpoint], { AWS_CONFIG_FILE: broken })
    t.not(failed.code, 0, 'a failing credential process fails the command')
    t.match(failed.stderr, /cannot reach 127\.0\.0\.1:1/, "and the CLI shows iamra's one-line reason")
  })
}
