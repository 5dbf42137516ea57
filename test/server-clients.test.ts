// End to end: `iamra bind` + `iamra serve` (a real process under systemd-socket-activate, loopback)
// + real AWS clients (botocore, AWS CLI v1 with moto, AWS CLI v2, JS SDK v3, Go SDK v2) in isolated
// environments, for the full-URI modes. Expected outcomes follow docs/sdk-protocols (copied in
// /work/shared/spec/sdk-protocols.md): where a client version cannot work with a mode, the
// documented failure is asserted. The `matrix` comments feed docs/compatibility.md.
import t, { type Test } from 'tap'
import { randomBytes, type X509Certificate } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { stsMinter } from '../src/testing/fake-endpoint/sts-mint.js'
import { createLeaf } from '../src/testing/pki.js'
import { BIN, spawnCli } from './helpers/cli.js'
import { buildGoProbe, type GoProbe } from './helpers/go-probe.js'
import { startMoto, type Moto } from './helpers/moto.js'
import { freePort, onPath } from './helpers/processes.js'
import { ROLE_ARN, startScenario } from './helpers/scenario.js'
import {
  BOTOCORE_PROBE,
  CLI_V2,
  JS_PROBE,
  credentialProcessHasEnvFile,
  haveJsSdk,
  isolatedEnv,
  packageVersion,
  readEnvFile,
  runIsolated,
  startActivatedServer,
  versionOf,
  type ActivatedServer,
  type ClientResult,
} from './helpers/server-process.js'

const FULL_MODES = ['ecs-full', 'ecs-full-query', 'ecs-full-token-file'] as const
type FullMode = (typeof FULL_MODES)[number]
type ClientId = 'botocore' | 'cli-v1' | 'cli-v2' | 'js-http' | 'js-container' | 'js-chain' | 'go'

const built = existsSync(new URL('../dist/iamra.mjs', import.meta.url))
const botocoreVersion = versionOf('python3', ['-c', 'import boto3, botocore; print(botocore.__version__)'])
const cliV1Version = onPath('aws') ? versionOf('aws', ['--version']) : undefined
const haveCliV1 = cliV1Version?.startsWith('aws-cli/1.') === true
const cliV2Version = existsSync(CLI_V2) ? versionOf(CLI_V2, ['--version']) : undefined
const haveCliV2 = cliV2Version?.startsWith('aws-cli/2.') === true
const haveJs = haveJsSdk()
const haveMoto = onPath('moto_server')
const haveActivate = onPath('systemd-socket-activate')

const ASIA = /^ASIA[A-Z0-9]{16}$/
const ACCOUNT = '123456789012'
const decimalSerial = (cert: X509Certificate): string => BigInt(`0x${cert.serialNumber}`).toString(10)
const randomSecret = (): string => randomBytes(64).toString('base64url')
const short = (s: string): string => s.replace(/\s+/g, ' ').trim().slice(0, 220)

/** Replaces a file by rename, as a certificate renewal tool would. */
function replaceAtomically(path: string, content: string): void {
  const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`
  writeFileSync(tmp, content, { mode: 0o600 })
  renameSync(tmp, path)
}

/** What each client should do in each mode (docs/sdk-protocols §1.1, §4). `fail` holds the expected error text. */
const EXPECTED: Record<FullMode, Partial<Record<ClientId, { fail: RegExp; why: string }>>> = {
  'ecs-full': {},
  'ecs-full-query': {},
  'ecs-full-token-file': {
    'cli-v2': {
      fail: /non 200 response \(401\).*TOKEN_MISSING/s,
      why: 'CLI v2 2.9.19 reads AWS_CONTAINER_AUTHORIZATION_TOKEN only, no token file: no Authorization header, 401',
    },
    'js-container': { fail: /Error response received from instance metadata service/, why: 'legacy fromContainerMetadata reads the env token only: 401' },
    go: { fail: /TOKEN_MISSING/, why: 'Go SDK v2 credentials 1.12.23 reads the env token only: 401' },
  },
}

/** A client's outcome reduced to ok + detail, for the matrix and the assertions. */
interface Outcome {
  readonly ok: boolean
  readonly detail: string
  readonly fields: Record<string, unknown>
}

function outcomeOf(client: ClientId, r: ClientResult): Outcome {
  if (client.startsWith('js-')) {
    const line = r.json.find((j) => j.provider === client.slice(3)) ?? {}
    return {
      ok: line.ok === true,
      detail: line.ok === true ? `ok ${String(line.ak)}` : `${String(line.name)}: ${String(line.message)} (code ${String(line.code)})`,
      fields: line,
    }
  }
  if (client === 'cli-v2') {
    const j = r.json[0] ?? {}
    return {
      ok: r.code === 0 && typeof j.AccessKeyId === 'string',
      detail: r.code === 0 ? `ok ${String(j.AccessKeyId)}` : `exit ${r.code}: ${short(r.stderr)}`,
      fields: j,
    }
  }
  if (client === 'cli-v1') {
    const j = r.json[0] ?? {}
    return { ok: r.code === 0 && typeof j.Arn === 'string', detail: r.code === 0 ? `ok ${String(j.Arn)}` : `exit ${r.code}: ${short(r.stderr)}`, fields: j }
  }
  const j = r.json[0] ?? {}
  return {
    ok: j.ok === true && r.code === 0,
    detail: j.ok === true ? `ok ${String(j.ak)}` : `exit ${r.code}: ${short(String(j.error ?? r.stderr))}`,
    fields: j,
  }
}

interface Clients {
  readonly go: GoProbe
  readonly moto: Moto | undefined
}

/** Runs every installed client against one env (concurrently in two groups: Python-based, then JS and Go). */
async function runAll(c: Clients, vars: Record<string, string>, home: string): Promise<Map<ClientId, ClientResult>> {
  const env = isolatedEnv(home, vars)
  const out = new Map<ClientId, ClientResult>()
  const groupA: Array<Promise<void>> = []
  if (botocoreVersion !== undefined) groupA.push(runIsolated('python3', [BOTOCORE_PROBE], env).then((r) => void out.set('botocore', r)))
  if (haveCliV1 && c.moto !== undefined) {
    groupA.push(
      runIsolated('aws', ['sts', 'get-caller-identity', '--endpoint-url', c.moto.endpoint, '--output', 'json'], env).then((r) => void out.set('cli-v1', r)),
    )
  }
  if (haveCliV2) groupA.push(runIsolated(CLI_V2, ['configure', 'export-credentials', '--format', 'process'], env).then((r) => void out.set('cli-v2', r)))
  await Promise.all(groupA)
  const groupB: Array<Promise<void>> = []
  if (haveJs) {
    const providers = ['http', 'container', 'chain']
    groupB.push(
      runIsolated(process.execPath, [JS_PROBE, ...providers], env).then((r) => {
        for (const p of providers) out.set(`js-${p}` as ClientId, r)
      }),
    )
  }
  if (c.go.kind === 'built') groupB.push(runIsolated(c.go.path, [], env).then((r) => void out.set('go', r)))
  await Promise.all(groupB)
  return out
}

/** A visible skip for each client that is not on this machine. */
function skipMissing(t: Test, c: Clients, what: string): void {
  if (botocoreVersion === undefined) t.skip(`${what}: botocore/boto3 not installed (python3 -c "import boto3" failed)`, async () => {})
  if (!haveCliV1) t.skip(`${what}: AWS CLI v1 not installed (\`aws --version\` is not aws-cli/1.x)`, async () => {})
  else if (c.moto === undefined) t.skip(`${what}: AWS CLI v1 sts test needs moto_server, which is not installed`, async () => {})
  if (!haveCliV2) t.skip(`${what}: AWS CLI v2 not installed at ${CLI_V2} (apt-get install awscli)`, async () => {})
  if (!haveJs) t.skip(`${what}: @aws-sdk/credential-providers not installed in node_modules`, async () => {})
  if (c.go.kind === 'skip') t.skip(`${what}: Go SDK v2 probe: ${c.go.reason}`, async () => {})
}

t.test('prerequisites', async (t) => {
  t.ok(built, 'dist/ is built (npm test builds it; run `npm run build` before running tap alone)')
  t.comment(
    `versions: botocore ${botocoreVersion ?? 'absent'}; ${cliV1Version ?? 'AWS CLI v1 absent'}; ${cliV2Version ?? 'AWS CLI v2 absent'}; @aws-sdk/credential-providers ${packageVersion('@aws-sdk/credential-providers') ?? 'absent'} (credential-provider-http ${packageVersion('@aws-sdk/credential-provider-http') ?? '?'}); node ${process.version}`,
  )
})

if (!built) t.skip('server end-to-end: dist/ is not built', async () => {})
else if (!haveActivate) t.skip('server end-to-end: systemd-socket-activate is not installed (apt-get install systemd)', async () => {})
else {
  t.test('iamra serve under socket activation with real clients, full-URI modes', async (t) => {
    const goBuild = buildGoProbe()
    const moto = haveMoto ? await startMoto(t) : undefined
    const go = await goBuild
    if (go.kind === 'built') {
      t.teardown(go.cleanup)
      t.comment(`versions: Go ${versionOf('go', ['version']) ?? '?'}; aws-sdk-go-v2 ${go.sdkVersion}, credentials ${go.credentialsVersion} (Debian)`)
    }
    t.not(go.kind, 'error', go.kind === 'error' ? go.reason : 'Go probe: built or skipped')
    const clients: Clients = { go, moto }
    const s = await startScenario('p256', moto === undefined ? {} : { mint: stsMinter({ endpoint: moto.endpoint, ...moto.broker }) })
    t.teardown(s.close)
    const work = mkdtempSync(join(tmpdir(), 'iamra-srv-'))
    t.teardown(() => rmSync(work, { recursive: true, force: true }))
    const dir = join(work, 'cfg')
    const home = join(work, 'home')
    mkdirSync(home)
    const port = await freePort()
    const base = `http://127.0.0.1:${port}`
    const roleArn = moto?.roleArn ?? ROLE_ARN
    const bindArgs = [...s.args.map((a) => (a === ROLE_ARN ? roleArn : a)), '--role-session-name', 'e2e', '--configuration-directory', dir, '--url', base]

    const binds = await Promise.all(FULL_MODES.map((m) => spawnCli(['bind', `app-${m}`, '--mode', m, ...bindArgs])))
    for (const [i, b] of binds.entries()) t.equal(b.code, 0, `bind --mode ${FULL_MODES[i]}: ${b.stderr.trim()}`)
    if (binds.some((b) => b.code !== 0)) return
    const envs = Object.fromEntries(FULL_MODES.map((m) => [m, readEnvFile(join(dir, 'env', `app-${m}`))])) as Record<FullMode, Record<string, string>>

    t.test('env files name the server and one token source each', async (t) => {
      const uri = `${base}/ecs/credentials`
      t.same(Object.keys(envs['ecs-full']).sort(), ['AWS_CONTAINER_AUTHORIZATION_TOKEN', 'AWS_CONTAINER_CREDENTIALS_FULL_URI'])
      t.equal(envs['ecs-full'].AWS_CONTAINER_CREDENTIALS_FULL_URI, uri)
      t.match(envs['ecs-full'].AWS_CONTAINER_AUTHORIZATION_TOKEN, /^iamra\.app-ecs-full\.[A-Za-z0-9_-]{86}$/)
      t.same(Object.keys(envs['ecs-full-query']), ['AWS_CONTAINER_CREDENTIALS_FULL_URI'])
      t.match(
        envs['ecs-full-query'].AWS_CONTAINER_CREDENTIALS_FULL_URI,
        new RegExp(`^${uri.replace(/[.]/g, '\\.')}\\?access_token=iamra\\.app-ecs-full-query\\.[A-Za-z0-9_-]{86}$`),
      )
      t.same(Object.keys(envs['ecs-full-token-file']).sort(), ['AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE', 'AWS_CONTAINER_CREDENTIALS_FULL_URI'])
      t.equal(envs['ecs-full-token-file'].AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE, join(dir, 'tokens', 'app-ecs-full-token-file'))
      // Sent verbatim as the header: a trailing newline would break botocore, JS and Rust (sdk-protocols §1.3).
      t.match(
        readFileSync(join(dir, 'tokens', 'app-ecs-full-token-file'), 'utf8'),
        /^iamra\.app-ecs-full-token-file\.[A-Za-z0-9_-]{86}$/,
        'token file: the header value, no newline',
      )
    })

    let server: ActivatedServer
    try {
      server = await startActivatedServer({ dir, host: '127.0.0.1', port, fdname: 'ecs-full' })
    } catch (e) {
      t.fail((e as Error).message)
      return
    }
    t.teardown(() => server.stop(1000).then(() => undefined))
    const servingPids = (): number[] =>
      server
        .logLines()
        .filter((l) => typeof l.msg === 'string' && l.msg.startsWith('serving ECS credentials'))
        .map((l) => l.pid ?? -1)
    t.same(servingPids().length, 1, 'the server started once, on the first connection')

    // 1-5: every client in every full-URI mode.
    const results = new Map<FullMode, Map<ClientId, ClientResult>>()
    for (const mode of FULL_MODES) results.set(mode, await runAll(clients, envs[mode], home))
    skipMissing(t, clients, 'client matrix')
    const clientIds = new Set<ClientId>()
    for (const r of results.values()) for (const id of r.keys()) clientIds.add(id)
    const soon = Date.now()
    for (const client of clientIds) {
      t.test(`${client} in ${FULL_MODES.join(', ')}`, async (t) => {
        for (const mode of FULL_MODES) {
          const r = results.get(mode)?.get(client)
          if (r === undefined) continue
          const o = outcomeOf(client, r)
          const expected = EXPECTED[mode][client]
          t.comment(`matrix ${mode} ${client}: ${o.ok ? 'ok' : 'fails'} (${o.detail})${expected === undefined ? '' : ` [documented: ${expected.why}]`}`)
          if (expected !== undefined) {
            t.notOk(o.ok, `${mode}: ${client} fails as documented: ${expected.why}`)
            t.match(o.detail, expected.fail, `${mode}: ${client} error text`)
            t.notMatch(client.startsWith('js-') ? JSON.stringify(o.fields) : r.stdout, /ASIA[A-Z0-9]{16}/, `${mode}: ${client} printed no credentials`)
            continue
          }
          if (!t.ok(o.ok, `${mode}: ${client} gets credentials (${o.detail}; stderr: ${short(r.stderr)})`)) continue
          const f = o.fields
          switch (client) {
            case 'botocore': {
              t.equal(f.method, 'container-role', `${mode}: botocore method`)
              t.match(f.ak, ASIA, `${mode}: botocore access key`)
              t.equal(f.hasToken, true, `${mode}: botocore session token`)
              const expiry = Date.parse(String(f.expiry))
              t.match(f.expiry, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$/, `${mode}: botocore parsed Expiration (UTC, whole seconds)`)
              t.ok(expiry > soon + 50 * 60_000 && expiry < soon + 62 * 60_000, `${mode}: botocore expiry is about an hour ahead`)
              break
            }
            case 'cli-v1':
              t.equal(
                f.Arn,
                `arn:aws:sts::${ACCOUNT}:assumed-role/test-role/e2e`,
                `${mode}: AWS CLI v1 signed sts:GetCallerIdentity with moto-minted credentials`,
              )
              t.equal(f.Account, ACCOUNT)
              break
            case 'cli-v2':
              t.equal(f.Version, 1, `${mode}: CLI v2 export-credentials Version`)
              t.match(f.AccessKeyId, ASIA, `${mode}: CLI v2 access key`)
              t.ok(Date.parse(String(f.Expiration)) > soon + 50 * 60_000, `${mode}: CLI v2 Expiration ${String(f.Expiration)}`)
              break
            case 'js-http':
            case 'js-container':
            case 'js-chain':
              t.match(f.ak, ASIA, `${mode}: ${client} access key`)
              t.equal(f.hasToken, true, `${mode}: ${client} session token`)
              t.ok(Date.parse(String(f.expiration)) > soon + 50 * 60_000, `${mode}: ${client} expiration ${String(f.expiration)}`)
              // fromHttp drops AccountId (sdk-protocols §1.4); the legacy provider keeps it.
              t.equal(f.accountId, client === 'js-container' ? ACCOUNT : null, `${mode}: ${client} accountId`)
              break
            case 'go':
              t.equal(f.source, 'CredentialsEndpointProvider', `${mode}: Go credential source`)
              t.match(f.ak, ASIA, `${mode}: Go access key`)
              t.equal(f.canExpire, true, `${mode}: Go credentials expire`)
              // Go shows Expiration minus its 5-minute window.
              t.ok(Date.parse(String(f.expires)) > soon + 45 * 60_000, `${mode}: Go expires ${String(f.expires)}`)
              break
          }
        }
      })
    }

    // 6: a wrong token. Each client gets its own `probe` query parameter (the server ignores it) so
    // that its requests can be counted in the server log.
    t.test('a wrong token: every client fails, with no credentials', async (t) => {
      const badHeader = `Bearer iamra.app-ecs-full.${randomSecret()}`
      const badFile = join(work, 'bad-token')
      writeFileSync(badFile, `Bearer iamra.app-ecs-full-token-file.${randomSecret()}`, { mode: 0o600 })
      const uri = (probe: string, extra = ''): string => `${base}/ecs/credentials?${extra}probe=${probe}`
      const header = (probe: string): Record<string, string> => ({
        AWS_CONTAINER_CREDENTIALS_FULL_URI: uri(probe),
        AWS_CONTAINER_AUTHORIZATION_TOKEN: badHeader,
      })
      const query = (probe: string): Record<string, string> => ({
        AWS_CONTAINER_CREDENTIALS_FULL_URI: uri(probe, `access_token=iamra.app-ecs-full-query.${randomSecret()}&`),
      })
      const file = (probe: string): Record<string, string> => ({
        AWS_CONTAINER_CREDENTIALS_FULL_URI: uri(probe),
        AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: badFile,
      })
      interface Case {
        probe: string
        cmd: string
        args: string[]
        vars: Record<string, string>
        requests: number
        error: RegExp
        js?: string
      }
      const cases: Case[] = []
      const motoUrl = moto?.endpoint ?? 'http://127.0.0.1:9'
      if (botocoreVersion !== undefined) {
        cases.push({
          probe: 'botocore',
          cmd: 'python3',
          args: [BOTOCORE_PROBE],
          vars: header('botocore'),
          requests: 3,
          error: /CredentialRetrievalError.*non 200 response 403.*TOKEN_REJECTED/s,
        })
        cases.push({
          probe: 'q-botocore',
          cmd: 'python3',
          args: [BOTOCORE_PROBE],
          vars: query('q-botocore'),
          requests: 3,
          error: /non 200 response 403.*TOKEN_REJECTED/s,
        })
        cases.push({
          probe: 'f-botocore',
          cmd: 'python3',
          args: [BOTOCORE_PROBE],
          vars: file('f-botocore'),
          requests: 3,
          error: /non 200 response 403.*TOKEN_REJECTED/s,
        })
      }
      if (haveCliV1)
        cases.push({
          probe: 'cli-v1',
          cmd: 'aws',
          args: ['sts', 'get-caller-identity', '--endpoint-url', motoUrl],
          vars: header('cli-v1'),
          requests: 3,
          error: /non 200 response 403/,
        })
      if (haveCliV2)
        cases.push({
          probe: 'cli-v2',
          cmd: CLI_V2,
          args: ['configure', 'export-credentials', '--format', 'process'],
          vars: header('cli-v2'),
          requests: 3,
          error: /non 200 response \(403\)/,
        })
      if (haveJs) {
        cases.push({
          probe: 'js-http',
          cmd: process.execPath,
          args: [JS_PROBE, 'http'],
          vars: header('js-http'),
          requests: 4,
          error: /"code":"TOKEN_REJECTED"/,
          js: 'http',
        })
        cases.push({
          probe: 'js-container',
          cmd: process.execPath,
          args: [JS_PROBE, 'container'],
          vars: header('js-container'),
          requests: 1,
          error: /ProviderError/,
          js: 'container',
        })
        cases.push({
          probe: 'js-chain',
          cmd: process.execPath,
          args: [JS_PROBE, 'chain'],
          vars: header('js-chain'),
          requests: 5,
          error: /Could not load credentials from any providers/,
          js: 'chain',
        })
        cases.push({
          probe: 'q-js-http',
          cmd: process.execPath,
          args: [JS_PROBE, 'http'],
          vars: query('q-js-http'),
          requests: 4,
          error: /"code":"TOKEN_REJECTED"/,
          js: 'http',
        })
        cases.push({
          probe: 'f-js-http',
          cmd: process.execPath,
          args: [JS_PROBE, 'http'],
          vars: file('f-js-http'),
          requests: 4,
          error: /"code":"TOKEN_REJECTED"/,
          js: 'http',
        })
      }
      if (go.kind === 'built')
        cases.push({ probe: 'go', cmd: go.path, args: [], vars: header('go'), requests: 1, error: /TOKEN_REJECTED: access token not accepted/ })
      // Python-based clients first, then the rest (two CPUs: keep JS's 1 s timeouts out of a crowd).
      const isPython = (c: Case): boolean => c.cmd === 'python3' || c.cmd === 'aws' || c.cmd === CLI_V2
      const ran = new Map<string, ClientResult>()
      for (const group of [cases.filter(isPython), cases.filter((c) => !isPython(c))]) {
        await Promise.all(group.map(async (c) => ran.set(c.probe, await runIsolated(c.cmd, c.args, isolatedEnv(home, c.vars)))))
      }
      await server.sync()
      for (const c of cases) {
        const r = ran.get(c.probe)
        if (r === undefined) continue
        const seen = server.requests(c.probe)
        t.not(r.code, 0, `${c.probe}: exits non-zero`)
        t.notMatch(r.stdout, /ASIA[A-Z0-9]{16}/, `${c.probe}: prints no credentials`)
        t.match(`${r.stdout}\n${r.stderr}`, c.error, `${c.probe}: error text`)
        t.equal(seen.length, c.requests, `${c.probe}: ${c.requests} request(s) to the server`)
        t.ok(
          seen.every((q) => q.status === 403),
          `${c.probe}: every request got 403 (${seen.map((q) => q.status).join(',')})`,
        )
        t.comment(
          `matrix wrong-token ${c.probe}: ${seen.length} request(s), ${r.ms} ms, ${short(outcomeOf(c.js === undefined ? (c.probe.replace(/^[qf]-/, '') as ClientId) : (`js-${c.js}` as ClientId), r).detail)}`,
        )
      }
    })

    t.test('a binding of a relative mode is refused on the ecs-full socket', async (t) => {
      const b = await spawnCli(['bind', 'app-rel', '--mode', 'ecs-relative', ...bindArgs])
      t.equal(b.code, 0, b.stderr)
      const token = readEnvFile(join(dir, 'env', 'app-rel')).AWS_CONTAINER_AUTHORIZATION_TOKEN ?? ''
      const res = await fetch(`${base}/ecs/credentials`, { headers: { authorization: token }, signal: AbortSignal.timeout(5000) })
      t.equal(res.status, 403)
      t.match(await res.text(), /not served on this socket \(ecs-full\)/)
    })

    // 9: credential_process through the server (`credential-process --env-file` / `--from-environment`).
    if (!credentialProcessHasEnvFile()) {
      t.skip('credential-process --env-file: not in this build (`iamra credential-process --help` does not list it)', async () => {})
    } else if (botocoreVersion === undefined) {
      t.skip('credential-process --env-file through botocore: botocore not installed', async () => {})
    } else {
      t.test('credential_process = iamra credential-process --env-file (and --from-environment)', async (t) => {
        const config = (name: string, args: string): string => {
          const path = join(work, `aws-config-${name}`)
          writeFileSync(path, `[default]\ncredential_process = ${process.execPath} ${BIN} credential-process ${args}\n`)
          return path
        }
        const runs: Array<{ label: string; client: ClientId; r: Promise<ClientResult> }> = []
        for (const mode of FULL_MODES) {
          const cfg = config(mode, `--env-file ${join(dir, 'env', `app-${mode}`)}`)
          runs.push({
            label: `--env-file (${mode})`,
            client: 'botocore',
            r: runIsolated('python3', [BOTOCORE_PROBE], isolatedEnv(home, { AWS_CONFIG_FILE: cfg })),
          })
        }
        const fromEnv = config('from-env', '--from-environment')
        runs.push({
          label: '--from-environment (ecs-full variables)',
          client: 'botocore',
          r: runIsolated('python3', [BOTOCORE_PROBE], isolatedEnv(home, { AWS_CONFIG_FILE: fromEnv, ...envs['ecs-full'] })),
        })
        await Promise.all(runs.map((x) => x.r))
        const full = join(work, 'aws-config-ecs-full')
        if (haveCliV2)
          runs.push({
            label: '--env-file (ecs-full)',
            client: 'cli-v2',
            r: runIsolated(CLI_V2, ['configure', 'export-credentials', '--format', 'process'], isolatedEnv(home, { AWS_CONFIG_FILE: full })),
          })
        if (haveJs)
          runs.push({
            label: '--env-file (ecs-full) via fromProcess',
            client: 'js-http',
            r: runIsolated(process.execPath, [JS_PROBE, 'process'], isolatedEnv(home, { AWS_CONFIG_FILE: full })),
          })
        if (go.kind === 'built')
          runs.push({ label: '--env-file (ecs-full)', client: 'go', r: runIsolated(go.path, [], isolatedEnv(home, { AWS_CONFIG_FILE: full })) })
        for (const run of runs) {
          const r = await run.r
          const j = r.json[0] ?? {}
          t.comment(
            `matrix credential-process ${run.client === 'js-http' ? 'js-process' : run.client} ${run.label}: exit ${r.code} ${short(r.code === 0 ? '' : r.stderr + JSON.stringify(j))}`,
          )
          t.equal(r.code, 0, `${run.client} ${run.label}: ${short(r.stderr)} ${short(JSON.stringify(j))}`)
          if (run.client === 'botocore') {
            t.equal(j.method, 'custom-process', `${run.label}: botocore method`)
            t.match(j.ak, ASIA)
            t.match(j.expiry, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$/, `${run.label}: expiry parsed`)
          } else if (run.client === 'cli-v2') {
            t.match(j.AccessKeyId, ASIA, `${run.label}: CLI v2 access key`)
          } else if (run.client === 'js-http') {
            t.match(j.ak, ASIA, `${run.label}: JS fromProcess access key`)
            t.comment(`JS fromProcess accountId: ${String(j.accountId)} (iamra credential-process prints no AccountId)`)
          } else {
            t.equal(j.source, 'ProcessProvider', `${run.label}: Go source`)
            t.match(j.ak, ASIA)
          }
        }
      })
    }

    // 7: the certificate is read on every request; a renewal on disk needs no restart.
    t.test('a certificate replaced on disk is used by the next request without a restart', async (t) => {
      const oldSerial = decimalSerial(s.pki.leaf.cert)
      t.ok(
        s.fake.calls.some((c) => c.serial === oldSerial && c.status === 201),
        'earlier requests signed with the first leaf',
      )
      const renewed = await createLeaf({ name: 'iamra test client (renewed)', key: 'p256', issuer: s.pki.intermediate })
      const newSerial = decimalSerial(renewed.cert)
      t.not(newSerial, oldSerial)
      replaceAtomically(s.pki.path('key.pem'), renewed.keyPem)
      replaceAtomically(s.pki.path('leaf.pem'), renewed.certPem)
      const before = s.fake.calls.length
      const res = await fetch(`${base}/ecs/credentials`, {
        headers: { authorization: envs['ecs-full'].AWS_CONTAINER_AUTHORIZATION_TOKEN ?? '' },
        signal: AbortSignal.timeout(10_000),
      })
      const body = (await res.json()) as { AccessKeyId?: string }
      t.equal(res.status, 200)
      t.match(body.AccessKeyId, ASIA)
      const after = s.fake.calls.slice(before)
      t.equal(after.length, 1, 'one CreateSession for the request')
      t.equal(after[0]?.serial, newSerial, 'signed with the renewed leaf (decimal serial as the fake endpoint records it)')
      t.equal(after[0]?.status, 201)
      if (botocoreVersion !== undefined) {
        const r = await runIsolated('python3', [BOTOCORE_PROBE], isolatedEnv(home, envs['ecs-full']))
        t.equal(r.json[0]?.method, 'container-role', 'botocore still gets credentials')
        t.equal(s.fake.calls.at(-1)?.serial, newSerial)
      }
      t.same(servingPids().length, 1, 'the server was not restarted')
      t.equal(server.child.exitCode, null, "systemd-socket-activate's server process is still running")
    })

    t.test('serve stops on SIGTERM', async (t) => {
      const r = await server.stop(3000)
      t.comment(`serve after SIGTERM: ${r.exitedOnTerm ? 'exited' : 'still running; killed'} after ${r.ms} ms`)
      // Regression: fastify.close() does not close an http.Server that fastify did not listen on itself.
      t.ok(r.exitedOnTerm, 'serve exits within 3 s of SIGTERM')
      t.equal(server.child.exitCode, 0, 'with exit code 0')
    })
  })
}
