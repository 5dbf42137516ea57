// `npm run demo`: no AWS account needed. Makes a throw-away CA and client certificate, starts the
// built-in verifying fake Roles Anywhere endpoint, runs `iamra credential-process` against it, then
// binds a role, starts `iamra serve` and lets the AWS SDK for JavaScript fetch credentials through it.
import { execFile, spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { promisify } from 'node:util'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createCa, createLeaf, startFakeEndpoint } from '../dist/testing.mjs'

const root = new URL('..', import.meta.url).pathname
const dir = mkdtempSync(join(tmpdir(), 'iamra-demo-'))
const region = 'us-east-1'
const arn = (type, id) => `arn:aws:rolesanywhere:${region}:123456789012:${type}/${id}`
const trustAnchorArn = arn('trust-anchor', '0b3f6a2e-7c41-4d8e-9a15-3e2f6b8c9d01')
const profileArn = arn('profile', '6f1c2d3e-4a5b-4c6d-8e7f-901a2b3c4d5e')
const roleArn = 'arn:aws:iam::123456789012:role/iamra-demo'
const say = (line) => process.stderr.write(`demo: ${line}\n`)

const ca = await createCa({ name: 'iamra demo CA', key: 'p384' })
const client = await createLeaf({ name: 'demo-workload', key: 'p256', issuer: ca })
writeFileSync(join(dir, 'ca.pem'), ca.certPem)
writeFileSync(join(dir, 'client.pem'), client.certPem)
writeFileSync(join(dir, 'client.key'), client.keyPem, { mode: 0o600 })
say(`CA and client certificate in ${dir}`)

const fake = await startFakeEndpoint({ trustAnchors: [ca.certPem], region, trustAnchorArns: [trustAnchorArn], profileArns: [profileArn] })
say(`fake Roles Anywhere endpoint (verifies every signature) on ${fake.url}`)
const args = [
  'credential-process',
  '--certificate',
  join(dir, 'client.pem'),
  '--private-key',
  join(dir, 'client.key'),
  '--trust-anchor-arn',
  trustAnchorArn,
  '--profile-arn',
  profileArn,
  '--role-arn',
  roleArn,
  '--endpoint',
  fake.url,
]
say(`running: iamra ${args.join(' ')}`)
const iamra = (...a) => {
  const child = promisify(execFile)(process.execPath, [join(root, 'bin/iamra.mjs'), ...a], { encoding: 'utf8' })
  child.child.stderr.pipe(process.stderr)
  return child
}

/** Part 2: a binding, `iamra serve`, and the AWS JS SDK's container provider reading through it. */
async function throughTheServer() {
  const runDir = join(dir, 'run')
  const port = await new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = s.address().port
      s.close(() => resolve(p))
    })
  })
  say('binding role "demo-app" (validates with one CreateSession, writes run/env/demo-app)')
  await iamra(
    'bind',
    'demo-app',
    '--configuration-directory',
    runDir,
    '--url',
    `http://127.0.0.1:${port}`,
    '--certificate',
    join(dir, 'client.pem'),
    '--private-key',
    join(dir, 'client.key'),
    '--trust-anchor-arn',
    trustAnchorArn,
    '--profile-arn',
    profileArn,
    '--role-arn',
    roleArn,
    '--endpoint',
    fake.url,
  )
  const server = spawn(
    process.execPath,
    [join(root, 'bin/iamra.mjs'), 'serve', '--configuration-directory', runDir, '--listen', `127.0.0.1:${port}`, '--log-level', 'warn'],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  )
  try {
    for (let i = 0; i < 100; i++) {
      if (
        await fetch(`http://127.0.0.1:${port}/healthz`).then(
          (r) => r.ok,
          () => false,
        )
      )
        break
      await new Promise((r) => setTimeout(r, 50))
    }
    const envText = readFileSync(join(runDir, 'env/demo-app'), 'utf8')
    say(`env file for the consumer's EnvironmentFile= (token hidden):\n${envText.replace(/(iamra\.demo-app\.)[A-Za-z0-9_-]+/, '$1…')}`)
    for (const [k, v] of Object.entries(parseEnv(envText))) process.env[k] = v
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'
    const { fromHttp } = await import('@aws-sdk/credential-providers')
    const creds = await fromHttp({})()
    say(`AWS SDK for JavaScript v3 (fromHttp) got ${creds.accessKeyId} through iamra serve, expiring ${creds.expiration.toISOString()}`)
  } finally {
    server.kill('SIGTERM')
  }
}

function parseEnv(text) {
  return Object.fromEntries(
    text
      .trim()
      .split('\n')
      .map((l) => {
        const i = l.indexOf('=')
        const v = l.slice(i + 1)
        return [l.slice(0, i), v.startsWith('"') ? v.slice(1, -1).replace(/\\(.)/g, '$1') : v]
      }),
  )
}

try {
  const child = promisify(execFile)(process.execPath, [join(root, 'bin/iamra.mjs'), ...args], { encoding: 'utf8' })
  child.child.stderr.pipe(process.stderr)
  const { stdout } = await child
  process.stdout.write(`${stdout}\n`)
  await throughTheServer()
  say(`the fake endpoint accepted ${fake.calls.filter((c) => c.status === 201).length} signed CreateSession request(s); these credentials are fake`)
} catch (e) {
  say(`failed: ${e.message.split('\n')[0]}`)
  process.exitCode = 1
} finally {
  await fake.close()
  rmSync(dir, { recursive: true, force: true })
}
