// The server's request paths under attack and accident (issue 8): certificate rotation under load,
// upstream trouble, hostile files, diagnosable configuration, timing of refusals, one-line messages.
// In-process where the event loop can be trusted, a real `iamra serve` process (dist/) where a
// hostile file could freeze it. Every wait and loop is bounded.
import t, { type Test } from 'tap'
import { testBindingKeys } from './helpers/runtime.js'
import { spawn, type ChildProcess } from 'node:child_process'
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs'
import { createServer as createTcpServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { CredentialCache } from '../src/cache/credential-cache.js'
import { IamraError } from '../src/errors.js'
import { buildImdsApp } from '../src/imds/app.js'
import { imdsCredentialSource } from '../src/imds/credentials.js'
import { TokenStore } from '../src/imds/token-store.js'
import { createSession } from '../src/rolesanywhere/create-session.js'
import { resolveEndpoint } from '../src/rolesanywhere/endpoint.js'
import type { SessionCredentials } from '../src/rolesanywhere/response.js'
import { createTransport, TransportError } from '../src/rolesanywhere/transport.js'
import { buildApp } from '../src/server/app.js'
import { redactUrl } from '../src/server/token-extraction.js'
import { authorize } from '../src/server/authorize.js'
import { BindingLookup } from '../src/server/binding-lookup.js'
import { bindingCredentials } from '../src/server/binding-credentials.js'
import { cachedCredentials } from '../src/server/cached-credentials.js'
import { createLeaf, type TestCert } from '../src/testing/pki.js'
import { loadIdentity } from '../src/identity/identity.js'
import { addBinding, REQUEST } from './helpers/bindings.js'
import { BIN } from './helpers/cli.js'
import { PROFILE_ARN, ROLE_ARN, startScenario, TRUST_ANCHOR_ARN, type Scenario } from './helpers/scenario.js'
import { sleep } from './helpers/wait.js'
import { randomBytes } from 'node:crypto'
import { KeyBackends } from '../src/keys/key-backends.js'

const MIN = 60_000
const creds = (expiresAt: Date, id = 'ASIAEXAMPLE'): SessionCredentials => ({
  accessKeyId: id,
  secretAccessKey: 's',
  sessionToken: 't',
  expiration: expiresAt,
  expiresAt,
  roleArn: 'arn:aws:iam::123456789012:role/app',
  assumedRoleArn: undefined,
})

/** Lines written to a fastify logger, parsed. */
function logSink(): { stream: Writable; lines: () => Array<Record<string, unknown>>; text: () => string } {
  let text = ''
  const stream = new Writable({
    write(chunk, _enc, cb) {
      text += chunk.toString()
      cb()
    },
  })
  return {
    stream,
    text: () => text,
    lines: () =>
      text
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  }
}

// ---------------------------------------------------------------------------------------------
// 1. Rotation without failures

interface RotationRig {
  readonly waits: number[]
  readonly s: Scenario
  readonly get: () => Promise<{ statusCode: number; body: string }>
  readonly certPath: string
  readonly keyPath: string
  readonly certDir: string
}

/** A bound server app (in-process, real fake endpoint, real cache) over the given cert and key paths. */
async function rotationRig(t: Test, layout: 'plain' | 'kubelet', opts: { cache?: boolean } = {}): Promise<RotationRig & { leaves: TestCert[] }> {
  const s = await startScenario('p256')
  t.teardown(s.close)
  const dir = join(s.pki.dir, 'run')
  const certDir = join(s.pki.dir, 'certs')
  mkdirSync(certDir)
  let certPath = join(certDir, 'tls.crt')
  let keyPath = join(certDir, 'tls.key')
  if (layout === 'plain') {
    writeFileSync(certPath, s.pki.leaf.certPem + s.pki.intermediate.certPem, { mode: 0o600 })
    writeFileSync(keyPath, s.pki.leaf.keyPem, { mode: 0o600 })
  } else {
    const first = join(certDir, '..gen0')
    mkdirSync(first)
    writeFileSync(join(first, 'tls.crt'), s.pki.leaf.certPem + s.pki.intermediate.certPem, { mode: 0o600 })
    writeFileSync(join(first, 'tls.key'), s.pki.leaf.keyPem, { mode: 0o600 })
    symlinkSync('..gen0', join(certDir, '..data'))
    symlinkSync('..data/tls.crt', certPath)
    symlinkSync('..data/tls.key', keyPath)
    certPath = join(certDir, 'tls.crt')
    keyPath = join(certDir, 'tls.key')
  }
  const { token } = await addBinding(dir, 'app', 'ecs-full', {
    certificateFiles: [certPath],
    privateKeyFile: keyPath,
    endpoint: s.fake.url,
    region: 'us-east-1',
    request: { ...REQUEST, trustAnchorArn: TRUST_ANCHOR_ARN, profileArn: PROFILE_ARN, roleArn: ROLE_ARN },
  })
  // Real waits, recorded: how many times and how long a request waited for a half-rotated pair.
  const waits: number[] = []
  const recordedSleep = (ms: number): Promise<void> => {
    waits.push(ms)
    return sleep(ms)
  }
  const resolve = bindingCredentials({ env: {}, keys: new KeyBackends(), now: () => new Date(), random: Math.random, sleep: recordedSleep })
  const cache = new CredentialCache({ isLocalTransient: (await import('../src/identity/rotation.js')).isMidRotation, now: Date.now, random: Math.random })
  t.teardown(() => cache.clear())
  const app = await buildApp({
    configurationDirectory: dir,
    // As serve builds it: without a cache, the loader alone re-reads a half-rotated pair.
    resolveCredentials: opts.cache === false ? resolve : cachedCredentials(resolve, cache, testBindingKeys(), recordedSleep),
  })
  t.teardown(() => app.fastify.close())
  const get = () => app.fastify.inject({ method: 'GET', url: '/ecs/credentials', headers: { authorization: `Bearer ${token}` } })
  const leaves: TestCert[] = []
  for (let i = 0; i < 4; i++) leaves.push(await createLeaf({ name: `iamra rotated ${i}`, key: 'p256', issuer: s.pki.intermediate }))
  return { s, get, certPath, keyPath, certDir, leaves, waits }
}

/** Requests from `workers` loops until `until` settles; returns the failures (status and code). */
async function underLoad(get: RotationRig['get'], until: Promise<unknown>, workers = 8): Promise<{ total: number; failures: string[] }> {
  let done = false
  void until.finally(() => (done = true))
  let total = 0
  const failures: string[] = []
  await Promise.all(
    Array.from({ length: workers }, async () => {
      for (let i = 0; i < 100_000 && !done; i++) {
        const r = await get()
        total++
        if (r.statusCode !== 200) failures.push(`${r.statusCode} ${r.body.slice(0, 200)}`)
        await new Promise((res) => setImmediate(res))
      }
    }),
  )
  await until
  return { total, failures }
}

/** Writes a file in place (truncate, then the bytes in pieces with pauses), as many renewal tools do. */
async function rewriteInPlace(path: string, text: string): Promise<void> {
  const fd = openSync(path, 'w')
  try {
    const step = Math.ceil(text.length / 4)
    for (let i = 0; i < text.length; i += step) {
      writeSync(fd, text.slice(i, i + step))
      await sleep(3)
    }
  } finally {
    closeSync(fd)
  }
}

t.test('rotation under load: rename-based (certificate first, then key) gives no failed request', async (t) => {
  const rig = await rotationRig(t, 'plain')
  t.equal((await rig.get()).statusCode, 200, 'credentials cached before the rotations')
  const rotate = (async () => {
    for (const leaf of rig.leaves) {
      writeFileSync(`${rig.certPath}.new`, leaf.certPem + rig.s.pki.intermediate.certPem, { mode: 0o600 })
      writeFileSync(`${rig.keyPath}.new`, leaf.keyPem, { mode: 0o600 })
      renameSync(`${rig.certPath}.new`, rig.certPath)
      await sleep(40) // the moment between the two renames, long enough for requests to meet it
      renameSync(`${rig.keyPath}.new`, rig.keyPath)
      await sleep(60)
    }
  })()
  const { total, failures } = await underLoad(rig.get, rotate)
  t.ok(total > 20, `${total} requests during ${rig.leaves.length} rotations`)
  t.same(failures, [], `${failures.length} of ${total} requests failed`)
  const last = rig.leaves.at(-1) as TestCert
  t.equal((await rig.get()).statusCode, 200)
  t.equal(rig.s.fake.calls.at(-1)?.serial, BigInt(`0x${last.cert.serialNumber}`).toString(), 'the newest certificate is in use afterwards')
})

t.test('rotation under load: in-place rewrites give no failed request', async (t) => {
  const rig = await rotationRig(t, 'plain')
  t.equal((await rig.get()).statusCode, 200)
  const rotate = (async () => {
    for (const leaf of rig.leaves) {
      await rewriteInPlace(rig.certPath, leaf.certPem + rig.s.pki.intermediate.certPem)
      await rewriteInPlace(rig.keyPath, leaf.keyPem)
      await sleep(40)
    }
  })()
  const { total, failures } = await underLoad(rig.get, rotate)
  t.ok(total > 20, `${total} requests`)
  t.same(failures, [], `${failures.length} of ${total} requests failed`)
})

t.test('rotation under load: kubelet ..data swap gives no failed request', async (t) => {
  const rig = await rotationRig(t, 'kubelet')
  t.equal((await rig.get()).statusCode, 200)
  const rotate = (async () => {
    let gen = 0
    for (const leaf of rig.leaves) {
      const next = `..gen${++gen}`
      mkdirSync(join(rig.certDir, next))
      writeFileSync(join(rig.certDir, next, 'tls.crt'), leaf.certPem + rig.s.pki.intermediate.certPem, { mode: 0o600 })
      writeFileSync(join(rig.certDir, next, 'tls.key'), leaf.keyPem, { mode: 0o600 })
      symlinkSync(next, join(rig.certDir, '..data_tmp'))
      renameSync(join(rig.certDir, '..data_tmp'), join(rig.certDir, '..data'))
      rmSync(join(rig.certDir, `..gen${gen - 1}`), { recursive: true })
      await sleep(50)
    }
  })()
  const { total, failures } = await underLoad(rig.get, rotate)
  t.ok(total > 20, `${total} requests`)
  t.same(failures, [], `${failures.length} of ${total} requests failed`)
})

t.test('rotation without a cache: a half-rotated pair is read again after a short wait', async (t) => {
  const rig = await rotationRig(t, 'plain', { cache: false })
  const leaf = rig.leaves[0] as TestCert
  writeFileSync(rig.certPath, leaf.certPem + rig.s.pki.intermediate.certPem) // certificate renewed, key not yet
  const completes = sleep(60).then(() => writeFileSync(rig.keyPath, leaf.keyPem))
  const r = await rig.get()
  await completes
  t.equal(r.statusCode, 200, 'the request waited for the key and got credentials')
})

t.test('a pair that stays inconsistent: cached credentials while valid, else a clear code within a bounded time', async (t) => {
  const rig = await rotationRig(t, 'plain')
  t.equal((await rig.get()).statusCode, 200)
  writeFileSync(rig.certPath, (rig.leaves[0] as TestCert).certPem) // a certificate that does not match the key, for good
  const calls = rig.s.fake.calls.length
  for (let i = 0; i < 3; i++) t.equal((await rig.get()).statusCode, 200, "the binding's cached credentials are served while valid")
  t.equal(rig.s.fake.calls.length, calls, 'without a CreateSession')
  const fresh = await rotationRig(t, 'plain')
  writeFileSync(fresh.certPath, (fresh.leaves[0] as TestCert).certPem)
  fresh.waits.length = 0
  const r = await fresh.get()
  t.equal(r.statusCode, 500)
  t.equal((JSON.parse(r.body) as { Code: string }).Code, 'KEY_CERT_MISMATCH', 'nothing cached: the failure, with its code')
  // One retry layer (the loader's): 20 + 40 + 80 + 140 ms; the server no longer retries around it (was ~1.4 s).
  t.same(fresh.waits, [20, 40, 80, 140], `after ${fresh.waits.reduce((a, b) => a + b, 0)} ms of waits (bounded re-reads, one layer)`)
})

t.test('IMDS mode, the agent and credential-process: a provider that meets a half-rotated pair reads it again', async (t) => {
  const s = await startScenario('p256')
  t.teardown(s.close)
  const { retryMidRotation } = await import('../src/identity/rotation.js')
  const { fromCertificate } = await import('../src/credentials/from-certificate.js')
  const { resolveSessionConfig } = await import('../src/rolesanywhere/session-config.js')
  const leaf = await createLeaf({ name: 'iamra imds rotated', key: 'p256', issuer: s.pki.intermediate })
  writeFileSync(s.pki.path('leaf.pem'), leaf.certPem) // renewed certificate, old key
  const fixes = sleep(50).then(() => writeFileSync(s.pki.path('key.pem'), leaf.keyPem))
  const load = () => loadIdentity({ certificateFiles: [s.pki.path('leaf.pem')], privateKeyFile: s.pki.path('key.pem'), now: new Date() })
  await t.rejects(load(), { code: 'KEY_CERT_MISMATCH' }, 'the moment between the two writes')
  const id = await retryMidRotation(load)
  await fixes
  t.equal(id.serial, BigInt(`0x${leaf.cert.serialNumber}`).toString(), 'read again after a short wait: the new pair')

  // The provider every long-running mode builds on (serveImds, the node agent) does the same by itself.
  const next = await createLeaf({ name: 'iamra imds rotated again', key: 'p256', issuer: s.pki.intermediate })
  writeFileSync(s.pki.path('leaf.pem'), next.certPem)
  const fixesAgain = sleep(50).then(() => writeFileSync(s.pki.path('key.pem'), next.keyPem))
  const session = resolveSessionConfig({
    trustAnchorArn: TRUST_ANCHOR_ARN,
    profileArn: PROFILE_ARN,
    roleArn: ROLE_ARN,
    endpoint: s.fake.url,
    verifyTls: true,
    environment: {},
  })
  const provider = fromCertificate({
    keys: new KeyBackends(),
    identity: { certificateFiles: [s.pki.path('leaf.pem')], intermediatesFiles: [s.pki.path('int.pem')], privateKeyFile: s.pki.path('key.pem') },
    session,
    now: () => new Date(),
    random: Math.random,
  })
  const got = await provider()
  await fixesAgain
  t.match(got.accessKeyId, /^ASIA/, 'fromCertificate rode out the half-rotated pair')
  t.equal(s.fake.calls.at(-1)?.serial, BigInt(`0x${next.cert.serialNumber}`).toString(), 'and signed with the new pair')
})

// ---------------------------------------------------------------------------------------------
// 2. Upstream trouble: every answer has its code

t.test('credentials expiring while a refresh hangs: a coded 504/503, never `undefined`', async (t) => {
  const hang = () => new Promise<SessionCredentials>(() => {})
  // The cache directly: it used to reject with undefined.
  const cache = new CredentialCache({ maxRefreshWaitMs: 100, now: Date.now, random: Math.random })
  t.teardown(() => cache.clear())
  await cache.get('k', async () => creds(new Date(Date.now() + 150)))
  await sleep(90) // inside the refresh window (half of a 150 ms lifetime), expiring during the wait
  const e = await cache.get('k', hang).then(
    () => undefined,
    (err: unknown) => err,
  )
  t.ok(e instanceof IamraError, `rejects with an IamraError (got ${String(e)})`)
  t.equal((e as IamraError).code, 'UPSTREAM_TIMEOUT')

  // Through the ECS app.
  const ecsCache = new CredentialCache({ maxRefreshWaitMs: 100, now: Date.now, random: Math.random })
  t.teardown(() => ecsCache.clear())
  const dir = mkdtempSync(join(tmpdir(), 'iamra-rob-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  let first = true
  const app = await buildApp({
    configurationDirectory: dir,
    resolveCredentials: () =>
      ecsCache.get(
        'k',
        first
          ? async () => {
              first = false
              return creds(new Date(Date.now() + 150))
            }
          : hang,
      ),
  })
  t.teardown(() => app.fastify.close())
  const { token } = await addBinding(dir, 'app', 'ecs-full')
  const ask = () => app.fastify.inject({ method: 'GET', url: '/ecs/credentials', headers: { authorization: token } })
  t.equal((await ask()).statusCode, 200)
  await sleep(90)
  const r = await ask()
  t.equal(r.statusCode, 504, 'ECS: 504')
  t.equal((r.json() as { Code: string }).Code, 'UPSTREAM_TIMEOUT')
  t.notMatch(r.body, /Cannot read|undefined|at .*\.js/, 'no stack-derived text in the body')

  // Through IMDS mode.
  const imdsCache = new CredentialCache({ maxRefreshWaitMs: 100, now: Date.now, random: Math.random })
  t.teardown(() => imdsCache.clear())
  let firstImds = true
  const source = imdsCredentialSource(
    () => {
      if (!firstImds) return hang()
      firstImds = false
      return Promise.resolve(creds(new Date(Date.now() + 150)))
    },
    imdsCache,
    Date.now,
  )
  await source()
  const imds = await buildImdsApp({ roleName: 'app', credentials: source, tokens: new TokenStore({ now: Date.now, random: randomBytes }) })
  t.teardown(() => imds.fastify.close())
  const tok = (
    await imds.fastify.inject({ method: 'PUT', url: '/latest/api/token', headers: { host: '127.0.0.1', 'x-aws-ec2-metadata-token-ttl-seconds': '60' } })
  ).body
  await sleep(90)
  const ir = await imds.fastify.inject({
    method: 'GET',
    url: '/latest/meta-data/iam/security-credentials/app',
    headers: { host: '127.0.0.1', 'x-aws-ec2-metadata-token': tok },
  })
  t.equal(ir.statusCode, 503, 'IMDS: 503')
  t.equal((ir.json() as { Code: string }).Code, 'UPSTREAM_TIMEOUT', 'with the code, not INTERNAL')
})

t.test('a thrown non-Error still gets our JSON answer', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'iamra-rob-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const app = await buildApp({ configurationDirectory: dir, resolveCredentials: () => Promise.reject(undefined) }) // eslint-disable-line prefer-promise-reject-errors
  t.teardown(() => app.fastify.close())
  const { token } = await addBinding(dir, 'app', 'ecs-full')
  const r = await app.fastify.inject({ method: 'GET', url: '/ecs/credentials', headers: { authorization: token } })
  t.equal(r.statusCode, 500)
  t.same(r.json(), { Code: 'INTERNAL', Message: 'internal error; see the server log', code: 'INTERNAL', message: 'internal error; see the server log' })
})

t.test('IMDS mode recovers on the first success after an outage', async (t) => {
  let clock = Date.now()
  let up = false
  let calls = 0
  const cache = new CredentialCache({ now: () => clock, random: () => 0 })
  t.teardown(() => cache.clear())
  const source = imdsCredentialSource(
    async () => {
      calls++
      if (!up) throw new IamraError('UPSTREAM_UNAVAILABLE', 'CreateSession failed: HTTP 503')
      return creds(new Date(clock + 60 * MIN))
    },
    cache,
    () => clock,
  )
  await t.rejects(source(), { code: 'UPSTREAM_UNAVAILABLE' }, 'the outage')
  up = true
  clock += 1500
  const served = await source().then(
    () => 'served',
    (e: IamraError) => e.code,
  )
  t.equal(served, 'served', '1.5 s later the upstream is back: the next request tries and is served')
  t.equal(calls, 2)
  // Throttling keeps the full interval: the service asked us to slow down.
  const throttled = new CredentialCache({ now: () => clock, random: () => 0 })
  t.teardown(() => throttled.clear())
  let tCalls = 0
  const fetch = async () => {
    tCalls++
    throw new IamraError('UPSTREAM_THROTTLED', 'slow down')
  }
  await t.rejects(throttled.get('k', fetch), { code: 'UPSTREAM_THROTTLED' })
  clock += 1500
  await t.rejects(throttled.get('k', fetch), { code: 'UPSTREAM_THROTTLED' })
  t.equal(tCalls, 1, 'no new attempt 1.5 s after throttling')
  // So do refusals: asking again soon would not help.
  const denied = new CredentialCache({ now: () => clock, random: () => 0 })
  t.teardown(() => denied.clear())
  let dCalls = 0
  const deny = async () => {
    dCalls++
    throw new IamraError('UPSTREAM_DENIED', 'untrusted certificate')
  }
  await t.rejects(denied.get('k', deny), { code: 'UPSTREAM_DENIED' })
  clock += 1500
  await t.rejects(denied.get('k', deny), { code: 'UPSTREAM_DENIED' })
  t.equal(dCalls, 1, 'no new attempt 1.5 s after a refusal')
})

t.test('messages: a TLS protocol error on one line without source paths; a timeout says attempts and total', async (t) => {
  // A plain TCP server answering https: Node reports EPROTO with OpenSSL's file and a newline.
  const server = createTcpServer((sock) => sock.end('HTTP/1.1 400 Bad Request\r\n\r\n'))
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.teardown(() => server.close())
  const port = (server.address() as { port: number }).port
  const transport = createTransport({ timeoutMs: 3000, verifyTls: true })
  const e = await transport({ method: 'POST', url: new URL(`https://127.0.0.1:${port}/sessions`), headers: {}, body: Buffer.alloc(0) }).then(
    () => undefined,
    (err: TransportError) => err,
  )
  t.ok(e instanceof TransportError, 'a transport error')
  t.notMatch(e?.message ?? '', /\n/, `one line: ${JSON.stringify(e?.message)}`)
  t.notMatch(e?.message ?? '', /\.c:\d+/, 'no OpenSSL source location')

  let clock = 0
  const endpoint = resolveEndpoint({ region: 'us-east-1', endpoint: undefined, env: {} })
  const s = await startScenario('p256')
  t.teardown(s.close)
  const identity = await loadIdentity({ certificateFiles: [s.pki.path('leaf.pem')], privateKeyFile: s.pki.path('key.pem'), now: new Date() })
  const err = await createSession({ trustAnchorArn: TRUST_ANCHOR_ARN, profileArn: PROFILE_ARN, roleArn: ROLE_ARN, durationSeconds: 3600 }, identity, endpoint, {
    transport: async () => {
      clock += 10_000
      throw new TransportError('no answer from rolesanywhere.us-east-1.amazonaws.com within 10000 ms', 'ETIMEDOUT')
    },
    now: () => new Date(Date.UTC(2026, 0, 1) + clock),
    sleep: async (ms) => {
      clock += ms
    },
    random: () => 0.5,
    userAgent: 'test',
  }).then(
    () => undefined,
    (x: IamraError) => x,
  )
  t.equal(err?.code, 'UPSTREAM_TIMEOUT')
  t.match(err?.message ?? '', /3 attempts over 30\.\d s/, `says the attempts and the total: ${err?.message}`)
  t.match(err?.message ?? '', /10000 ms per attempt/, 'and that the limit was per attempt')
})

// ---------------------------------------------------------------------------------------------
// 3 and 4. Hostile files fail alone; a real server process; start-up diagnostics

interface ServeProcess {
  readonly port: number
  readonly child: ChildProcess
  output(): string
  stop(): void
}

/** `iamra serve` (dist/) on an ephemeral loopback port, in its own process group. */
async function startServe(t: Test, dir: string, extra: string[] = []): Promise<ServeProcess> {
  const child = spawn(process.execPath, [BIN, 'serve', '--configuration-directory', dir, '--listen', '127.0.0.1:0', '--log-level', 'info', ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
    env: { PATH: process.env.PATH ?? '' },
  })
  let out = ''
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()))
  child.stderr?.on('data', (c: Buffer) => (out += c.toString()))
  const stop = (): void => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL')
    } catch {
      // gone already
    }
  }
  t.teardown(stop)
  for (let i = 0; i < 200; i++) {
    const m = /serving ECS credentials on 127\.0\.0\.1:(\d+)/.exec(out)
    if (m !== null) return { port: Number(m[1]), child, output: () => out, stop }
    if (child.exitCode !== null) break
    await sleep(50)
  }
  stop()
  throw new Error(`serve did not start: ${out}`)
}

/** GET with a deadline; `timeout` when no answer came in time. */
async function timedGet(
  port: number,
  path: string,
  headers: Record<string, string> = {},
  ms = 3000,
): Promise<{ status: number | 'timeout'; body: string; ms: number }> {
  const started = Date.now()
  try {
    const r = await fetch(`http://127.0.0.1:${port}${path}`, { headers, signal: AbortSignal.timeout(ms) })
    return { status: r.status, body: await r.text(), ms: Date.now() - started }
  } catch {
    return { status: 'timeout', body: '', ms: Date.now() - started }
  }
}

t.test('hostile files (FIFO key, /dev/zero certificate, FIFO binding file) fail alone; others and /healthz keep answering', async (t) => {
  const s = await startScenario('p256')
  t.teardown(s.close)
  const dir = join(s.pki.dir, 'run')
  const settings = {
    endpoint: s.fake.url,
    region: 'us-east-1',
    request: { ...REQUEST, trustAnchorArn: TRUST_ANCHOR_ARN, profileArn: PROFILE_ARN, roleArn: ROLE_ARN },
  }
  const good = await addBinding(dir, 'good', 'ecs-full', {
    ...settings,
    certificateFiles: [s.pki.path('leaf.pem')],
    intermediatesFiles: [s.pki.path('int.pem')],
    privateKeyFile: s.pki.path('key.pem'),
  })
  execFileSync('mkfifo', [join(s.pki.dir, 'key.fifo')])
  const fifoKey = await addBinding(dir, 'fifokey', 'ecs-full', {
    ...settings,
    certificateFiles: [s.pki.path('leaf.pem')],
    privateKeyFile: join(s.pki.dir, 'key.fifo'),
  })
  const zeroCert = await addBinding(dir, 'zerocert', 'ecs-full', { ...settings, certificateFiles: ['/dev/zero'], privateKeyFile: s.pki.path('key.pem') })
  const fifoBinding = await addBinding(dir, 'fifobinding', 'ecs-full', settings)
  unlinkSync(join(dir, 'bindings/fifobinding.json'))
  execFileSync('mkfifo', ['-m', '600', join(dir, 'bindings/fifobinding.json')])
  const srv = await startServe(t, dir)
  const auth = (tok: string) => ({ authorization: `Bearer ${tok}` })
  const expect: Array<[string, string, string]> = [
    ['fifokey', fifoKey.token, 'KEY_UNREADABLE'],
    ['zerocert', zeroCert.token, 'CERT_UNREADABLE'],
    ['fifobinding', fifoBinding.token, 'BINDING_INVALID'],
  ]
  for (const [name, tok, code] of expect) {
    const bad = await timedGet(srv.port, '/ecs/credentials', auth(tok))
    t.equal(bad.status, 500, `${name}: answered (${bad.ms} ms)`)
    t.ok(bad.ms < 2000, `${name}: quickly`)
    if (bad.status !== 'timeout') t.equal((JSON.parse(bad.body) as { Code: string }).Code, code, `${name}: ${code}`)
    const ok = await timedGet(srv.port, '/ecs/credentials', auth(good.token))
    t.equal(ok.status, 200, `after ${name}: the good binding still answers`)
    t.equal((await timedGet(srv.port, '/healthz')).status, 200, `after ${name}: /healthz still answers`)
  }
  const rss = Number(readFileSync(`/proc/${srv.child.pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)?.[1] ?? 0) / 1024
  t.ok(rss < 400, `the server's memory stays bounded (${rss.toFixed(0)} MB RSS)`)
})

t.test('serve says where it looks and warns when nothing can be served; a 403 says why in the log', async (t) => {
  const missing = join(tmpdir(), `iamra-nonexistent-${process.pid}-${Date.now()}`)
  const srv = await startServe(t, missing)
  const r = await timedGet(srv.port, '/ecs/credentials', { authorization: `Bearer iamra.app.${'A'.repeat(86)}` })
  t.equal(r.status, 403)
  await sleep(100)
  const out = srv.output()
  t.match(out, new RegExp(`configuration directory ${missing}: 0 binding\\(s\\)`), 'the start names the directory and the number of bindings')
  t.match(out, /"level":40[^\n]*does not exist/, 'a warning that the directory does not exist')
  t.match(out, /"level":30[^\n]*no binding named \\"app\\": the bindings directory [^\n]* does not exist/, 'the 403 logs why at info')
  t.notMatch(out, /A{86}/, 'never the token')
  srv.stop()

  const empty = mkdtempSync(join(tmpdir(), 'iamra-empty-'))
  t.teardown(() => rmSync(empty, { recursive: true, force: true }))
  const e = await startServe(t, empty)
  await sleep(100)
  t.match(e.output(), /"level":40[^\n]*no bindings in/, 'an existing directory without bindings: a warning too')
  e.stop()
})

t.test('403 reasons in the log: unknown binding, wrong secret, wrong placement; never the token', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'iamra-rob-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const sink = logSink()
  const app = await buildApp({
    configurationDirectory: dir,
    resolveCredentials: async () => creds(new Date(Date.now() + 60 * MIN)),
    logger: {
      level: 'info',
      stream: sink.stream, // as serve configures it
      serializers: { req: (req: { method: string; url: string }) => ({ method: req.method, url: redactUrl(req.url) }) },
    },
  })
  t.teardown(() => app.fastify.close())
  const { token } = await addBinding(dir, 'app', 'ecs-full')
  const secret = token.split('.')[2] ?? ''
  const wrong = `iamra.app.${'B'.repeat(secret.length)}`
  const unknown = `iamra.nobody.${secret}`
  const ask = (headers: Record<string, string>, url = '/ecs/credentials') => app.fastify.inject({ method: 'GET', url, headers })
  t.equal((await ask({ authorization: unknown })).statusCode, 403)
  t.equal((await ask({ authorization: wrong })).statusCode, 403)
  t.equal((await ask({}, `/ecs/credentials?access_token=${token}`)).statusCode, 403)
  const refusals = sink.lines().filter((l) => l.code === 'TOKEN_REJECTED')
  t.equal(refusals.length, 3)
  t.ok(
    refusals.every((l) => l.level === 30),
    'at info',
  )
  t.match(String(refusals[0]?.detail), /no binding named "nobody"/)
  t.match(String(refusals[1]?.detail), /wrong secret for binding "app"/)
  t.match(String(refusals[2]?.detail), /sent in the query, but its mode ecs-full takes it in the header/)
  t.notOk(sink.text().includes(secret), 'the secret never reaches the log')
})

t.test('/healthz warns about an expiring certificate from the start', async (t) => {
  const s = await startScenario('p256')
  t.teardown(s.close)
  const soon = await createLeaf({ name: 'iamra expiring', key: 'p256', issuer: s.pki.intermediate, notAfter: new Date(Date.now() + 3 * 86_400_000) })
  const certPath = s.pki.write('soon.pem', soon.certPem)
  const dir = join(s.pki.dir, 'run')
  await addBinding(dir, 'app', 'ecs-full', { certificateFiles: [certPath], privateKeyFile: s.pki.write('soon.key', soon.keyPem) })
  const srv = await startServe(t, dir)
  const h = await timedGet(srv.port, '/healthz')
  t.equal(h.status, 200)
  t.match(h.body, /warning: 1 certificate\(s\) expire within 7 days/, 'before any credentials request')
  t.notMatch(h.body, /app/, 'without naming the binding')
  t.match(srv.output(), /the certificate of binding app expires/, 'and the log warns at start')
})

// ---------------------------------------------------------------------------------------------
// 5. Timing: an unknown binding costs what a wrong secret costs

t.test('an unknown binding name costs the same time as a wrong secret', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'iamra-rob-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const { token } = await addBinding(dir, 'app', 'ecs-full')
  const secret = token.split('.')[2] ?? ''
  const wrongSecret = { token: `iamra.app.${'B'.repeat(secret.length)}`, from: 'header' as const }
  const unknownName = { token: `iamra.apq.${'B'.repeat(secret.length)}`, from: 'header' as const }
  const lookup = new BindingLookup(dir)
  const once = async (p: typeof wrongSecret): Promise<number> => {
    const t0 = process.hrtime.bigint()
    await authorize(lookup, p).catch(() => {})
    return Number(process.hrtime.bigint() - t0)
  }
  for (let i = 0; i < 300; i++) await once(i % 2 === 0 ? wrongSecret : unknownName) // warm up
  // Interleaved pairs (order alternating), so load from other processes hits both alike; the
  // median of the per-pair differences is robust against outliers from scheduling.
  const diffs: number[] = []
  const known: number[] = []
  for (let i = 0; i < 4000; i++) {
    const [a, b] = i % 2 === 0 ? [await once(wrongSecret), await once(unknownName)] : [NaN, NaN]
    if (i % 2 === 0) {
      diffs.push(a - b)
      known.push(a)
    } else {
      const u = await once(unknownName)
      const k = await once(wrongSecret)
      diffs.push(k - u)
      known.push(k)
    }
  }
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)] as number
  const d = median(diffs)
  const base = median(known)
  t.comment(`median wrong-secret ${(base / 1000).toFixed(1)} µs; median (wrong secret - unknown name) ${(d / 1000).toFixed(2)} µs`)
  // The old code differed by a file read and a JSON parse (~10 µs and more, about half the time).
  t.ok(Math.abs(d) < Math.max(2000, base * 0.15), `the difference (${(d / 1000).toFixed(2)} µs) is within noise of ${(base / 1000).toFixed(1)} µs`)
})

// ---------------------------------------------------------------------------------------------
// 2 (end to end). An upstream that hangs, then comes back: the ECS server and IMDS mode

/** A TCP front for the fake endpoint that either swallows connections (hang) or passes them on. */
async function switchableUpstream(t: Test, target: number): Promise<{ url: string; setHang: (h: boolean) => void }> {
  let hang = true
  const held = new Set<import('node:net').Socket>()
  const { connect } = await import('node:net')
  const server = createTcpServer((sock) => {
    held.add(sock)
    sock.on('close', () => held.delete(sock))
    sock.on('error', () => {})
    if (hang) return // accepted, never answered
    const up = connect(target, '127.0.0.1')
    up.on('error', () => sock.destroy())
    sock.pipe(up).pipe(sock)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.teardown(() => {
    for (const s of held) s.destroy()
    server.close()
  })
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    setHang: (h) => {
      hang = h
    },
  }
}

t.test('upstream hangs, then comes back: coded answers only, and the first success is served at once', async (t) => {
  // Credentials that expire 1.5 s after they are minted, so a refresh is due (and they expire) during the hang.
  const s = await startScenario('p256', {
    mint: async () => ({ accessKeyId: `ASIA${Date.now()}`, secretAccessKey: 'x', sessionToken: 'y', expiration: new Date(Date.now() + 1500) }),
  })
  t.teardown(s.close)
  const upstream = await switchableUpstream(t, s.fake.port)
  upstream.setHang(false)
  const dir = join(s.pki.dir, 'run')
  const { token } = await addBinding(dir, 'app', 'ecs-full', {
    certificateFiles: [s.pki.path('leaf.pem')],
    intermediatesFiles: [s.pki.path('int.pem')],
    privateKeyFile: s.pki.path('key.pem'),
    endpoint: upstream.url,
    region: 'us-east-1',
    request: { ...REQUEST, trustAnchorArn: TRUST_ANCHOR_ARN, profileArn: PROFILE_ARN, roleArn: ROLE_ARN },
  })
  const transport = createTransport({ timeoutMs: 150, verifyTls: true })
  const cache = new CredentialCache({ maxRefreshWaitMs: 100, now: Date.now, random: Math.random })
  t.teardown(() => cache.clear())
  const app = await buildApp({
    configurationDirectory: dir,
    resolveCredentials: cachedCredentials(
      bindingCredentials({ env: {}, keys: new KeyBackends(), now: () => new Date(), random: Math.random, transport }),
      cache,
      testBindingKeys(),
    ),
  })
  t.teardown(() => app.fastify.close())
  const ask = () => app.fastify.inject({ method: 'GET', url: '/ecs/credentials', headers: { authorization: token } })
  t.equal((await ask()).statusCode, 200, 'served before the outage')
  upstream.setHang(true)
  const answers = new Map<string, number>()
  const started = Date.now()
  await Promise.all(
    Array.from({ length: 6 }, async () => {
      while (Date.now() - started < 2500) {
        const r = await ask()
        const code = r.statusCode === 200 ? '200' : `${r.statusCode} ${(JSON.parse(r.body) as { Code?: string }).Code ?? r.body.slice(0, 80)}`
        answers.set(code, (answers.get(code) ?? 0) + 1)
        await sleep(20)
      }
    }),
  )
  t.comment(`during the hang: ${JSON.stringify(Object.fromEntries(answers))}`)
  t.ok(
    [...answers.keys()].every((k) => k === '200' || k === '504 UPSTREAM_TIMEOUT'),
    'only credentials or 504 UPSTREAM_TIMEOUT',
  )
  t.ok(answers.has('504 UPSTREAM_TIMEOUT'), 'the credentials expired during the hang: 504')
  upstream.setHang(false)
  const back = Date.now()
  let first: number | undefined
  while (Date.now() - back < 5000) {
    if ((await ask()).statusCode === 200) {
      first = Date.now() - back
      break
    }
    await sleep(50)
  }
  t.ok(first !== undefined && first < 2000, `served ${first} ms after the upstream came back`)
})

t.test('IMDS mode under load: refreshes that meet a renaming rotation give no failed request', async (t) => {
  // Credentials good for one to two seconds: a refresh is due every second or less, so refreshes meet the rotations.
  // The wire format has whole seconds, so the expiry is rounded up first: rounded down by the fake, `now + 1000`
  // could leave a millisecond, and a loaded machine then sees CreateSession hand back expired credentials.
  const s = await startScenario('p256', {
    mint: async () => ({
      accessKeyId: `ASIA${Date.now()}`,
      secretAccessKey: 'x',
      sessionToken: 'y',
      expiration: new Date(Math.ceil(Date.now() / 1000) * 1000 + 1000),
    }),
  })
  t.teardown(s.close)
  const { isMidRotation, retryMidRotation } = await import('../src/identity/rotation.js')
  const { fromCertificate } = await import('../src/credentials/from-certificate.js')
  const { resolveSessionConfig } = await import('../src/rolesanywhere/session-config.js')
  const certPath = s.pki.write('tls.crt', s.pki.leaf.certPem + s.pki.intermediate.certPem)
  const keyPath = s.pki.path('key.pem')
  const provider = fromCertificate({
    keys: new KeyBackends(),
    identity: { certificateFiles: [certPath], privateKeyFile: keyPath },
    session: resolveSessionConfig({
      trustAnchorArn: TRUST_ANCHOR_ARN,
      profileArn: PROFILE_ARN,
      roleArn: ROLE_ARN,
      endpoint: s.fake.url,
      verifyTls: true,
      environment: {},
    }),
    now: () => new Date(),
    random: Math.random,
  })
  const cache = new CredentialCache({ isLocalTransient: isMidRotation, now: Date.now, random: Math.random }) // as serveImds builds it
  t.teardown(() => cache.clear())
  const app = await buildImdsApp({
    roleName: 'iamra-test',
    credentials: imdsCredentialSource(() => retryMidRotation(provider), cache, Date.now),
    tokens: new TokenStore({ now: Date.now, random: randomBytes }),
  })
  t.teardown(() => app.fastify.close())
  const host = { host: '127.0.0.1' }
  const tok = (await app.fastify.inject({ method: 'PUT', url: '/latest/api/token', headers: { ...host, 'x-aws-ec2-metadata-token-ttl-seconds': '60' } })).body
  const get = () =>
    app.fastify.inject({ method: 'GET', url: '/latest/meta-data/iam/security-credentials/iamra-test', headers: { ...host, 'x-aws-ec2-metadata-token': tok } })
  t.equal((await get()).statusCode, 200)
  const leaves: TestCert[] = []
  for (let i = 0; i < 14; i++) leaves.push(await createLeaf({ name: `iamra imds ${i}`, key: 'p256', issuer: s.pki.intermediate }))
  const rotate = (async () => {
    for (const leaf of leaves) {
      writeFileSync(`${certPath}.new`, leaf.certPem + s.pki.intermediate.certPem)
      writeFileSync(`${keyPath}.new`, leaf.keyPem)
      renameSync(`${certPath}.new`, certPath)
      await sleep(100) // between the two renames
      renameSync(`${keyPath}.new`, keyPath)
      await sleep(150)
    }
  })()
  const { total, failures } = await underLoad(get, rotate, 4)
  t.ok(s.fake.calls.length >= 3, `${s.fake.calls.length} CreateSession calls during the rotations`)
  t.same(failures, [], `${failures.length} of ${total} requests failed`)
})
