// Runs inside a private network namespace whose loopback owns 169.254.170.23 and fd00:ec2::23
// (started by test/kubernetes-netns.test.ts through `unshare -n`): the fake Roles Anywhere
// endpoint, an https JWKS server with a private CA, `iamra bind --mode kubernetes`, `iamra serve
// --kubernetes-*` on its default addresses, and real clients, each with its own service-account
// token. Writes results.json into $W; nothing leaves the namespace. Every wait is bounded.
import { execFile, spawn } from 'node:child_process'
import { createServer as createHttpServer } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

const E = process.env
const W = E.W
const { startFakeEndpoint } = await import(E.TESTING_KIT)
const steps = []
const T0 = Date.now()
const step = (s) => steps.push(`+${Date.now() - T0} ms ${s}`)
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

// CreateSession: remember which role and session name each access key was minted for.
const minted = []
let n = 0
const fake = await startFakeEndpoint({
  trustAnchors: [readFileSync(join(E.PKI, 'root.pem'), 'utf8')],
  region: 'us-east-1',
  mint: async (req) => {
    n++
    const accessKeyId = `ASIA${String(n).padStart(16, '0')}`
    minted.push({ accessKeyId, roleArn: req.roleArn, roleSessionName: req.roleSessionName ?? null })
    return { accessKeyId, secretAccessKey: 'x'.repeat(40), sessionToken: `session-token-${n}`, expiration: new Date(Date.now() + req.durationSeconds * 1000) }
  },
})
step(`fake endpoint ${fake.url}`)

// The API server's /openid/v1/jwks, served over https with the cluster CA's certificate.
const jwksSeen = []
const jwks = createHttpsServer({ cert: readFileSync(E.TLS_CERT), key: readFileSync(E.TLS_KEY) }, (req, res) => {
  jwksSeen.push(req.headers.authorization ?? null)
  if (req.url !== '/openid/v1/jwks') return void res.writeHead(404).end()
  res.writeHead(200, { 'content-type': 'application/jwk-set+json' }).end(readFileSync(E.JWKS_FILE))
})
await new Promise((r) => jwks.listen(0, '127.0.0.1', r))
const jwksUrl = `https://127.0.0.1:${jwks.address().port}/openid/v1/jwks`

// A stand-in STS for AWS CLI v1 (it has no export-credentials): it reports the access key a
// request was signed with.
const stsSeen = []
const sts = createHttpServer((req, res) => {
  const ak = /Credential=([A-Z0-9]+)\//.exec(req.headers.authorization ?? '')?.[1] ?? null
  stsSeen.push(ak)
  req.resume()
  req.on('end', () =>
    res
      .writeHead(200, { 'content-type': 'text/xml' })
      .end(
        `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>arn:aws:sts::111111111111:assumed-role/x/${ak}</Arn><UserId>AROA:${ak}</UserId><Account>111111111111</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></GetCallerIdentityResponse>`,
      ),
  )
})
await new Promise((r) => sts.listen(0, '127.0.0.1', r))
const stsUrl = `http://127.0.0.1:${sts.address().port}`

const run = (cmd, args, env = {}, timeoutMs = 40_000) =>
  new Promise((resolve) => {
    execFile(cmd, args, { env: { PATH: E.PATH, ...env }, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 4 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr })
    })
  })
const cli = (args) => run(E.NODE, [E.BIN, ...args])

const cfg = join(W, 'cfg')
const identity = [
  '--configuration-directory',
  cfg,
  '--certificate',
  join(E.PKI, 'leaf.pem'),
  '--intermediates',
  join(E.PKI, 'int.pem'),
  '--private-key',
  join(E.PKI, 'key.pem'),
  '--trust-anchor-arn',
  E.TA_ARN,
  '--profile-arn',
  E.PROFILE_ARN,
  '--endpoint',
  fake.url,
]
const binds = await Promise.all([
  cli(['bind', 'payments', '--mode', 'kubernetes', '--service-account', 'shop/payments', '--role-arn', E.ROLE_A, ...identity]),
  cli(['bind', 'reports', '--mode', 'kubernetes', '--service-account', 'shop/reports', '--role-arn', E.ROLE_B, ...identity]),
])
step(`bind: ${binds.map((b) => b.code).join(',')}`)
minted.length = 0

const results = { steps, binds, clients: {}, minted, jwksSeen, stsSeen, serve: {} }
const finish = (code) => {
  writeFileSync(join(W, 'results.json'), JSON.stringify(results, null, 2))
  process.exit(code)
}
if (binds.some((b) => b.code !== 0)) finish(12)

const serve = spawn(
  E.NODE,
  [
    E.BIN,
    'serve',
    '--configuration-directory',
    cfg,
    '--kubernetes-issuer',
    E.ISSUER,
    '--kubernetes-audience',
    E.AUDIENCE,
    '--kubernetes-jwks',
    jwksUrl,
    '--kubernetes-ca',
    E.CA_FILE,
    '--kubernetes-token-file',
    E.AGENT_TOKEN_FILE,
    '--kubernetes-jwks-cooldown',
    '0',
  ],
  { env: { PATH: E.PATH }, stdio: ['ignore', 'pipe', 'pipe'] },
)
let serveOut = ''
serve.stdout.on('data', (c) => {
  serveOut += c
})
serve.stderr.on('data', (c) => {
  serveOut += c
})
const stopServe = () => {
  try {
    serve.kill('SIGTERM')
  } catch {}
}
process.on('exit', stopServe)
let up = false
for (let i = 0; i < 100 && !up; i++) {
  try {
    up = (await fetch('http://169.254.170.23/healthz', { signal: AbortSignal.timeout(1000) })).ok
  } catch {}
  if (!up) await sleep(100)
}
step(`serve up: ${up}`)
if (!up) {
  results.serve.log = serveOut
  finish(13)
}

const podEnv = (sa, uri = 'http://169.254.170.23/v1/credentials') => ({
  HOME: join(W, 'home'),
  AWS_CONFIG_FILE: '/dev/null',
  AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
  AWS_EC2_METADATA_DISABLED: 'true',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  AWS_DEFAULT_REGION: 'us-east-1',
  AWS_REGION: 'us-east-1',
  AWS_CONTAINER_CREDENTIALS_FULL_URI: uri,
  AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: join(E.TOKENS, sa),
})
const clients = E.CLIENTS.split(' ').filter(Boolean)
const jobs = []
// Each client runs as a pod of its own service account; payments and reports alternate.
const plan = {
  botocore: ['payments', () => run('python3', [E.BOTOCORE_PROBE], podEnv('payments'))],
  'cli-v1': ['reports', () => run('aws', ['sts', 'get-caller-identity', '--endpoint-url', stsUrl, '--output', 'json'], podEnv('reports'))],
  js: ['payments', () => run(E.NODE, [E.JS_PROBE, 'http', 'chain'], podEnv('payments'))],
  'js-v6': ['reports', () => run(E.NODE, [E.JS_PROBE, 'http'], podEnv('reports', 'http://[fd00:ec2::23]/v1/credentials'))],
  go: ['reports', () => run(E.GO_PROBE, [], podEnv('reports'))],
}
for (const c of clients) {
  const p = plan[c]
  if (p !== undefined)
    jobs.push(
      p[1]().then((r) => {
        results.clients[c] = { sa: p[0], ...r }
      }),
    )
}
await Promise.all(jobs)
step('clients done')

// Raw requests the tests want refused, from inside the namespace (Host is what a DNS name would send).
const raw = async (token, host, url = 'http://169.254.170.23/v1/credentials') => {
  const r = await run(
    'curl',
    ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-H', `Host: ${host}`, ...(token === null ? [] : ['-H', `Authorization: ${token}`]), url],
    {},
    10_000,
  )
  return r.stdout.trim()
}
results.refusals = {
  wrongAudience: await raw(readFileSync(join(E.TOKENS, 'wrong-audience'), 'utf8'), '169.254.170.23'),
  unbound: await raw(readFileSync(join(E.TOKENS, 'frontend'), 'utf8'), '169.254.170.23'),
  foreignHost: await raw(readFileSync(join(E.TOKENS, 'payments'), 'utf8'), 'metadata.evil.example'),
  noToken: await raw(null, '169.254.170.23'),
}
// JWKS rotation: the issuer's new key is published; a token under it is accepted at once.
writeFileSync(E.JWKS_FILE, readFileSync(E.JWKS_ROTATED))
results.refusals.rotated = await raw(readFileSync(join(E.TOKENS, 'rotated'), 'utf8'), '169.254.170.23')
step('raw requests done')
stopServe()
await new Promise((r) => (serve.exitCode !== null ? r() : serve.once('exit', r)))
results.serve.log = serveOut
results.serve.exit = serve.exitCode
await fake.close()
jwks.close()
sts.close()
finish(0)
