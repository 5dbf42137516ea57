// The Kubernetes node agent in-process: `bind --mode kubernetes`, token verification (RS256/ES256,
// JWKS from a file and over https with a private CA), refusals, JWKS rotation, the CreateSession
// bound for 200 pods on one service account, and the cached-request latency next to the ECS route.
import t, { type Test } from 'tap'
import { testBindingKeys, testFileDigests } from './helpers/runtime.js'
import { createHmac } from 'node:crypto'
import { createServer as createHttpsServer } from 'node:https'
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import * as jose from 'jose'
import { CredentialCache } from '../src/cache/credential-cache.js'
import { buildAgentApp, hostAllowed, type AgentAppOptions } from '../src/kubernetes/agent-app.js'
import { agentCredentials } from '../src/kubernetes/agent-credentials.js'
import { cachedListing, listKubernetesBindings } from '../src/kubernetes/binding.js'
import { fileJwks, httpsJwks, type JwksSource } from '../src/kubernetes/jwks-source.js'
import { createKeySet } from '../src/kubernetes/key-set.js'
import { createRateLimiter } from '../src/kubernetes/rate-limit.js'
import { fitSessionName, type SessionNameStyle } from '../src/kubernetes/session-name.js'
import { createTokenVerifier } from '../src/kubernetes/token-verifier.js'
import { buildApp } from '../src/server/app.js'
import { bindingCredentials } from '../src/server/binding-credentials.js'
import { cachedCredentials } from '../src/server/cached-credentials.js'
import { createCa, createLeaf } from '../src/testing/pki.js'
import type { MintRequest } from '../src/testing/fake-endpoint/handler.js'
import { addBinding } from './helpers/bindings.js'
import { runCli } from './helpers/cli.js'
import { AUDIENCE, ISSUER, claims, jwksOf, podToken, signToken, signingKey, unsignedToken, type SigningKey } from './helpers/k8s-issuer.js'
import { startScenario, type Scenario } from './helpers/scenario.js'
import { KeyBackends } from '../src/keys/key-backends.js'

const ROLE_A = 'arn:aws:iam::111111111111:role/payments'
const ROLE_B = 'arn:aws:iam::222222222222:role/reports'
const HOST = { host: '169.254.170.23' }
type Minted = MintRequest & { readonly accessKeyId: string }

interface Agent {
  readonly app: Awaited<ReturnType<typeof buildAgentApp>>
  readonly minted: Minted[]
  readonly jwksPath: string
  readonly dir: string
  readonly loads: () => number
  get(token: string | undefined, headers?: Record<string, string>): Promise<{ status: number; body: Record<string, unknown>; raw: string }>
}

/** A scenario whose fake endpoint records each mint (role and session name) by access key. */
async function scenario(t: Test): Promise<{ s: Scenario; minted: Minted[] }> {
  const minted: Minted[] = []
  let n = 0
  const s = await startScenario('p256', {
    mint: async (req) => {
      n++
      const accessKeyId = `ASIA${String(n).padStart(16, '0')}`
      minted.push({ ...req, accessKeyId })
      return { accessKeyId, secretAccessKey: 'secret'.repeat(5), sessionToken: `token${n}`, expiration: new Date(Date.now() + req.durationSeconds * 1000) }
    },
  })
  t.teardown(s.close)
  return { s, minted }
}

async function bindK8s(t: Test, s: Scenario, dir: string, name: string, role: string, sas: string[], extra: string[] = []): Promise<void> {
  const r = await runCli([
    'bind',
    name,
    '--mode',
    'kubernetes',
    ...sas.flatMap((sa) => ['--service-account', sa]),
    '--configuration-directory',
    dir,
    '--certificate',
    s.pki.path('leaf.pem'),
    '--intermediates',
    s.pki.path('int.pem'),
    '--private-key',
    s.pki.path('key.pem'),
    ...s.sessionArgs.map((a) => (a === s.sessionArgs[5] ? role : a)),
    ...extra,
  ])
  t.equal(r.code, 0, `bind ${name}: ${r.stderr}`)
}

async function makeAgent(
  t: Test,
  opts: { keys: SigningKey[]; jwks?: JwksSource; styles?: SessionNameStyle; rate?: number; cooldownMs?: number; s?: Scenario; minted?: Minted[] },
): Promise<Agent> {
  const { s, minted } = opts.s !== undefined && opts.minted !== undefined ? { s: opts.s, minted: opts.minted } : await scenario(t)
  const dir = mkdtempSync(join(tmpdir(), 'iamra-k8s-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const jwksPath = join(dir, 'jwks.json')
  writeFileSync(jwksPath, JSON.stringify(jwksOf(...opts.keys)))
  await bindK8s(t, s, dir, 'payments', ROLE_A, ['shop/payments'])
  await bindK8s(t, s, dir, 'reports', ROLE_B, ['shop/reports', 'batch/reports'])
  minted.length = 0 // bind's own validation calls are not the agent's
  let loads = 0
  const source = opts.jwks ?? fileJwks(jwksPath)
  const keys = createKeySet({
    jose,
    source: {
      describe: source.describe,
      load: () => {
        loads++
        return source.load()
      },
    },
    cooldownMs: opts.cooldownMs ?? 0,
    maxAgeMs: 600_000,
    now: Date.now,
  })
  await keys.load()
  const cache = new CredentialCache({ now: Date.now, random: Math.random })
  t.teardown(() => cache.clear())
  const appOpts: AgentAppOptions = {
    verify: createTokenVerifier({ jose, keys, issuer: ISSUER, audiences: [AUDIENCE, 'other-audience'], now: () => new Date() }),
    bindings: cachedListing(dir, 0, Date.now),
    credentials: agentCredentials({ cache, env: {}, keys: new KeyBackends(), files: testFileDigests(), now: () => new Date(), random: Math.random }),
    sessionNames: opts.styles ?? 'pod',
    rateLimit: createRateLimiter({ rate: opts.rate ?? 100_000, burst: (opts.rate ?? 100_000) * 2, now: Date.now }),
  }
  const app = await buildAgentApp(appOpts)
  t.teardown(() => app.fastify.close())
  return {
    app,
    minted,
    jwksPath,
    dir,
    loads: () => loads,
    get: async (token, headers = HOST) => {
      const r = await app.fastify.inject({
        method: 'GET',
        url: '/v1/credentials',
        headers: { ...headers, ...(token === undefined ? {} : { authorization: token }) },
      })
      return { status: r.statusCode, raw: r.body, body: r.body.startsWith('{') ? (JSON.parse(r.body) as Record<string, unknown>) : {} }
    },
  }
}

t.test('bind --mode kubernetes: a binding file with the service accounts, no token, no env file', async (t) => {
  const { s } = await scenario(t)
  const dir = mkdtempSync(join(tmpdir(), 'iamra-k8s-bind-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  await bindK8s(t, s, dir, 'payments', ROLE_A, ['shop/payments', 'shop/payments', 'shop/payments-v2'])
  const file = JSON.parse(readFileSync(join(dir, 'bindings', 'payments.json'), 'utf8')) as Record<string, unknown>
  t.same(file.mode, { kind: 'Kubernetes' })
  t.same(file.service_accounts, ['shop/payments', 'shop/payments-v2'], 'deduplicated')
  t.notOk('secret_hash' in file, 'no secret')
  t.notOk(existsSync(join(dir, 'env', 'payments')), 'no env file')
  t.notOk(existsSync(join(dir, 'tokens', 'payments')), 'no token file')
  t.equal(listKubernetesBindings(dir).bindings.length, 1)
  const common = ['--configuration-directory', dir, '--certificate', s.pki.path('leaf.pem'), '--private-key', s.pki.path('key.pem'), ...s.sessionArgs]
  for (const [args, why] of [
    [['bind', 'x', '--mode', 'kubernetes', ...common], 'no --service-account'],
    [['bind', 'x', '--mode', 'kubernetes', '--service-account', 'Shop/payments', ...common], 'upper-case namespace'],
    [['bind', 'x', '--mode', 'kubernetes', '--service-account', 'shop', ...common], 'no NAME'],
    [['bind', 'x', '--mode', 'kubernetes', '--service-account', 'a/b/c', ...common], 'three parts'],
    [['bind', 'x', '--mode', 'ecs-full', '--service-account', 'shop/payments', ...common], 'service account in a token mode'],
  ] as const) {
    const r = await runCli([...args])
    t.equal(r.code, 2, `${why}: ${r.stderr.trim()}`)
  }
  t.notOk(existsSync(join(dir, 'bindings', 'x.json')), 'nothing written for refused binds')
})

for (const alg of ['RS256', 'ES256'] as const) {
  t.test(`${alg}: each service account gets its own role, in the EKS agent's answer shape`, async (t) => {
    const key = signingKey(alg)
    const agent = await makeAgent(t, { keys: [key] })
    const a = await agent.get(podToken(key, { namespace: 'shop', serviceAccount: 'payments', pod: 'payments-5d8f-abcde' }))
    t.equal(a.status, 200, a.raw)
    t.same(Object.keys(a.body), ['AccessKeyId', 'SecretAccessKey', 'Token', 'AccountId', 'Expiration'])
    t.equal(a.body.AccountId, '111111111111')
    t.match(a.body.Expiration, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)
    const b = await agent.get(podToken(key, { namespace: 'batch', serviceAccount: 'reports', pod: 'nightly-29' }))
    t.equal(b.status, 200, b.raw)
    t.equal(b.body.AccountId, '222222222222')
    const byKey = new Map(agent.minted.map((m) => [m.accessKeyId, m]))
    const minted = agent.minted.filter((m) => m.roleSessionName !== undefined)
    t.equal(byKey.get(String(a.body.AccessKeyId))?.roleArn, ROLE_A)
    t.equal(byKey.get(String(a.body.AccessKeyId))?.roleSessionName, 'shop.payments-5d8f-abcde', 'session name: NAMESPACE.POD')
    t.equal(byKey.get(String(b.body.AccessKeyId))?.roleArn, ROLE_B)
    t.equal(byKey.get(String(b.body.AccessKeyId))?.roleSessionName, 'batch.nightly-29')
    t.ok(minted.length >= 2)
    const bearer = await agent.get(`Bearer ${podToken(key, { namespace: 'shop', serviceAccount: 'reports' })}`)
    t.equal(bearer.status, 200, 'a "Bearer " prefix is tolerated')
  })
}

t.test('refusals: every bad token, an unbound or doubly bound service account, a foreign Host', async (t) => {
  const key = signingKey('RS256')
  const other = signingKey('RS256')
  const ec = signingKey('ES256')
  const agent = await makeAgent(t, { keys: [key, ec], cooldownMs: 0 })
  const ok = { namespace: 'shop', serviceAccount: 'payments' }
  const now = Math.floor(Date.now() / 1000)
  const forged = podToken(other, ok).split('.')
  const genuineHeader = podToken(key, ok).split('.')[0]
  // A second binding naming shop/payments makes it ambiguous; written directly as bind would.
  const cases: Array<[string, string | undefined, number, string]> = [
    ['wrong audience', podToken(key, { ...ok, audience: ['https://kubernetes.default.svc'] }), 403, 'SA_TOKEN_REJECTED'],
    ['wrong issuer', podToken(key, { ...ok, issuer: 'https://evil.example' }), 403, 'SA_TOKEN_REJECTED'],
    ['expired (beyond the 30 s tolerance)', signToken(key, claims({ ...ok, iatOffset: -7200, ttl: 3600 }, now)), 403, 'SA_TOKEN_REJECTED'],
    ['not yet valid', podToken(key, { ...ok, nbfOffset: 600 }), 403, 'SA_TOKEN_REJECTED'],
    ['alg none', unsignedToken(key.kid, claims(ok)), 403, 'SA_TOKEN_REJECTED'],
    ['alg HS256 with the public key as secret', signHs256(key, claims(ok)), 403, 'SA_TOKEN_REJECTED'],
    ['forged signature under a known kid', `${genuineHeader}.${forged[1]}.${forged[2]}`, 403, 'SA_TOKEN_REJECTED'],
    ['unknown kid', podToken(other, ok), 403, 'SA_TOKEN_REJECTED'],
    ['sub disagrees with kubernetes.io', signToken(key, { ...claims(ok), sub: 'system:serviceaccount:shop:reports' }), 403, 'SA_TOKEN_REJECTED'],
    [
      'not bound to a pod',
      signToken(key, claims({ ...ok, kubernetes: { namespace: 'shop', serviceaccount: { name: 'payments', uid: 'u' } } })),
      403,
      'SA_TOKEN_REJECTED',
    ],
    ['no exp', signToken(key, { ...claims(ok), exp: undefined }), 403, 'SA_TOKEN_REJECTED'],
    ['garbage', 'not-a-jwt', 403, 'SA_TOKEN_REJECTED'],
    ['another service account without a binding', podToken(ec, { namespace: 'shop', serviceAccount: 'frontend' }), 403, 'SA_NOT_BOUND'],
    ['same name, another namespace', podToken(key, { namespace: 'dev', serviceAccount: 'payments' }), 403, 'SA_NOT_BOUND'],
    ['no token', undefined, 401, 'TOKEN_MISSING'],
  ]
  for (const [why, token, status, code] of cases) {
    const r = await agent.get(token)
    t.equal(r.status, status, `${why}: ${r.raw}`)
    t.equal(r.body.Code, code, why)
    t.notOk(token !== undefined && token.length > 20 && r.raw.includes(token.slice(-20)), `${why}: the answer does not echo the token`)
  }
  t.equal(agent.minted.length, 0, 'no refused request reached CreateSession')
  const good = podToken(key, ok)
  for (const host of ['evil.example', 'evil.example:80', '10.0.0.1', '169.254.170.2', '[fd00:ec2::24]', '']) {
    const r = await agent.get(good, { host })
    t.equal(r.status, 403, `Host "${host}"`)
    t.equal(r.body.Code, 'AGENT_HOST_REFUSED')
  }
  for (const host of ['169.254.170.23', '169.254.170.23:80', '[fd00:ec2::23]', '[FD00:EC2::23]:80'])
    t.equal((await agent.get(good, { host })).status, 200, `Host "${host}"`)
  t.ok(hostAllowed('127.0.0.1:8080', '::ffff:127.0.0.1'), "the address the connection reached is the agent's own")
  t.notOk(hostAllowed('127.0.0.2:8080', '127.0.0.1'))
  const health = await agent.app.fastify.inject({ method: 'GET', url: '/healthz', headers: { host: 'node-1:2703' } })
  t.equal(health.statusCode, 200)
  t.equal(health.body, 'ok')

  await bindK8sDirect(agent.dir, 'payments-too', 'shop/payments')
  const twice = await agent.get(good)
  t.equal(twice.status, 403)
  t.equal(twice.body.Code, 'SA_NOT_BOUND')
  t.match(String(twice.body.Message), /several bindings name service account shop\/payments: payments, payments-too/)
})

/** A second binding file for the ambiguity case: a copy of payments.json under another name. */
async function bindK8sDirect(dir: string, name: string, sa: string): Promise<void> {
  const src = JSON.parse(readFileSync(join(dir, 'bindings', 'payments.json'), 'utf8')) as Record<string, unknown>
  writeFileSync(join(dir, 'bindings', `${name}.json`), JSON.stringify({ ...src, name, service_accounts: [sa] }), { mode: 0o600 })
}

function signHs256(key: SigningKey, payload: Record<string, unknown>): string {
  const input = `${Buffer.from(JSON.stringify({ alg: 'HS256', kid: key.kid })).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`
  return `${input}.${createHmacB64(JSON.stringify(key.jwk), input)}`
}
function createHmacB64(secret: string, input: string): string {
  return createHmac('sha256', secret).update(input).digest('base64url')
}

t.test('JWKS rotation: a new signing key is picked up on its first token; re-loads respect the cooldown', async (t) => {
  const old = signingKey('RS256')
  const next = signingKey('ES256')
  const agent = await makeAgent(t, { keys: [old], cooldownMs: 0 })
  t.equal((await agent.get(podToken(old, { namespace: 'shop', serviceAccount: 'payments' }))).status, 200)
  writeFileSync(agent.jwksPath, JSON.stringify(jwksOf(old, next)))
  const before = agent.loads()
  t.equal((await agent.get(podToken(next, { namespace: 'shop', serviceAccount: 'payments' }))).status, 200, 'token under the new kid accepted')
  t.equal(agent.loads(), before + 1, 'exactly one re-load')
  writeFileSync(agent.jwksPath, JSON.stringify(jwksOf(next)))
  t.equal((await agent.get(podToken(next, { namespace: 'shop', serviceAccount: 'payments' }))).status, 200)
  t.equal((await agent.get(podToken(old, { namespace: 'shop', serviceAccount: 'payments' }))).status, 200, 'the retired key is still known until a re-load')

  const slow = await makeAgent(t, { keys: [old], cooldownMs: 60_000 })
  const stranger = signingKey('RS256')
  const loads0 = slow.loads()
  for (let i = 0; i < 20; i++) t.equal((await slow.get(podToken(stranger, { namespace: 'shop', serviceAccount: 'payments' }))).status, 403)
  t.equal(slow.loads(), loads0, 'unknown kids within the cooldown cause no re-load')
})

t.test('JWKS over https with a private CA and a bearer-token file', async (t) => {
  const key = signingKey('ES256')
  const ca = await createCa({ name: 'test cluster CA', key: 'p256' })
  const tls = await createLeaf({ name: 'kube-apiserver', key: 'p256', issuer: ca, serverNames: ['127.0.0.1'] })
  const seen: Array<string | undefined> = []
  const server = createHttpsServer({ cert: tls.certPem, key: tls.keyPem }, (req, res) => {
    seen.push(req.headers.authorization)
    if (req.url !== '/openid/v1/jwks') return void res.writeHead(404).end()
    res.writeHead(200, { 'content-type': 'application/jwk-set+json' }).end(JSON.stringify(jwksOf(key)))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.teardown(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections()
        server.close(() => r())
      }),
  )
  const dir = mkdtempSync(join(tmpdir(), 'iamra-k8s-https-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const tokenFile = join(dir, 'token')
  writeFileSync(tokenFile, 'agent-sa-token-1')
  const url = new URL(`https://127.0.0.1:${(server.address() as AddressInfo).port}/openid/v1/jwks`)
  const agent = await makeAgent(t, { keys: [], jwks: httpsJwks({ url, ca: ca.certPem, tokenFile }) })
  t.equal((await agent.get(podToken(key, { namespace: 'shop', serviceAccount: 'payments' }))).status, 200)
  t.equal(seen[0], 'Bearer agent-sa-token-1')
  writeFileSync(tokenFile, 'agent-sa-token-2')
  const rotated = signingKey('RS256')
  t.equal((await agent.get(podToken(rotated, { namespace: 'shop', serviceAccount: 'payments' }))).status, 403, 'unknown kid after a re-fetch')
  t.equal(seen.at(-1), 'Bearer agent-sa-token-2', 'the token file is re-read for each fetch')
  const untrusted = httpsJwks({ url })
  await t.rejects(untrusted.load(), { code: 'JWKS_UNAVAILABLE' }, 'without the cluster CA the certificate is refused')
  t.throws(() => httpsJwks({ url: new URL('http://127.0.0.1/openid/v1/jwks') }), { code: 'INTERNAL' }, 'plain http refused by the source itself')
  const cli = await runCli([
    'serve',
    '--configuration-directory',
    dir,
    '--kubernetes-issuer',
    'https://k8s.example',
    '--kubernetes-audience',
    'sts.amazonaws.com',
    '--kubernetes-jwks',
    'http://127.0.0.1/openid/v1/jwks',
  ])
  t.equal(cli.code, 2)
  t.match(
    cli.stderr,
    /^iamra: --kubernetes-jwks http:\/\/127\.0\.0\.1\/openid\/v1\/jwks: only https:\/\/ URLs \(or a file\) \[USAGE\]/,
    'the CLI names its flag',
  )
})

t.test('200 pods on one service account: CreateSession calls stay bounded', async (t) => {
  const key = signingKey('RS256')
  const { s, minted } = await scenario(t)
  const pods = Array.from({ length: 200 }, (_, i) =>
    podToken(key, { namespace: 'shop', serviceAccount: 'payments', pod: `payments-6b7c9-${String(i).padStart(5, '0')}` }),
  )
  const figures: string[] = []
  for (const [style, bound] of [
    ['service-account', 1],
    ['pod', 200],
  ] as const) {
    minted.length = 0
    const agent = await makeAgent(t, { keys: [key], styles: style, s, minted })
    const started = performance.now()
    // Every pod asks three times, all at once: 600 requests.
    const answers = await Promise.all([...pods, ...pods, ...pods].map((tok) => agent.get(tok)))
    const ms = performance.now() - started
    t.ok(
      answers.every((a) => a.status === 200),
      `${style}: all 600 requests answered 200`,
    )
    t.equal(minted.length, bound, `${style}: ${minted.length} CreateSession calls for 200 pods (bound ${bound})`)
    const again = await Promise.all(pods.map((tok) => agent.get(tok)))
    t.ok(again.every((a) => a.status === 200))
    t.equal(minted.length, bound, `${style}: no more calls for the next round`)
    figures.push(`${style}: ${minted.length} CreateSession for 200 pods x 3 concurrent requests (${ms.toFixed(0)} ms)`)
  }
  t.comment(`figures: ${figures.join('; ')}`)
})

t.test('session names fit Roles Anywhere limits and stay distinct', async (t) => {
  const long = 'a'.repeat(63)
  const n1 = fitSessionName(`${long}.${'p'.repeat(200)}-1`)
  const n2 = fitSessionName(`${long}.${'p'.repeat(200)}-2`)
  t.ok(n1.length <= 64 && n2.length <= 64)
  t.not(n1, n2)
  t.match(n1, /^[\w+=,.@-]{2,64}$/)
  t.equal(fitSessionName('x'), 'x-')
})

t.test('rate limit: a source over its budget gets 429 until its bucket refills', async (t) => {
  const key = signingKey('RS256')
  const agent = await makeAgent(t, { keys: [key], rate: 5 })
  const tok = podToken(key, { namespace: 'shop', serviceAccount: 'payments' })
  const statuses: number[] = []
  for (let i = 0; i < 15; i++) statuses.push((await agent.get(tok)).status)
  t.equal(statuses.filter((s) => s === 200).length >= 10, true, 'the burst (10) passes')
  t.ok(statuses.includes(429), '429 once the burst is spent')
  let clock = 0
  const limiter = createRateLimiter({ rate: 2, burst: 2, now: () => clock, maxSources: 3 })
  t.same([limiter('a'), limiter('a'), limiter('a')], [true, true, false])
  clock = 500
  t.equal(limiter('a'), true, 'one token back after 500 ms at 2/s')
  for (const s of ['b', 'c', 'd', 'e']) limiter(s)
  t.equal(limiter('f'), true, 'the table stays bounded and new sources are served')
})

t.test('latency: a cached agent request next to a cached ECS request (loopback, keep-alive)', async (t) => {
  const key = signingKey('RS256')
  const agent = await makeAgent(t, { keys: [key] })
  const { s } = await scenario(t)
  const dir = mkdtempSync(join(tmpdir(), 'iamra-k8s-ecs-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const { token } = await addBinding(dir, 'ecs', 'ecs-full', {
    certificateFiles: [s.pki.path('leaf.pem')],
    intermediatesFiles: [s.pki.path('int.pem')],
    privateKeyFile: s.pki.path('key.pem'),
    request: { durationSeconds: 3600, trustAnchorArn: s.sessionArgs[1] as string, profileArn: s.sessionArgs[3] as string, roleArn: ROLE_A },
    endpoint: s.fake.url,
  })
  const cache = new CredentialCache({ now: Date.now, random: Math.random })
  t.teardown(() => cache.clear())
  const ecs = await buildApp({
    configurationDirectory: dir,
    resolveCredentials: cachedCredentials(
      bindingCredentials({ env: {}, keys: new KeyBackends(), now: () => new Date(), random: Math.random }),
      cache,
      testBindingKeys(),
    ),
  })
  t.teardown(() => ecs.fastify.close())
  const measure = async (app: typeof ecs, path: string, headers: Record<string, string>): Promise<{ p50: number; p99: number }> => {
    const url = await app.fastify.listen({ host: '127.0.0.1', port: 0 })
    const lat: number[] = []
    for (let i = 0; i < 520; i++) {
      const t0 = performance.now()
      const r = await fetch(url + path, { headers })
      await r.arrayBuffer()
      if (r.status !== 200) throw new Error(`${path}: ${r.status}`)
      if (i >= 20) lat.push(performance.now() - t0)
    }
    lat.sort((a, b) => a - b)
    return { p50: lat[Math.floor(lat.length * 0.5)] as number, p99: lat[Math.floor(lat.length * 0.99)] as number }
  }
  const k = await measure(agent.app, '/v1/credentials', {
    authorization: podToken(key, { namespace: 'shop', serviceAccount: 'payments' }),
    host: '169.254.170.23',
  })
  const e = await measure(ecs, '/ecs/credentials', { authorization: token })
  t.comment(
    `figures: cached request latency over loopback: agent p50 ${k.p50.toFixed(2)} ms, p99 ${k.p99.toFixed(2)} ms; ECS p50 ${e.p50.toFixed(2)} ms, p99 ${e.p99.toFixed(2)} ms`,
  )
  t.ok(k.p50 < 50, 'the agent answers a cached request well within SDK timeouts')
})
