// The credential_process lines of docs/ci.md, run as each CI system would hand over the secrets.
import t from 'tap'
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { BIN } from './helpers/cli.js'
import { PROFILE_ARN, ROLE_ARN, startScenario, TRUST_ANCHOR_ARN } from './helpers/scenario.js'

const doc = readFileSync(new URL('../docs/ci.md', import.meta.url), 'utf8')

function recipes(): Array<{ section: string; line: string }> {
  let section = ''
  const out: Array<{ section: string; line: string }> = []
  for (const l of doc.split('\n')) {
    const h = /^## (.+)$/.exec(l)
    if (h !== null) section = h[1] ?? ''
    const m = /^\s*credential_process = (iamra credential-process .+)$/.exec(l)
    if (m?.[1] !== undefined) out.push({ section, line: m[1] })
  }
  return out
}

t.test('every credential_process line of docs/ci.md gets credentials with the secrets as its CI hands them over', async (t) => {
  const s = await startScenario('p256')
  t.teardown(s.close)
  const home = mkdtempSync(join(tmpdir(), 'iamra-ci-home-'))
  t.teardown(() => rmSync(home, { recursive: true, force: true }))
  const fullchain = s.pki.leaf.certPem + s.pki.intermediate.certPem
  const key = s.pki.leaf.keyPem
  const b64 = (x: string) => Buffer.from(x).toString('base64')
  const shapes: Record<string, Record<string, string>> = {
    'GitHub Actions': { RA_CERTIFICATE: fullchain, RA_PRIVATE_KEY: key },
    'GitLab CI': { RA_CERTIFICATE: fullchain.replace(/\n/g, '\\n'), RA_PRIVATE_KEY_B64: b64(key) },
    'Azure DevOps': { RA_CERTIFICATE: fullchain, RA_PRIVATE_KEY_B64: b64(key) },
  }
  const found = recipes()
  t.same([...new Set(found.map((r) => r.section))], Object.keys(shapes), 'one recipe per CI system')
  for (const { section, line } of found) {
    const recipe = line
      .replace(/^iamra /, `'${process.execPath}' '${BIN}' `)
      .replace(/--trust-anchor-arn \S+/, `--trust-anchor-arn ${TRUST_ANCHOR_ARN}`)
      .replace(/--profile-arn \S+/, `--profile-arn ${PROFILE_ARN}`)
      .replace(/--role-arn \S+/, `--role-arn ${ROLE_ARN}`)
    const command = `${recipe} --endpoint ${s.fake.url}`
    for (const run of [1, 2]) {
      const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        execFile('bash', ['-c', command], { env: { PATH: process.env.PATH ?? '', HOME: home, ...shapes[section] }, timeout: 30_000 }, (err, stdout, stderr) =>
          resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr }),
        )
      })
      t.equal(r.code, 0, `${section}, run ${run}: exit 0 ${r.stderr}`)
      t.match(r.stdout, /^\{"Version":1,"AccessKeyId":"ASIA/, `${section}, run ${run}: credentials`)
      const lines = key.split('\n').filter((l) => l.length > 16 && !l.startsWith('-----'))
      t.notOk(
        lines.some((l) => (r.stdout + r.stderr).includes(l)),
        `${section}, run ${run}: no line of the key printed`,
      )
    }
  }
  t.equal(s.fake.calls.length, 3, 'the second run of each recipe is a --cache hit (one CreateSession per recipe)')
})
