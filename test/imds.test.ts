// IMDS mode of `iamra serve` (the aws_signing_helper serve drop-in): the token store, the route/status
// matrix through inject(), refresh and outage against the verifying fake endpoint with an injected clock,
// start-up failures, and real AWS clients against the real process. Loopback only; every wait bounded.
import t, { type Test } from 'tap'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CredentialCache } from '../src/cache/credential-cache.js'
import { fromCertificate } from '../src/credentials/from-certificate.js'
import { IamraError } from '../src/errors.js'
import { buildImdsApp } from '../src/imds/app.js'
import { imdsCredentialSource, type ImdsCredentialSource } from '../src/imds/credentials.js'
import { roleName } from '../src/rolesanywhere/arn.js'
import { checkImdsListen, isLoopbackHost } from '../src/imds/listen-policy.js'
import { typedFlags } from '../src/cli/flags.js'
import { SERVE_FLAGS } from '../src/cli/commands/serve-flags.js'
import { MAX_TOKENS, TokenStore } from '../src/imds/token-store.js'
import type { SessionCredentials } from '../src/rolesanywhere/response.js'
import { resolveSessionConfig } from '../src/rolesanywhere/session-config.js'
import type { FakeFailure } from '../src/testing/fake-endpoint/handler.js'
import { parseListen } from '../src/cli/listen-flag.js'
import { BIN, runCli, spawnCli } from './helpers/cli.js'
import { buildGoProbe } from './helpers/go-probe.js'
import { makePkiFiles } from './helpers/pki-files.js'
import { onPath, stopProcess } from './helpers/processes.js'
import { PROFILE_ARN, ROLE_ARN, startScenario, TRUST_ANCHOR_ARN } from './helpers/scenario.js'
import { pollUntil } from './helpers/wait.js'
import { randomBytes } from 'node:crypto'
import { KeyBackends } from '../src/keys/key-backends.js'

const ROLE = 'iamra-test'
const CREDS: SessionCredentials = {
  accessKeyId: 'ASIAEXAMPLE',
  secretAccessKey: 'secret',
  sessionToken: 'session',
  expiration: new Date('2099-01-01T00:00:00.5Z'),
  expiresAt: new Date('2099-01-01T00:00:00.5Z'),
  roleArn: ROLE_ARN,
  assumedRoleArn: undefined,
}
const TOKEN = '/latest/api/token'
const LIST = '/latest/meta-data/iam/security-credentials'
const TTL = 'x-aws-ec2-metadata-token-ttl-seconds'
const DENIED: FakeFailure = { status: 403, errorType: 'AccessDeniedException', message: 'Untrusted Signing Certificate' }
const built = existsSync(new URL('../dist/iamra.mjs', import.meta.url))

async function imdsApp(t: Test, credentials: ImdsCredentialSource, tokens = new TokenStore({ now: Date.now, random: randomBytes })) {
  const app = await buildImdsApp({ roleName: ROLE, credentials, tokens })
  t.teardown(() => app.fastify.close())
  const req = (method: string, url: string, headers: Record<string, string> = {}, payload?: string) =>
    app.fastify.inject({ method: method as 'GET', url, headers, ...(payload === undefined ? {} : { payload }) })
  const token = async (ttl = '21600'): Promise<string> => (await req('PUT', TOKEN, { [TTL]: ttl })).body
  return { app, req, token }
}

t.test('token store: TTL, expiry, sweep, cap with earliest-expiring eviction, constant-time check', async (t) => {
  let now = 1_000_000
  const store = new TokenStore({ now: () => now, random: randomBytes })
  const a = store.issue(10)
  t.match(a, /^[A-Za-z0-9_-]{100}$/, '100 characters')
  t.not(store.issue(10), a, 'tokens are random')
  t.equal(store.check(a), 10)
  t.equal(store.check(`${a}x`), undefined, 'unknown')
  t.equal(store.check(''), undefined)
  now += 9_500
  t.equal(store.check(a), 1, 'rounds up while valid')
  now += 500
  t.equal(store.check(a), undefined, 'expired at its TTL')
  t.equal(store.size, 0, 'expired tokens are swept')
  for (const bad of [0, -1, 21_601, 1.5, Number.NaN]) t.throws(() => store.issue(bad), RangeError, `TTL ${bad}`)
  t.equal(store.check(store.issue(21_600)), 21_600, 'the maximum TTL')

  store.clear()
  const tokens = Array.from({ length: MAX_TOKENS }, (_, i) => store.issue(i === 100 ? 5 : 1000 + i))
  t.equal(store.size, MAX_TOKENS)
  const extra = store.issue(50)
  t.equal(store.size, MAX_TOKENS, 'never more than 256')
  t.equal(store.check(tokens[100] ?? ''), undefined, 'the earliest-expiring token was evicted')
  t.equal(store.check(tokens[0] ?? ''), 1000, 'the others stay')
  t.equal(store.check(extra), 50)
  store.issue(2000)
  t.equal(store.check(extra), undefined, 'next eviction: the new earliest-expiring one')
  t.equal(store.size, MAX_TOKENS)
})

t.test('inject matrix: every route and status', async (t) => {
  let now = Date.UTC(2026, 0, 1)
  const { app, req, token } = await imdsApp(
    t,
    async () => ({ creds: CREDS, lastUpdated: new Date('2026-01-01T00:00:00.250Z') }),
    new TokenStore({ now: () => now, random: randomBytes }),
  )
  const tok = await token()
  const put = await req('PUT', TOKEN, { [TTL]: '21600' })
  t.equal(put.statusCode, 200)
  t.equal(put.headers['content-type'], 'text/plain', 'exact text/plain')
  t.equal(put.headers[TTL], '21600', 'TTL echoed')
  t.match(put.body, /^[A-Za-z0-9_-]{100}$/, 'bare token, no newline')
  for (const [ttl, ok] of [
    ['1', true],
    ['300', true],
    ['021600', true],
    ['0', false],
    ['21601', false],
    ['-1', false],
    ['1.5', false],
    ['abc', false],
    ['', false],
    [' 300', false],
  ] as const) {
    const r = await req('PUT', TOKEN, { [TTL]: ttl })
    t.equal(r.statusCode, ok ? 200 : 400, `TTL "${ttl}"`)
    if (ok) t.equal(r.headers[TTL], ttl, `TTL "${ttl}" echoed`)
    else t.same([r.headers['content-type'], (r.json() as { Code: string }).Code], ['application/json', 'INVALID_TOKEN_TTL'])
  }
  const noTtl = await req('PUT', TOKEN)
  t.same([noTtl.statusCode, (noTtl.json() as { Code: string }).Code], [400, 'INVALID_TOKEN_TTL'], 'the TTL header is required')
  t.equal((await req('PUT', `${TOKEN}/`, { [TTL]: '60' })).statusCode, 200, 'trailing slash')
  t.equal((await req('PUT', `${TOKEN}?x=1`, { [TTL]: '60' })).statusCode, 200, 'query string ignored')
  const xff = await req('PUT', TOKEN, { [TTL]: '60', 'x-forwarded-for': '10.0.0.1' })
  t.same(
    [xff.statusCode, xff.headers['content-type'], (xff.json() as { Message: string }).Message],
    [400, 'application/json', 'unable to process requests with X-Forwarded-For header'],
  )
  t.equal((await req('PUT', TOKEN, { [TTL]: '60', 'content-type': 'application/json' }, '{not json')).statusCode, 200, 'a body of any type is ignored')
  t.equal((await req('PUT', TOKEN, { [TTL]: '60', 'content-type': 'application/x-www-form-urlencoded' }, 'a=b')).statusCode, 200)
  for (const m of ['GET', 'POST', 'DELETE', 'PATCH', 'HEAD']) {
    const r = await req(m, TOKEN, { [TTL]: '60' })
    t.same([r.statusCode, r.headers.allow], [405, 'PUT'], `${m} on the token path`)
  }

  const auth = { 'x-aws-ec2-metadata-token': tok }
  for (const path of [LIST, `${LIST}/`]) {
    const r = await req('GET', path, auth)
    t.same([r.statusCode, r.headers['content-type'], r.body], [200, 'text/plain', ROLE], `${path}: the role name, no newline`)
    t.equal(r.headers[TTL], '21600', "the token's remaining TTL")
  }
  const expected =
    '{"Code":"Success","LastUpdated":"2026-01-01T00:00:00Z","Type":"AWS-HMAC","AccessKeyId":"ASIAEXAMPLE","SecretAccessKey":"secret","Token":"session","Expiration":"2099-01-01T00:00:00Z"}'
  for (const path of [`${LIST}/${ROLE}`, `${LIST}/${ROLE}/`]) {
    const r = await req('GET', path, auth)
    t.same([r.statusCode, r.headers['content-type'], r.body], [200, 'application/json', expected], `${path}: credentials JSON`)
  }
  const cases: Array<[string, string, Record<string, string>, number, string?]> = [
    ['list without a token', LIST, {}, 401, 'TOKEN_MISSING'],
    ['credentials without a token', `${LIST}/${ROLE}`, {}, 401, 'TOKEN_MISSING'],
    ['empty token', `${LIST}/${ROLE}`, { 'x-aws-ec2-metadata-token': '' }, 401, 'TOKEN_MISSING'],
    ['unknown token', `${LIST}/${ROLE}`, { 'x-aws-ec2-metadata-token': tok.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A')) }, 401, 'TOKEN_INVALID'],
    ['unknown role without a token', `${LIST}/other`, {}, 401, 'TOKEN_MISSING'],
    ['unknown role', `${LIST}/other`, auth, 404, 'NOT_FOUND'],
    ['unknown role, slash', `${LIST}/other/`, auth, 404, 'NOT_FOUND'],
    ['-extended list', '/latest/meta-data/iam/security-credentials-extended/', auth, 404, 'NOT_FOUND'],
    ['-extended role', `/latest/meta-data/iam/security-credentials-extended/${ROLE}`, auth, 404, 'NOT_FOUND'],
    ['other metadata', '/latest/meta-data/placement/region', auth, 404, 'NOT_FOUND'],
    ['root', '/', {}, 404, 'NOT_FOUND'],
  ]
  for (const [name, url, headers, status, code] of cases) {
    const r = await req('GET', url, headers)
    t.same([r.statusCode, r.headers['content-type']], [status, 'application/json'], name)
    if (code !== undefined) t.equal((r.json() as { Code: string }).Code, code, `${name}: ${code}`)
    t.notOk(r.body.includes(tok), `${name}: the token is never echoed`)
  }
  for (const m of ['PUT', 'POST', 'DELETE', 'HEAD']) {
    for (const path of [LIST, `${LIST}/`, `${LIST}/${ROLE}`]) {
      const r = await req(m, path, { ...auth, [TTL]: '60' })
      t.same([r.statusCode, r.headers.allow], [405, 'GET'], `${m} ${path}`)
    }
  }
  now += 21_600_000
  t.same(
    [(await req('GET', LIST, auth)).statusCode, (await req('GET', LIST, auth)).json()],
    [
      401,
      {
        Code: 'TOKEN_INVALID',
        Message: 'invalid token provided (unknown or expired)',
        code: 'TOKEN_INVALID',
        message: 'invalid token provided (unknown or expired)',
      },
    ],
    'expired token',
  )
  app.markStopping()
  t.equal((await req('PUT', TOKEN, { [TTL]: '60' })).statusCode, 503, 'stopping: 503, still not 403/404/405')
})

t.test('no valid credentials: 503 JSON, never empty or expired credentials', async (t) => {
  const cases: Array<[unknown, string]> = [
    [new IamraError('UPSTREAM_DENIED', 'CreateSession failed: HTTP 403 AccessDeniedException'), 'UPSTREAM_DENIED'],
    [new IamraError('UPSTREAM_NETWORK', 'refused'), 'UPSTREAM_NETWORK'],
    [new Error('boom with a detail'), 'INTERNAL'],
  ]
  for (const [err, code] of cases) {
    const { req, token } = await imdsApp(t, async () => {
      throw err
    })
    const r = await req('GET', `${LIST}/${ROLE}`, { 'x-aws-ec2-metadata-token': await token() })
    t.same([r.statusCode, r.headers['content-type'], (r.json() as { Code: string }).Code], [503, 'application/json', code], code)
    t.notOk(r.body.includes('AccessKeyId') || r.body.includes('boom'), `${code}: no credentials, no internal detail`)
  }
  // Identity errors name local files (paths, errno): the body says the code and what to check, the log the rest.
  const local = new IamraError('CERT_UNREADABLE', 'cannot read certificate file /srv/secret-dir/leaf.pem: permission denied')
  const { req, token } = await imdsApp(t, async () => {
    throw local
  })
  const r = await req('GET', `${LIST}/${ROLE}`, { 'x-aws-ec2-metadata-token': await token() })
  t.same([r.statusCode, (r.json() as { Code: string }).Code], [503, 'CERT_UNREADABLE'])
  t.notOk(r.body.includes('/srv/secret-dir'), `no local path in the body: ${r.body}`)
  t.match((r.json() as { Message: string }).Message, /certificate/, 'says what to check')
  // A CreateSession answer that is already expired is refused too.
  const expired = { ...CREDS, expiresAt: new Date(Date.now() - 1000) }
  const source = imdsCredentialSource(async () => expired, new CredentialCache({ now: Date.now, random: Math.random }), Date.now)
  await t.rejects(source(), { code: 'CREDENTIALS_EXPIRED' })
})

t.test('refresh ahead, single flight, last good through an outage, then 503 (fake endpoint, injected clock)', async (t) => {
  let clock = Date.now()
  const failures: FakeFailure[] = []
  const scenario = await startScenario('p256', { now: () => new Date(clock), failures })
  t.teardown(() => scenario.close())
  const session = resolveSessionConfig({
    trustAnchorArn: TRUST_ANCHOR_ARN,
    profileArn: PROFILE_ARN,
    roleArn: ROLE_ARN,
    endpoint: scenario.fake.url,
    verifyTls: true,
    environment: {},
  })
  const provider = fromCertificate({
    keys: new KeyBackends(),
    identity: {
      certificateFiles: [scenario.pki.path('leaf.pem')],
      intermediatesFiles: [scenario.pki.path('int.pem')],
      privateKeyFile: scenario.pki.path('key.pem'),
    },
    session,
    now: () => new Date(clock),
    random: Math.random,
    sleep: async () => {},
  })
  let pendingTimer: (() => void) | undefined
  const cache = new CredentialCache({
    now: () => clock,
    setTimer: (fn) => {
      pendingTimer = fn
      return {}
    },
    clearTimer: () => {},
    random: () => 0,
  })
  t.teardown(() => cache.clear())
  const { req } = await imdsApp(
    t,
    imdsCredentialSource(provider, cache, () => clock),
    new TokenStore({ now: () => clock, random: randomBytes }),
  )
  const calls = (): number => scenario.fake.calls.length
  const tok = (await req('PUT', TOKEN, { [TTL]: '21600' })).body
  const get = async () => {
    const r = await req('GET', `${LIST}/${ROLE}`, { 'x-aws-ec2-metadata-token': tok })
    return { status: r.statusCode, body: r.json() as Record<string, string> }
  }
  const minutes = (m: number): void => {
    clock += m * 60_000
  }
  const t0 = clock

  const first = await get()
  t.equal(first.status, 200)
  t.equal(first.body.Expiration, new Date(t0 + 3600_000).toISOString().replace(/\.\d{3}Z$/, 'Z'), 'Expiration: UTC Z, no fraction')
  t.equal(first.body.LastUpdated, new Date(t0).toISOString().replace(/\.\d{3}Z$/, 'Z'))
  minutes(39)
  t.equal((await get()).body.AccessKeyId, first.body.AccessKeyId, '21 min left: served from the cache')
  t.equal(calls(), 1)

  minutes(2) // 19 min left: inside the 20-minute window
  const burst = await Promise.all(Array.from({ length: 5 }, () => get()))
  const keys = new Set(burst.map((b) => b.body.AccessKeyId))
  t.equal(keys.size, 1, 'concurrent requests share one refresh')
  t.not([...keys][0], first.body.AccessKeyId, 'refreshed before 20 minutes remained')
  t.equal(calls(), 2, 'single flight: one CreateSession for five requests')
  const second = burst[0]?.body ?? {}

  minutes(45) // 15 min left on the second credentials; upstream now refuses
  failures.push(DENIED)
  const stale = await get()
  t.same([stale.status, stale.body.AccessKeyId], [200, second.AccessKeyId], 'refresh failed: the last good credentials while valid')
  t.equal(calls(), 3)
  minutes(16) // expired
  failures.push(DENIED)
  const gone = await get()
  t.same([gone.status, gone.body.Code], [503, 'UPSTREAM_DENIED'], 'expired and no refresh: 503')
  t.notOk('AccessKeyId' in gone.body, 'never expired credentials')
  t.equal(calls(), 4)
  t.equal((await get()).status, 503, 'within the minimum failure interval: still 503')
  t.equal(calls(), 4, '... without another CreateSession')
  clock += 11_000
  const back = await get()
  t.equal(back.status, 200, 'upstream back: fresh credentials')
  t.equal(back.body.LastUpdated, new Date(clock).toISOString().replace(/\.\d{3}Z$/, 'Z'), 'LastUpdated: when they were obtained')

  // The cache lets an entry nobody used since its fetch go at its refresh time; IMDS still keeps the last good.
  t.ok(pendingTimer, 'a refresh-ahead timer was scheduled')
  pendingTimer?.()
  minutes(45)
  failures.push(DENIED)
  const kept = await get()
  t.same([kept.status, kept.body.AccessKeyId], [200, back.body.AccessKeyId], 'idle entry dropped by the cache: last good still served')
  minutes(16)
  failures.push(DENIED)
  t.equal((await get()).status, 503, 'then 503 once expired')
})

t.test('flags: validation and the listen policy (in-process)', async (t) => {
  const scenario = await startScenario()
  t.teardown(() => scenario.close())
  const serve = (...extra: string[]) => runCli(['serve', ...scenario.args, ...extra])
  const usage: Array<[string[], RegExp]> = [
    [['--hop-limit', '0'], /--hop-limit must be between 1 and 255/],
    [['--hop-limit', '256'], /--hop-limit must be between 1 and 255/],
    [['--hop-limit', 'x'], /--hop-limit must be a whole number/],
    [['--port', '65536'], /--port must be between 0 and 65535/],
    [['--listen', '0.0.0.0:9911'], /loopback only.*IPTTL=1/],
    [['--listen', '[fe80::1]:9911'], /loopback only/],
    [['--listen', '/tmp/iamra-imds.sock'], /IMDS clients connect over TCP/],
    [['--listen', '127.0.0.1:1', '--port', '1'], /--port and --listen cannot be combined/],
    [['--no-cache'], /IMDS mode always caches/],
    [['--cert-selector', 'x'], /--certificate cannot be combined with --cert-selector/],
  ]
  const tpm = await runCli(['serve', '--cert-selector', 'x', '--no-tpm-key-password', ...scenario.sessionArgs])
  t.same(
    [tpm.code, /--cert-selector cannot be combined with --no-tpm-key-password/.test(tpm.stderr)],
    [2, true],
    '--no-tpm-key-password (negated by yargs) still counts',
  )
  for (const [extra, message] of usage) {
    const r = await serve(...extra)
    t.equal(r.code, 2, extra.join(' '))
    t.match(r.stderr, message)
  }
  const old = await makePkiFiles('p256', { leafNotBefore: new Date(Date.now() - 10 * 86_400_000), leafNotAfter: new Date(Date.now() - 86_400_000) })
  t.teardown(() => old.cleanup())
  const expired = await runCli(['serve', '--certificate', old.path('leaf.pem'), '--private-key', old.path('key.pem'), ...scenario.sessionArgs, '--port', '0'])
  t.same([expired.code, /first CreateSession failed.*expired.*\[CERT_EXPIRED\]/.test(expired.stderr)], [3, true], 'an expired certificate: start-up fails (3)')
  t.equal(scenario.fake.calls.length, 0, '... before anything is sent')
  const noArn = await runCli(['serve', '--certificate', scenario.pki.path('leaf.pem'), '--port', '0'])
  t.same([noArn.code, /--trust-anchor-arn is required/.test(noArn.stderr)], [2, true], 'a credential flag selects IMDS mode: ARNs are required')
  t.equal(typedFlags(SERVE_FLAGS, {}).flags['hop-limit'], 64, 'default hop limit')
  for (const h of ['127.0.0.1', '127.3.2.1', '::1', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', 'localhost']) t.ok(isLoopbackHost(h), h)
  for (const h of ['0.0.0.0', '::', '10.0.0.1', 'fe80::1', 'example.com', '128.0.0.1']) t.notOk(isLoopbackHost(h), h)
  t.doesNotThrow(() => checkImdsListen([parseListen('[::1]:9911'), parseListen('127.0.0.1:0')]))
  t.equal(roleName('arn:aws:iam::123456789012:role/path/to/app'), 'app')
})

t.test('start-up: the first CreateSession must succeed (real process)', { skip: built ? false : 'dist/ not built: run npm run build' }, async (t) => {
  const scenario = await startScenario('p256', { failures: [DENIED] })
  t.teardown(() => scenario.close())
  const r = await spawnCli(['serve', ...scenario.args, '--port', '0'])
  t.equal(r.code, 4, "exits with the CreateSession error's code (4: denied)")
  t.match(r.stderr, /first CreateSession failed, not starting: .*AccessDeniedException.*\[UPSTREAM_DENIED\]/)
  t.notMatch(r.stderr, /AWS_EC2_METADATA_SERVICE_ENDPOINT/, 'never listened')
})

// ---- Real processes and real clients ----

interface Served {
  readonly origin: string
  readonly child: ChildProcess
  output(): string
}

/** `iamra serve ...` as a real process; resolves once it printed the export line. */
async function startServe(t: Test, args: string[]): Promise<Served> {
  const child = spawn(process.execPath, [BIN, 'serve', ...args], { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '' } })
  t.teardown(() => stopProcess(child))
  let out = ''
  let err = ''
  child.stdout?.on('data', (c: Buffer) => {
    out += c.toString()
  })
  child.stderr?.on('data', (c: Buffer) => {
    err += c.toString()
  })
  const line = /export AWS_EC2_METADATA_SERVICE_ENDPOINT=(http:\/\/\S+)\/\n/
  await pollUntil(() => line.test(err) || child.exitCode !== null, { tries: 200, everyMs: 50 })
  const origin = line.exec(err)?.[1]
  if (origin === undefined) throw new Error(`iamra serve did not start: ${err.slice(-1500)}`)
  return { origin, child, output: () => out + err }
}

interface ClientRun {
  code: number
  json: Record<string, unknown>
  text: string
}

function runClient(cmd: string, args: string[], env: Record<string, string>, cwd?: string): Promise<ClientRun> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString()
    })
    child.stderr.on('data', (c: Buffer) => {
      err += c.toString()
    })
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
    child.on('close', (code) => {
      clearTimeout(timer)
      let json: Record<string, unknown> = {}
      const start = out.indexOf('{')
      try {
        json = start < 0 ? {} : (JSON.parse(out.slice(start)) as Record<string, unknown>)
      } catch {
        // not JSON
      }
      // The detail shown in assertions: stderr and the JSON without secret fields (fake ones, but still).
      const { SecretAccessKey: _s, SessionToken: _t, ...shown } = json
      resolve({ code: code ?? 1, json, text: `${JSON.stringify(shown)} ${err}`.replace(/\s+/g, ' ').slice(0, 600) })
    })
  })
}

/** docs/sdk-protocols §4.1 for IMDS: nothing from the real environment, tokens required (no IMDSv1 fallback). */
function imdsEnv(home: string, origin: string): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: home,
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_EC2_METADATA_SERVICE_ENDPOINT: `${origin}/`,
    AWS_EC2_METADATA_V1_DISABLED: 'true',
  }
}

const BOTOCORE = `import json, sys
try:
    import botocore.session
    c = botocore.session.get_session().get_credentials()
    if c is None:
        raise RuntimeError("no credentials found")
    f = c.get_frozen_credentials()
    e = getattr(c, "_expiry_time", None)
    print(json.dumps({"ok": True, "method": c.method, "ak": f.access_key, "hasSecret": bool(f.secret_key), "hasToken": bool(f.token), "expiry": e.isoformat() if e else None}))
except Exception as e:
    print(json.dumps({"ok": False, "error": "%s: %s" % (type(e).__name__, str(e)[:500])}))
    sys.exit(1)
`
const JS = `require('@aws-sdk/credential-providers').fromInstanceMetadata({ timeout: 2000, maxRetries: 1 })().then(
  (c) => console.log(JSON.stringify({ ok: true, ak: c.accessKeyId, hasSecret: !!c.secretAccessKey, hasToken: !!c.sessionToken, expiration: c.expiration && c.expiration.toISOString() })),
  (e) => { console.log(JSON.stringify({ ok: false, error: e.name + ': ' + String(e.message).slice(0, 500) })); process.exit(1) })`

function have(cmd: string, args: string[]): boolean {
  return spawnSync(cmd, args, { timeout: 20_000, stdio: 'ignore', env: { PATH: process.env.PATH ?? '', HOME: '/nonexistent' } }).status === 0
}

async function ipv6Loopback(): Promise<boolean> {
  const s = createServer()
  return new Promise((resolve) => {
    s.once('error', () => resolve(false))
    s.listen(0, '::1', () => s.close(() => resolve(true)))
  })
}

t.test('real clients against iamra serve (IMDS mode)', { skip: built ? false : 'dist/ not built: run npm run build' }, async (t) => {
  const scenario = await startScenario()
  t.teardown(() => scenario.close())
  const home = mkdtempSync(join(tmpdir(), 'iamra-imds-home-'))
  t.teardown(() => rmSync(home, { recursive: true, force: true }))
  const srv = await startServe(t, [...scenario.args, '--port', '0', '--expiry-warning-days', '60'])
  t.match(srv.output(), /warning: the certificate .* expires on .* in \d+\.\d days: renew it/, 'start-up warning for a certificate near expiry')
  t.match(srv.output(), /Local server started on port: \d+/)
  t.match(srv.origin, /^http:\/\/127\.0\.0\.1:\d+$/)

  // Our own IMDSv2 round trip: the reference key every client must get (the same cached credentials).
  const put = await fetch(`${srv.origin}${TOKEN}`, { method: 'PUT', headers: { [TTL]: '300' }, signal: AbortSignal.timeout(5000) })
  const token = await put.text()
  t.equal(put.headers.get(TTL), '300')
  const creds = (await (
    await fetch(`${srv.origin}${LIST}/${ROLE}`, { headers: { 'x-aws-ec2-metadata-token': token }, signal: AbortSignal.timeout(5000) })
  ).json()) as Record<string, string>
  const ak = creds.AccessKeyId ?? ''
  t.match(ak, /^ASIA[A-Z0-9]{16}$/)
  const matrix: string[] = []
  const record = (client: string, ok: boolean, detail: string): void => {
    matrix.push(`${client}: ${ok ? 'ok' : 'FAILED'} ${detail}`)
    t.comment(`matrix imds ${client}: ${ok ? 'ok' : 'FAILED'} ${detail}`)
  }

  if (!have('python3', ['-c', 'import botocore'])) t.skip('botocore: python3 with botocore is not installed', async () => {})
  else {
    const r = await runClient('python3', ['-c', BOTOCORE], imdsEnv(home, srv.origin))
    t.same([r.json.ok, r.json.method, r.json.ak, r.json.hasToken], [true, 'iam-role', ak, true], `botocore: ${r.text}`)
    record('botocore', r.json.ok === true, String(r.json.method ?? r.text))
  }

  if (!have('/usr/bin/aws', ['--version'])) t.skip('AWS CLI v2: /usr/bin/aws is missing (apt-get install awscli)', async () => {})
  else {
    const r = await runClient('/usr/bin/aws', ['configure', 'export-credentials', '--format', 'process'], imdsEnv(home, srv.origin))
    t.same([r.code, r.json.Version, r.json.AccessKeyId], [0, 1, ak], `AWS CLI v2 export-credentials: ${r.text}`)
    record('cli-v2', r.code === 0, String(r.json.Expiration ?? r.text))
  }

  if (!existsSync(new URL('../node_modules/@aws-sdk/credential-providers/package.json', import.meta.url)))
    t.skip('JS SDK: @aws-sdk/credential-providers is not installed', async () => {})
  else {
    const r = await runClient(process.execPath, ['-e', JS], imdsEnv(home, srv.origin), new URL('..', import.meta.url).pathname)
    t.same([r.json.ok, r.json.ak, r.json.hasToken], [true, ak, true], `JS fromInstanceMetadata: ${r.text}`)
    record('js-fromInstanceMetadata', r.json.ok === true, String(r.json.expiration ?? r.text))
  }

  const go = await buildGoProbe()
  if (go.kind !== 'built') {
    if (go.kind === 'skip') t.skip(`Go SDK v2: ${go.reason}`, async () => {})
    else t.fail(go.reason)
  } else {
    t.teardown(() => go.cleanup())
    const r = await runClient(go.path, [], imdsEnv(home, srv.origin))
    t.same([r.json.ok, r.json.source, r.json.ak, r.json.hasToken], [true, 'EC2RoleProvider', ak, true], `Go SDK v2 ${go.sdkVersion}: ${r.text}`)
    record(`go-v2-${go.sdkVersion}`, r.json.ok === true, String(r.json.source ?? r.text))
  }

  if (!onPath('ruby') || !have('ruby', ['-e', 'require "aws-sdk-core"'])) {
    t.skip('Ruby: ruby with aws-sdk-core is not installed (apt-get install ruby ruby-aws-sdk-core)', async () => {})
  } else {
    // Ruby before ~3.191 ignores the endpoint's port (aws/aws-sdk-ruby #2997): pass it explicitly.
    const port = new URL(srv.origin).port
    const rb =
      'require "aws-sdk-core"; require "json"; c = Aws::InstanceProfileCredentials.new(endpoint: ARGV[0], port: ARGV[1].to_i, retries: 0); puts JSON.generate({"ok" => c.credentials.set?, "ak" => c.credentials.access_key_id})'
    const r = await runClient('ruby', ['-e', rb, srv.origin, port], imdsEnv(home, srv.origin))
    t.same([r.json.ok, r.json.ak], [true, ak], `Ruby InstanceProfileCredentials: ${r.text}`)
    record('ruby', r.json.ok === true, r.text)
  }

  t.equal(scenario.fake.calls.length, 1, 'every client got the one cached CreateSession result')
  await stopProcess(srv.child)
  const logs = srv.output()
  for (const [what, secret] of [
    ['token', token],
    ['secret key', creds.SecretAccessKey ?? ''],
    ['session token', creds.Token ?? ''],
  ] as const) {
    t.notOk(secret !== '' && logs.includes(secret), `the ${what} is in no log line`)
  }
  t.comment(`matrix imds summary: ${matrix.join('; ')}`)
})

t.test('IPv6 loopback: --listen [::1]:PORT with botocore', { skip: built ? false : 'dist/ not built: run npm run build' }, async (t) => {
  if (!(await ipv6Loopback())) return void t.skip('no IPv6 loopback on this machine', async () => {})
  if (!have('python3', ['-c', 'import botocore'])) return void t.skip('botocore: python3 with botocore is not installed', async () => {})
  const scenario = await startScenario()
  t.teardown(() => scenario.close())
  const home = mkdtempSync(join(tmpdir(), 'iamra-imds-home-'))
  t.teardown(() => rmSync(home, { recursive: true, force: true }))
  const srv = await startServe(t, [...scenario.args, '--listen', '[::1]:0', '--hop-limit', '1', '--no-verify-ssl'])
  t.match(srv.origin, /^http:\/\/\[::1\]:\d+$/, 'the export line names [::1]')
  const r = await runClient('python3', ['-c', BOTOCORE], imdsEnv(home, srv.origin))
  t.same([r.json.ok, r.json.method, r.json.hasToken], [true, 'iam-role', true], `botocore over [::1]: ${r.text}`)
  t.comment(`matrix imds botocore [::1]: ${r.json.ok === true ? 'ok' : 'FAILED'} ${r.text}`)
  if (existsSync(new URL('../node_modules/@aws-sdk/credential-providers/package.json', import.meta.url))) {
    const js = await runClient(process.execPath, ['-e', JS], imdsEnv(home, srv.origin), new URL('..', import.meta.url).pathname)
    t.comment(`matrix imds js-fromInstanceMetadata [::1] (observed, not asserted): ${js.json.ok === true ? 'ok' : 'fails'} ${js.text}`)
  }
})

t.test('DNS rebinding is refused: the Host header must be an IP literal or localhost', async (t) => {
  const { hostAllowed } = await import('../src/imds/app.js')
  for (const ok of ['127.0.0.1:9911', '127.0.0.1', '[::1]:9911', 'localhost:9911', 'LOCALHOST']) t.ok(hostAllowed(ok), ok)
  for (const bad of [undefined, 'attacker.example:9911', 'attacker.example', '127.0.0.1.nip.io:9911', '']) t.notOk(hostAllowed(bad), String(bad))
})
