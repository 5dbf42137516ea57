// The node agent end to end in a network namespace that owns 169.254.170.23 and fd00:ec2::23:
// `iamra serve --kubernetes-*` on its default addresses, the JWKS fetched over https from a
// stand-in API server (private CA, bearer token), and real clients (botocore, AWS CLI v1, JS SDK v3
// fromHttp and the default chain, Go SDK v2), each holding the projected token of its service
// account as the pod-identity webhook injects it. The orchestration runs inside the namespace
// (test/helpers/k8s-netns-run.mjs); this file prepares the inputs and checks the results.
import t from 'tap'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createCa, createLeaf } from '../src/testing/pki.js'
import { BIN } from './helpers/cli.js'
import { buildGoProbe } from './helpers/go-probe.js'
import { AUDIENCE, ISSUER, jwksOf, podToken, signingKey } from './helpers/k8s-issuer.js'
import { makePkiFiles } from './helpers/pki-files.js'
import { loopbackSetup, runInNamespace, unshareArgs } from './helpers/netns.js'
import { onPath } from './helpers/processes.js'
import { PROFILE_ARN, TRUST_ANCHOR_ARN } from './helpers/scenario.js'
import { BOTOCORE_PROBE, JS_PROBE, haveJsSdk, jsonLines, versionOf } from './helpers/server-process.js'

const ROLE_A = 'arn:aws:iam::111111111111:role/payments'
const ROLE_B = 'arn:aws:iam::222222222222:role/reports'
const RUNNER = new URL('./helpers/k8s-netns-run.mjs', import.meta.url).pathname
const KIT = new URL('../dist/testing.mjs', import.meta.url).pathname
const built = existsSync(new URL('../dist/iamra.mjs', import.meta.url))
const haveBotocore = versionOf('python3', ['-c', 'import boto3']) !== undefined
const cliV1 = onPath('aws') ? versionOf('aws', ['--version']) : undefined
const ASIA = /^ASIA[A-Z0-9]{16}$/
const short = (s: unknown): string => String(s).replace(/\s+/g, ' ').trim().slice(0, 240)

/** What test/helpers/k8s-netns-run.mjs writes to results.json. */
interface RunnerResults {
  steps: string[]
  serve: { log: string; exit: number | null }
  minted: Array<{ accessKeyId: string; roleArn: string; roleSessionName: string | null }>
  clients: Record<string, { sa: string; code: number; stdout: string; stderr: string }>
  stsSeen: string[]
  refusals: Record<string, string>
  jwksSeen: Array<string | null>
}

const ADDRESSES = { ipv4: ['169.254.170.23'], ipv6: ['fd00:ec2::23'] }

/** Why the namespace cannot be made here (`unshare -n`, so root), or undefined. */
function namespaceSupport(): string | undefined {
  if (!onPath('curl')) return 'curl is not installed'
  const ns = unshareArgs(ADDRESSES, [['-n']])
  return 'reason' in ns ? ns.reason : undefined
}

const why = !built ? 'dist/ is not built (npm run build)' : namespaceSupport()
if (why !== undefined) t.skip(`node agent in a network namespace: ${why}`, async () => {})
else {
  t.test('node agent on 169.254.170.23 and [fd00:ec2::23]: each client gets the role of its service account', async (t) => {
    const goBuild = buildGoProbe()
    const pki = await makePkiFiles('p256')
    t.teardown(pki.cleanup)
    const work = mkdtempSync(join(tmpdir(), 'iamra-k8s-netns-'))
    t.teardown(() => rmSync(work, { recursive: true, force: true }))
    for (const d of ['cfg', 'tokens', 'home']) mkdirSync(join(work, d))
    const podKey = signingKey('ES256')
    const nextKey = signingKey('RS256')
    const tokens: Record<string, string> = {
      payments: podToken(podKey, { namespace: 'shop', serviceAccount: 'payments', pod: 'payments-7d9c-abcde' }),
      reports: podToken(podKey, { namespace: 'shop', serviceAccount: 'reports', pod: 'reports-0' }),
      frontend: podToken(podKey, { namespace: 'shop', serviceAccount: 'frontend' }),
      'wrong-audience': podToken(podKey, { namespace: 'shop', serviceAccount: 'payments', audience: 'sts.amazonaws.com' }),
      rotated: podToken(nextKey, { namespace: 'shop', serviceAccount: 'payments', pod: 'payments-7d9c-fghij' }),
    }
    for (const [name, tok] of Object.entries(tokens)) writeFileSync(join(work, 'tokens', name), tok, { mode: 0o644 })
    writeFileSync(join(work, 'jwks.json'), JSON.stringify(jwksOf(podKey)))
    writeFileSync(join(work, 'jwks-rotated.json'), JSON.stringify(jwksOf(podKey, nextKey)))
    writeFileSync(join(work, 'agent-token'), 'agent-service-account-token')
    const ca = await createCa({ name: 'test cluster CA', key: 'p256' })
    const tls = await createLeaf({ name: 'kube-apiserver', key: 'p256', issuer: ca, serverNames: ['127.0.0.1'] })
    writeFileSync(join(work, 'ca.pem'), ca.certPem)
    writeFileSync(join(work, 'tls.pem'), tls.certPem)
    writeFileSync(join(work, 'tls.key'), tls.keyPem, { mode: 0o600 })

    const go = await goBuild
    if (go.kind === 'built') t.teardown(go.cleanup)
    t.not(go.kind, 'error', go.kind === 'error' ? go.reason : 'Go probe built or skipped')
    const clients = [
      ...(haveBotocore ? ['botocore'] : []),
      ...(cliV1?.startsWith('aws-cli/1.') === true ? ['cli-v1'] : []),
      ...(haveJsSdk() ? ['js', 'js-v6'] : []),
      ...(go.kind === 'built' ? ['go'] : []),
    ]
    if (!haveBotocore) t.skip('botocore/boto3 not installed', async () => {})
    if (!clients.includes('cli-v1')) t.skip(`AWS CLI v1 not installed (aws --version: ${cliV1 ?? 'absent'})`, async () => {})
    if (!haveJsSdk()) t.skip('@aws-sdk/credential-providers not installed', async () => {})
    if (go.kind === 'skip') t.skip(`Go SDK v2 probe: ${go.reason}`, async () => {})

    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '',
      NODE: process.execPath,
      BIN,
      W: work,
      PKI: pki.dir,
      TESTING_KIT: KIT,
      TA_ARN: TRUST_ANCHOR_ARN,
      PROFILE_ARN,
      ROLE_A,
      ROLE_B,
      ISSUER,
      AUDIENCE,
      TOKENS: join(work, 'tokens'),
      JWKS_FILE: join(work, 'jwks.json'),
      JWKS_ROTATED: join(work, 'jwks-rotated.json'),
      AGENT_TOKEN_FILE: join(work, 'agent-token'),
      CA_FILE: join(work, 'ca.pem'),
      TLS_CERT: join(work, 'tls.pem'),
      TLS_KEY: join(work, 'tls.key'),
      CLIENTS: clients.join(' '),
      BOTOCORE_PROBE,
      JS_PROBE,
      GO_PROBE: go.kind === 'built' ? go.path : '/nonexistent',
    }
    const setup = `${loopbackSetup(ADDRESSES)} && exec "$NODE" "$1"`
    const { code, out } = await runInNamespace(t, { unshareArgs: ['-n'], command: ['sh', '-c', setup, 'sh', RUNNER], env, timeoutMs: 150_000 })
    const resultsFile = join(work, 'results.json')
    const written = existsSync(resultsFile) ? (JSON.parse(readFileSync(resultsFile, 'utf8')) as Partial<RunnerResults>) : {}
    t.comment(`namespace run: ${(written.steps ?? []).join(' | ')}`)
    if (!t.equal(code, 0, `namespace runner: ${short(out)} ${short(written.serve?.log ?? '')}`)) return
    const results = written as RunnerResults // a runner that exited 0 wrote every field
    const minted = results.minted as Array<{ accessKeyId: string; roleArn: string; roleSessionName: string | null }>
    const roleOf = (ak: unknown): string | undefined => minted.find((m) => m.accessKeyId === ak)?.roleArn
    const expected: Record<string, string> = { payments: ROLE_A, reports: ROLE_B }
    const clientResult = (c: string): { sa: string; code: number; stdout: string; stderr: string } =>
      results.clients[c] ?? { sa: '', code: -1, stdout: '', stderr: `the runner wrote no result for ${c}` }

    if (clients.includes('botocore')) {
      const r = clientResult('botocore')
      const j = jsonLines(r.stdout)[0] ?? {}
      t.comment(`matrix agent botocore: ${j.ok === true ? 'ok' : `fails (${short(j.error ?? r.stderr)})`}`)
      t.equal(j.ok, true, `botocore: ${short(j.error ?? r.stderr)}`)
      t.equal(j.method, 'container-role')
      t.equal(roleOf(j.ak), expected[r.sa], "botocore got its service account's role")
    }
    if (clients.includes('cli-v1')) {
      const r = clientResult('cli-v1')
      t.comment(`matrix agent cli-v1: ${r.code === 0 ? 'ok' : `fails (exit ${r.code}: ${short(r.stderr)})`}`)
      t.equal(r.code, 0, `AWS CLI v1: ${short(r.stderr)}`)
      const signedWith = (results.stsSeen as string[])[0]
      t.match(signedWith, ASIA)
      t.equal(roleOf(signedWith), expected[r.sa], "AWS CLI v1 signed with its service account's role")
    }
    if (clients.includes('js')) {
      const r = clientResult('js')
      for (const p of ['http', 'chain']) {
        const j = jsonLines(r.stdout).find((x) => x.provider === p) ?? {}
        t.comment(`matrix agent js-${p}: ${j.ok === true ? 'ok' : `fails (${short(j.message ?? r.stderr)})`}`)
        t.equal(j.ok, true, `JS ${p}: ${short(j.message ?? r.stderr)}`)
        t.equal(roleOf(j.ak), expected[r.sa], `JS ${p} got its service account's role`)
        // fromHttp in this version does not read AccountId (botocore and the Go SDK do).
        t.ok(j.accountId === null || j.accountId === '111111111111', `JS ${p}: accountId ${String(j.accountId)}`)
      }
      const v6 = clientResult('js-v6')
      const j = jsonLines(v6.stdout)[0] ?? {}
      t.comment(`matrix agent js-http over [fd00:ec2::23]: ${j.ok === true ? 'ok' : `fails (${short(j.message ?? v6.stderr)})`}`)
      t.equal(j.ok, true, `JS fromHttp over IPv6: ${short(j.message ?? v6.stderr)}`)
      t.equal(roleOf(j.ak), expected[v6.sa])
    }
    if (clients.includes('go')) {
      const r = clientResult('go')
      const j = jsonLines(r.stdout)[0] ?? {}
      const version = go.kind === 'built' ? go.credentialsVersion : '?'
      t.comment(`matrix agent go (credentials ${version}): ${j.ok === true ? 'ok' : `fails (${short(j.error ?? r.stderr)})`}`)
      if (j.ok === true) t.equal(roleOf(j.ak), expected[r.sa], "Go got its service account's role")
      else {
        // Debian's SDK predates AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE and the 169.254.170.23 host
        // (deployment spec §A.4: Go v2 needs release-2023-11-14): it fails before or at the agent.
        t.match(
          String(j.error),
          /TOKEN_MISSING|unsupported host|invalid endpoint host|not a loopback|failed to load|401/i,
          'Go: the documented failure of an SDK too old for pod identity',
        )
      }
    }
    t.same(
      results.refusals,
      { wrongAudience: '403', unbound: '403', foreignHost: '403', noToken: '401', rotated: '200' },
      'refusals and JWKS rotation from inside the namespace',
    )
    t.ok((results.jwksSeen as Array<string | null>).length >= 2, 'the JWKS was fetched at start and again for the rotated key')
    t.ok(
      (results.jwksSeen as Array<string | null>).every((h) => h === 'Bearer agent-service-account-token'),
      "with the agent's bearer token",
    )
    t.ok(
      minted.every((m) => m.roleSessionName !== null && /^shop\.(payments|reports)-/.test(m.roleSessionName)),
      `session names name the pod: ${minted.map((m) => m.roleSessionName).join(', ')}`,
    )
    const log = String(results.serve.log)
    t.match(log, /serving Kubernetes pod credentials \(issuer [^)]+\) on 169\.254\.170\.23:80, \[fd00:ec2::23\]:80/, 'default addresses')
    for (const tok of Object.values(tokens)) t.notOk(log.includes(tok.split('.')[2] as string), 'no token signature in the agent log')
    t.equal(results.serve.exit, 0, 'the agent stopped cleanly on SIGTERM')
  })
}
