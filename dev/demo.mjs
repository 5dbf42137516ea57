// `npm run demo`: no AWS account needed. Makes a throw-away CA and client certificate, starts the
// built-in verifying fake Roles Anywhere endpoint, and runs `iamra credential-process` against it.
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
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
  '--certificate', join(dir, 'client.pem'), '--private-key', join(dir, 'client.key'),
  '--trust-anchor-arn', trustAnchorArn, '--profile-arn', profileArn, '--role-arn', roleArn,
  '--endpoint', fake.url,
]
say(`running: iamra ${args.join(' ')}`)
try {
  const child = promisify(execFile)(process.execPath, [join(root, 'bin/iamra.mjs'), ...args], { encoding: 'utf8' })
  child.child.stderr.pipe(process.stderr)
  const { stdout } = await child
  process.stdout.write(stdout + '\n')
  say(`the fake endpoint accepted ${fake.calls.filter((c) => c.status === 201).length} signed CreateSession request(s); these credentials are fake`)
} catch (e) {
  say(`iamra credential-process failed with exit code ${e.code}`)
  process.exitCode = 1
} finally {
  await fake.close()
  rmSync(dir, { recursive: true, force: true })
}
