// The ECS endpoint through inject(): the token/mode matrix, bodies, error mapping, live re-reads.
import t, { type Test } from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { IamraError } from '../src/errors.js'
import { removeBinding } from '../src/binding/store.js'
import { buildApp } from '../src/server/app.js'
import { socketAllows } from '../src/server/authorize.js'
import { extractToken, redactUrl } from '../src/server/token-extraction.js'
import type { SessionCredentials } from '../src/rolesanywhere/response.js'
import type { Binding } from '../src/binding/store.js'
import { addBinding } from './helpers/bindings.js'
import { testLocks } from './helpers/runtime.js'

const CREDS: SessionCredentials = {
  accessKeyId: 'ASIAEXAMPLE',
  secretAccessKey: 'secret',
  sessionToken: 'session',
  expiration: new Date('2099-01-01T00:00:00.123456Z'),
  expiresAt: new Date('2099-01-01T00:00:00.123456Z'),
  roleArn: 'arn:aws:iam::123456789012:role/app',
  assumedRoleArn: undefined,
}

async function setup(t: Test, resolve: (b: Binding) => Promise<SessionCredentials> = async () => CREDS) {
  const dir = mkdtempSync(join(tmpdir(), 'iamra-srv-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const served: string[] = []
  const app = await buildApp({
    configurationDirectory: dir,
    resolveCredentials: async (b) => {
      served.push(b.name)
      return resolve(b)
    },
  })
  t.teardown(() => app.fastify.close())
  const get = (url: string, headers: Record<string, string | string[]> = {}) => app.fastify.inject({ method: 'GET', url, headers })
  return { dir, app, get, served }
}

t.test('token placement matrix', async (t) => {
  const { dir, get, served } = await setup(t)
  const full = await addBinding(dir, 'full', 'ecs-full')
  const query = await addBinding(dir, 'q-1', 'ecs-full-query')
  const file = await addBinding(dir, 'file@x', 'ecs-full-token-file')
  const rel = await addBinding(dir, 'rel', 'ecs-relative')
  const q = (tok: string) => `/ecs/credentials?access_token=${encodeURIComponent(tok)}`
  const cases: Array<[string, string, Record<string, string | string[]>, number, string?]> = [
    ['header Bearer', '/ecs/credentials', { authorization: `Bearer ${full.token}` }, 200],
    ['header lower-case bearer', '/ecs/credentials', { authorization: `bearer ${full.token}` }, 200],
    ['bare header token', '/ecs/credentials', { authorization: full.token }, 200],
    ['token-file mode in the header', '/ecs/credentials', { authorization: `Bearer ${file.token}` }, 200],
    ['relative mode in the header', '/ecs/credentials', { authorization: `Bearer ${rel.token}` }, 200],
    ['query mode in the query', q(query.token), {}, 200],
    ['header-mode token in the query (SSRF)', q(full.token), {}, 403, 'TOKEN_REJECTED'],
    ['query-mode token in the header', '/ecs/credentials', { authorization: `Bearer ${query.token}` }, 403, 'TOKEN_REJECTED'],
    ['header and query at once', q(query.token), { authorization: `Bearer ${full.token}` }, 400, 'TOKEN_AMBIGUOUS'],
    ['two query tokens', `${q(query.token)}&access_token=x`, {}, 400, 'TOKEN_AMBIGUOUS'],
    ['no token', '/ecs/credentials', {}, 401, 'TOKEN_MISSING'],
    ['wrong secret', '/ecs/credentials', { authorization: `Bearer ${full.token.slice(0, -4)}AAAA` }, 403, 'TOKEN_REJECTED'],
    ['unknown binding', '/ecs/credentials', { authorization: `Bearer ${full.token.replace('.full.', '.nobody.')}` }, 403, 'TOKEN_REJECTED'],
    ['malformed token', '/ecs/credentials', { authorization: 'Bearer garbage' }, 403, 'TOKEN_REJECTED'],
    ['path traversal in the name', '/ecs/credentials', { authorization: `Bearer iamra.../../x.${'A'.repeat(30)}` }, 403, 'TOKEN_REJECTED'],
  ]
  for (const [name, url, headers, status, code] of cases) {
    const res = await get(url, headers)
    t.equal(res.statusCode, status, name)
    t.equal(res.headers['content-type'], 'application/json', `${name}: exact content type`)
    if (code !== undefined) {
      const body = res.json() as Record<string, string>
      t.same([body.Code, body.code], [code, code], `${name}: ${code}`)
      t.equal(body.Message, body.message)
    }
  }
  t.same(served.sort(), ['file@x', 'full', 'full', 'full', 'q-1', 'rel'], 'CreateSession only for accepted tokens')
  const dup = await get('/ecs/credentials', { authorization: [`Bearer ${full.token}`, `Bearer ${full.token}`] })
  t.equal(dup.statusCode, 400, 'two Authorization headers')
  const wrongMode = (await get(q(full.token))).json() as { Message: string }
  t.notOk(wrongMode.Message.includes(full.token), 'the token is never echoed')
})

t.test('the 200 body', async (t) => {
  const { dir, get } = await setup(t)
  const { token } = await addBinding(dir, 'app', 'ecs-full')
  const res = await get('/ecs/credentials', { authorization: `Bearer ${token}` })
  t.equal(
    res.body,
    '{"AccessKeyId":"ASIAEXAMPLE","SecretAccessKey":"secret","Token":"session","Expiration":"2099-01-01T00:00:00Z","AccountId":"123456789012","RoleArn":"arn:aws:iam::123456789012:role/app"}',
  )
  t.equal(res.headers['cache-control'], 'no-store')
})

t.test('upstream and local failures map to statuses SDKs handle well', async (t) => {
  const cases: Array<[unknown, number, string]> = [
    [new IamraError('UPSTREAM_DENIED', 'CreateSession failed: HTTP 403 AccessDeniedException: Untrusted Signing Certificate'), 403, 'UPSTREAM_DENIED'],
    [new IamraError('UPSTREAM_THROTTLED', 'throttled'), 503, 'UPSTREAM_THROTTLED'],
    [new IamraError('UPSTREAM_UNAVAILABLE', 'down'), 503, 'UPSTREAM_UNAVAILABLE'],
    [new IamraError('UPSTREAM_NETWORK', 'refused'), 503, 'UPSTREAM_NETWORK'],
    [new IamraError('UPSTREAM_TIMEOUT', 'slow'), 504, 'UPSTREAM_TIMEOUT'],
    [new IamraError('CERT_EXPIRED', 'expired'), 500, 'CERT_EXPIRED'],
    [new Error('boom with a detail'), 500, 'INTERNAL'],
  ]
  for (const [err, status, code] of cases) {
    const { dir, get } = await setup(t, async () => {
      throw err
    })
    const { token } = await addBinding(dir, 'app', 'ecs-full')
    const res = await get('/ecs/credentials', { authorization: `Bearer ${token}` })
    t.equal(res.statusCode, status, code)
    t.equal((res.json() as { Code: string }).Code, code)
    if (code === 'INTERNAL') t.notOk(res.body.includes('boom'), 'internal details stay in the log')
  }
})

t.test('error bodies word fields as the binding and never show local paths', async (t) => {
  const cases: Array<[IamraError, RegExp]> = [
    [
      new IamraError('KEY_PASSWORD_REQUIRED', (name) => `/srv/keys/app.pem is encrypted: set ${name('passphrase')}`, { field: 'passphrase' }),
      /binding holds no key password/,
    ],
    [new IamraError('CERT_UNREADABLE', 'cannot read certificate file /srv/keys/app.pem: permission denied'), /certificate_files \(iamra bind --certificate\)/],
    [
      new IamraError('FILE_UNREADABLE', 'cannot read the PIN file /srv/keys/pin (pin-source): permission denied', { field: 'pin' }),
      /pin-source= in the binding's pkcs11: URI/,
    ],
    [
      new IamraError(
        'UPSTREAM_DENIED',
        (name) => `CreateSession failed: HTTP 403 AccessDeniedException: Untrusted Signing Certificate (check ${name('intermediates')} and the trust anchor)`,
        { field: 'intermediates' },
      ),
      /Untrusted Signing Certificate \(check the binding's intermediates_files \(iamra bind --intermediates\)/,
    ],
  ]
  for (const [err, advice] of cases) {
    const { dir, get } = await setup(t, async () => {
      throw err
    })
    const { token } = await addBinding(dir, 'app', 'ecs-full')
    const body = (await get('/ecs/credentials', { authorization: `Bearer ${token}` })).json() as { Code: string; Message: string }
    t.equal(body.Code, err.code)
    t.notMatch(body.Message, /\/srv\/keys|--pkcs8-password/, `${err.code}: no local path, no flag the consumer cannot set: ${body.Message}`)
    t.match(body.Message, advice, `${err.code}: advice in the binding's words`)
  }
})

t.test('a token naming a Kubernetes binding is answered like one naming no binding', async (t) => {
  const { dir, get, served } = await setup(t)
  const { token } = await addBinding(dir, 'app', 'ecs-full')
  const k8s = join(dir, 'bindings', 'pods.json')
  writeFileSync(
    k8s,
    JSON.stringify({
      name: 'pods',
      mode: { kind: 'Kubernetes' },
      service_accounts: ['shop/payments'],
      certificate_files: ['/x.pem'],
      private_key_file: '/k.pem',
    }),
    { mode: 0o600 },
  )
  const named = await get('/ecs/credentials', { authorization: `Bearer ${token.replace('.app.', '.pods.')}` })
  const unknown = await get('/ecs/credentials', { authorization: `Bearer ${token.replace('.app.', '.nobody.')}` })
  t.same([named.statusCode, named.body], [unknown.statusCode, unknown.body], 'same status and body')
  t.same([named.statusCode, (named.json() as { Code: string }).Code], [403, 'TOKEN_REJECTED'])
  t.same(served, [], 'no CreateSession')
})

t.test('routes, live re-reads, unbind and rebind', async (t) => {
  const { dir, get } = await setup(t)
  t.equal((await get('/healthz')).body, 'ok')
  t.equal((await get('/nope')).statusCode, 404)
  t.equal((await get('/nope')).headers['content-type'], 'application/json')
  const first = await addBinding(dir, 'app', 'ecs-full')
  const auth = (tok: string) => ({ authorization: `Bearer ${tok}` })
  t.equal((await get('/ecs/credentials', auth(first.token))).statusCode, 200)
  const second = await addBinding(dir, 'app', 'ecs-full') // rebind: a new token
  t.equal((await get('/ecs/credentials', auth(first.token))).statusCode, 403, 'the old token stops working at once')
  t.equal((await get('/ecs/credentials', auth(second.token))).statusCode, 200, 'the new one works without a restart')
  await removeBinding(dir, 'app', { locks: testLocks() })
  t.equal((await get('/ecs/credentials', auth(second.token))).statusCode, 403, 'unbind takes effect at once')
})

t.test('token extraction and socket rules', async (t) => {
  t.same(extractToken(['Host', 'x', 'Authorization', 'Bearer abc'], '/ecs/credentials'), { token: 'abc', from: 'header' })
  t.same(extractToken([], '/ecs/credentials?x=1&access_token=a%2Eb'), { token: 'a.b', from: 'query' })
  t.equal(redactUrl('/ecs/credentials?a=1&access_token=iamra.x.secret&b=2'), '/ecs/credentials?a=1&access_token=[redacted]&b=2')
  t.ok(socketAllows('ecs-relative', 'ecs-relative-query'))
  t.notOk(socketAllows('ecs-relative', 'ecs-full'))
  t.notOk(socketAllows('ecs-full', 'ecs-relative'))
  t.ok(socketAllows('', 'ecs-relative'))
  t.ok(socketAllows('iamra.socket', 'ecs-full-token-file'))
})

t.test('binding files the server does not trust', async (t) => {
  const { chmodSync, chownSync } = await import('node:fs')
  const { dir, get } = await setup(t)
  const { token } = await addBinding(dir, 'app', 'ecs-full')
  const ask = async () => (await get('/ecs/credentials', { authorization: token })).json() as { Code: string; Message: string }
  chmodSync(join(dir, 'bindings/app.json'), 0o666)
  const refused = await ask()
  t.equal(refused.Code, 'BINDING_INVALID', 'a binding file others may write is refused')
  t.notOk(refused.Message.includes(dir), 'no path in the answer to the client')
  chmodSync(join(dir, 'bindings/app.json'), 0o600)
  chownSync(join(dir, 'bindings/app.json'), 65534, 65534)
  t.equal((await ask()).Code, 'BINDING_INVALID', 'a binding file owned by another user is refused')
  chownSync(join(dir, 'bindings/app.json'), 0, 0)
  chmodSync(join(dir, 'bindings'), 0o777)
  t.equal((await ask()).Code, 'BINDING_INVALID', 'a bindings directory others may write is refused')
  chmodSync(join(dir, 'bindings'), 0o700)
  const ok = await get('/ecs/credentials', { authorization: token })
  t.equal(ok.statusCode, 200)
})

t.test('log redaction cannot be dodged by encoding the parameter name', async (t) => {
  t.equal(redactUrl('/ecs/credentials?access%5Ftoken=iamra.x.secret'), '/ecs/credentials?access%5Ftoken=[redacted]')
  t.equal(redactUrl('/ecs/credentials?ACCESS_TOKEN=s&x=1'), '/ecs/credentials?ACCESS_TOKEN=[redacted]&x=1')
  t.equal(redactUrl('/healthz'), '/healthz')
})
