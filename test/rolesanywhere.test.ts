// ARNs, endpoint rules, proxy selection, session configuration, and CreateSession's retry logic.
import t from 'tap'
import { checkArns, roleName } from '../src/rolesanywhere/arn.js'
import { resolveEndpoint, sessionsPath } from '../src/rolesanywhere/endpoint.js'
import { bypassed, proxyFor } from '../src/rolesanywhere/proxy.js'
import { resolveSessionConfig } from '../src/rolesanywhere/session-config.js'
import { readSessionEnvironment } from '../src/rolesanywhere/session-environment.js'
import { parseFlags } from '../src/cli/flags.js'
import { SESSION_FLAGS, sessionFromFlags } from '../src/cli/identity-flags.js'
import { backoff, createSession } from '../src/rolesanywhere/create-session.js'
import { TransportError, type HttpRequest, type HttpResponse } from '../src/rolesanywhere/transport.js'
import { IamraError } from '../src/errors.js'
import { flagOf } from '../src/cli/error-advice.js'
import { loadIdentity } from '../src/identity/identity.js'
import { makePkiFiles } from './helpers/pki-files.js'

const TA = 'arn:aws:rolesanywhere:eu-central-1:123456789012:trust-anchor/0b3f6a2e-7c41-4d8e-9a15-3e2f6b8c9d01'
const PR = 'arn:aws:rolesanywhere:eu-central-1:123456789012:profile/6f1c2d3e-4a5b-4c6d-8e7f-901a2b3c4d5e'
const RO = 'arn:aws:iam::123456789012:role/app'

const codeOf = (f: () => unknown): string | undefined => {
  try {
    f()
  } catch (e) {
    return (e as IamraError).code
  }
  return undefined
}

t.test('ARNs', async (t) => {
  t.same(checkArns({ trustAnchorArn: TA, profileArn: PR, roleArn: RO }), { region: 'eu-central-1', partition: 'aws', roleAccount: '123456789012' })
  t.equal(
    codeOf(() => checkArns({ trustAnchorArn: TA, profileArn: PR.replace('eu-central-1', 'us-east-1'), roleArn: RO })),
    'REGION_MISMATCH',
  )
  t.equal(
    codeOf(() => checkArns({ trustAnchorArn: 'nope', profileArn: PR, roleArn: RO })),
    'ARN_INVALID',
  )
  t.equal(
    codeOf(() => checkArns({ trustAnchorArn: PR, profileArn: PR, roleArn: RO })),
    'ARN_INVALID',
    'a profile ARN given as the trust anchor',
  )
  try {
    checkArns({ profileArn: PR })
  } catch (e) {
    // The core names fields; the CLI words them as its flags.
    t.match((e as IamraError).describe(flagOf), /--trust-anchor-arn is required; --role-arn is required/, 'every problem at once')
    t.same((e as IamraError).fields, ['trustAnchorArn', 'roleArn'], 'with the fields at fault')
    t.notMatch((e as Error).message, /--/, 'the core message names no flag')
  }
  t.equal(roleName('arn:aws:iam::123456789012:role/path/to/app'), 'app')
})

t.test('ARNs by the grammar of the ARNs the services issue', async (t) => {
  const ok = (over: { trustAnchorArn?: string; profileArn?: string; roleArn?: string }): boolean =>
    codeOf(() => checkArns({ trustAnchorArn: TA, profileArn: PR, roleArn: RO, ...over })) === undefined
  // Legitimate forms: role paths, IAM's name characters, other partitions and regions.
  for (const roleArn of [
    'arn:aws:iam::123456789012:role/path/to/name',
    'arn:aws:iam::123456789012:role/service-role/My.Role+x=y,z@w_v-1',
    `arn:aws:iam::123456789012:role/${'n'.repeat(64)}`,
  ])
    t.ok(ok({ roleArn }), roleArn)
  const gov = (s: string): string => s.replace(':aws:', ':aws-us-gov:').replace('eu-central-1', 'us-gov-west-1')
  t.ok(ok({ trustAnchorArn: gov(TA), profileArn: gov(PR), roleArn: gov(RO) }), 'aws-us-gov')
  const cn = (s: string): string => s.replace(':aws:', ':aws-cn:').replace('eu-central-1', 'cn-north-1')
  t.ok(ok({ trustAnchorArn: cn(TA), profileArn: cn(PR), roleArn: cn(RO) }), 'aws-cn')
  // What the attack runs passed, and other malformed ARNs.
  const bad: Array<[string, { trustAnchorArn?: string; profileArn?: string; roleArn?: string }]> = [
    ['a newline', { roleArn: `${RO}\nEVIL=1` }],
    ['100 KB of text', { roleArn: `${RO}${'x'.repeat(100_000)}` }],
    ['non-ASCII', { roleArn: 'arn:aws:iam::123456789012:role/rôle' }],
    ['../ in the role path', { roleArn: 'arn:aws:iam::123456789012:role/../../etc/app' }],
    ['a space', { roleArn: 'arn:aws:iam::123456789012:role/my role' }],
    ['a role name of 65 characters', { roleArn: `arn:aws:iam::123456789012:role/${'n'.repeat(65)}` }],
    ['a role name with $', { roleArn: 'arn:aws:iam::123456789012:role/$(id)' }],
    ['an IAM ARN with a region', { roleArn: 'arn:aws:iam:eu-central-1:123456789012:role/app' }],
    ['an 11-digit account', { roleArn: 'arn:aws:iam::12345678901:role/app' }],
    ['a made-up partition', { roleArn: 'arn:evil:iam::123456789012:role/app' }],
    ['a short trust anchor id', { trustAnchorArn: TA.replace(/trust-anchor\/.*/, 'trust-anchor/ta') }],
    ['a trust anchor id with ../', { trustAnchorArn: `${TA}/../x` }],
    [
      'an upper-case profile id',
      { profileArn: PR.toUpperCase().replace('ARN:AWS:ROLESANYWHERE:EU-CENTRAL-1', 'arn:aws:rolesanywhere:eu-central-1').replace('PROFILE/', 'profile/') },
    ],
    ['a malformed region', { trustAnchorArn: TA.replace('eu-central-1', 'eu central'), profileArn: PR.replace('eu-central-1', 'eu central') }],
    ['mixed partitions', { roleArn: 'arn:aws-cn:iam::123456789012:role/app' }],
  ]
  for (const [what, over] of bad)
    t.equal(
      codeOf(() => checkArns({ trustAnchorArn: TA, profileArn: PR, roleArn: RO, ...over })),
      'ARN_INVALID',
      what,
    )
  try {
    checkArns({ trustAnchorArn: TA, profileArn: PR, roleArn: `${RO}\n${'x'.repeat(100_000)}` })
  } catch (e) {
    const message = (e as Error).message
    t.ok(message.length < 400 && !message.includes('\n'), 'the message shows a short, one-line excerpt of a huge or multi-line value')
  }
})

t.test('endpoints', async (t) => {
  const env = {}
  t.equal(resolveEndpoint({ region: 'us-east-1', env }).url.href, 'https://rolesanywhere.us-east-1.amazonaws.com/')
  t.equal(resolveEndpoint({ region: 'cn-north-1', env }).url.host, 'rolesanywhere.cn-north-1.amazonaws.com.cn')
  t.equal(resolveEndpoint({ region: 'us-gov-west-1', env }).partition, 'aws-us-gov')
  t.equal(resolveEndpoint({ region: 'us-east-1', env: { AWS_USE_FIPS_ENDPOINT: 'true' } }).url.host, 'rolesanywhere-fips.us-east-1.amazonaws.com')
  t.equal(
    resolveEndpoint({ region: 'us-east-1', env: { AWS_USE_FIPS_ENDPOINT: 'true', AWS_USE_DUALSTACK_ENDPOINT: 'true' } }).url.host,
    'rolesanywhere-fips.us-east-1.api.aws',
  )
  const pseudo = resolveEndpoint({ region: 'fips-us-west-2', env })
  t.same(
    [pseudo.url.host, pseudo.signingRegion, pseudo.fips],
    ['rolesanywhere-fips.us-west-2.amazonaws.com', 'us-west-2', true],
    'pseudo-region stripped and signed stripped',
  )
  t.equal(
    resolveEndpoint({ region: 'us-east-1', endpoint: 'http://127.0.0.1:9/prefix/', env: { AWS_ENDPOINT_URL_ROLESANYWHERE: 'http://other' } }).url.href,
    'http://127.0.0.1:9/prefix/',
    '--endpoint wins',
  )
  t.equal(resolveEndpoint({ region: 'us-east-1', env: { AWS_ENDPOINT_URL_ROLESANYWHERE: 'http://a', AWS_ENDPOINT_URL: 'http://b' } }).url.host, 'a')
  t.equal(sessionsPath(new URL('https://h/prefix/')), '/prefix/sessions')
  t.equal(sessionsPath(new URL('https://h')), '/sessions')
  t.equal(
    codeOf(() => resolveEndpoint({ region: 'us-east-1', endpoint: 'http://x', env: { AWS_USE_FIPS_ENDPOINT: 'true' } })),
    'ENDPOINT_INVALID',
  )
  t.equal(
    codeOf(() => resolveEndpoint({ region: 'us-east-1', endpoint: 'ftp://x', env })),
    'ENDPOINT_INVALID',
  )
  t.equal(
    codeOf(() => resolveEndpoint({ region: 'us-iso-east-1', env: { AWS_USE_DUALSTACK_ENDPOINT: '1' } })),
    'ENDPOINT_INVALID',
  )
})

t.test('proxy selection', async (t) => {
  const target = new URL('https://rolesanywhere.us-east-1.amazonaws.com')
  t.equal(proxyFor(target, { HTTPS_PROXY: 'proxy:3128' })?.href, 'http://proxy:3128/')
  t.equal(proxyFor(target, { https_proxy: 'http://p:1', NO_PROXY: '.amazonaws.com' }), undefined)
  t.equal(proxyFor(new URL('http://127.0.0.1:8080'), { HTTPS_PROXY: 'http://p:1' }), undefined, 'https proxy is not used for http')
  t.ok(bypassed(new URL('http://127.0.0.1:8080'), 'localhost,127.0.0.1'))
  t.ok(bypassed(target, '*'))
  t.notOk(bypassed(target, 'amazonaws.com:80'), 'port must match')
  t.ok(bypassed(target, 'amazonaws.com:443'))
})

t.test('session configuration', async (t) => {
  const base = { trustAnchorArn: TA, profileArn: PR, roleArn: RO, verifyTls: true, environment: {} }
  // Durations as typed on a command line reach the core through the flag layer, which makes them numbers.
  const viaFlags = (duration: string) =>
    sessionFromFlags(
      parseFlags('test', SESSION_FLAGS, ['--trust-anchor-arn', TA, '--profile-arn', PR, '--role-arn', RO, '--session-duration', duration]).flags,
      {},
    )
  const c = resolveSessionConfig(base)
  t.same([c.request.durationSeconds, c.endpoint.signingRegion, c.transport.timeoutMs], [3600, 'eu-central-1', 10_000])
  t.equal(resolveSessionConfig({ ...base, region: 'eu-west-1' }).endpoint.url.host, 'rolesanywhere.eu-west-1.amazonaws.com', '--region wins over the ARN')
  for (const bad of ['899', '43201', '1e3', 'abc'])
    t.equal(
      codeOf(() => viaFlags(bad)),
      'USAGE',
      `duration ${bad}`,
    )
  for (const bad of [899, 43201, 1000.5])
    t.equal(
      codeOf(() => resolveSessionConfig({ ...base, durationSeconds: bad })),
      'USAGE',
      `duration ${bad}`,
    )
  t.equal(viaFlags('43200').request.durationSeconds, 43200)
  t.equal(resolveSessionConfig({ ...base, durationSeconds: 43200 }).request.durationSeconds, 43200)
  t.equal(
    codeOf(() => resolveSessionConfig({ ...base, environment: readSessionEnvironment({ AWS_CA_BUNDLE: '/nonexistent/ca.pem' }) })),
    'ENDPOINT_INVALID',
  )
  t.equal(resolveSessionConfig({ ...base, roleSessionName: 'x' }).request.roleSessionName, 'x')
})

t.test('CreateSession: retries re-signed, classification, parsing', async (t) => {
  const pki = await makePkiFiles('p256')
  t.teardown(pki.cleanup)
  const identity = await loadIdentity({ certificateFiles: [pki.path('leaf.pem')], privateKeyFile: pki.path('key.pem'), now: new Date() })
  const endpoint = resolveEndpoint({ region: 'us-east-1', endpoint: 'https://ra.example/base', env: {} })
  const request = { trustAnchorArn: TA, profileArn: PR, roleArn: RO, durationSeconds: 3600 }
  const ok: HttpResponse = {
    status: 201,
    headers: {},
    body: Buffer.from(
      JSON.stringify({
        credentialSet: [{ credentials: { accessKeyId: 'ASIAX', secretAccessKey: 's', sessionToken: 't', expiration: '2099-01-01T00:00:00Z' }, roleArn: RO }],
      }),
    ),
  }
  const err = (status: number, type: string, message = 'm', headers: Record<string, string> = {}): HttpResponse => ({
    status,
    headers: { 'x-amzn-errortype': type, ...headers },
    body: Buffer.from(JSON.stringify({ message })),
  })
  const run = async (answers: Array<HttpResponse | Error>, clockStep = 1000) => {
    const sent: HttpRequest[] = []
    const sleeps: number[] = []
    let clock = Date.parse('2030-01-01T00:00:00Z')
    const result = await createSession(request, identity, endpoint, {
      transport: async (req) => {
        sent.push(req)
        const a = answers.shift()
        if (a === undefined) throw new Error('no more answers')
        if (a instanceof Error) throw a
        return a
      },
      now: () => {
        clock += clockStep
        return new Date(clock)
      },
      sleep: async (ms) => void sleeps.push(ms),
      random: () => 0.5,
      userAgent: 'test',
    }).catch((e: unknown) => e)
    return { result, sent, sleeps }
  }
  const first = await run([ok])
  t.equal((first.result as { accessKeyId: string }).accessKeyId, 'ASIAX')
  t.equal(first.sent[0]?.url.pathname, '/base/sessions', 'path prefix kept')
  t.match(first.sent[0]?.url.search, /^\?profileArn=arn%3Aaws/)
  t.equal(first.sent[0]?.headers['user-agent'], 'test')

  const retried = await run([err(503, 'ServiceUnavailable'), err(429, 'ThrottlingException'), ok])
  t.equal(retried.sent.length, 3)
  t.notOk((retried.result as Error) instanceof Error)
  t.same(retried.sleeps, [50, 1000], 'full jitter: 5xx base 100 ms, throttling base 1 s doubled')
  t.not(retried.sent[0]?.headers['x-amz-date'], retried.sent[1]?.headers['x-amz-date'], 're-signed with a fresh date per attempt')

  const denied = await run([err(403, 'AccessDeniedException', 'Untrusted Signing Certificate', { 'x-amzn-requestid': 'rid-1' })])
  t.equal(denied.sent.length, 1, 'access denied is not retried')
  t.equal((denied.result as IamraError).code, 'UPSTREAM_DENIED')
  t.equal((denied.result as IamraError).upstreamCode, 'AccessDeniedException')
  t.match((denied.result as Error).message, /HTTP 403 AccessDeniedException: Untrusted Signing Certificate .*trust anchor.*request id rid-1/)

  const exhausted = await run([err(500, 'InternalServerError'), err(500, 'x'), err(500, 'x')])
  t.equal([exhausted.sent.length, (exhausted.result as IamraError).code].join(), '3,UPSTREAM_UNAVAILABLE')
  t.equal(
    (await run([err(400, 'com.amazon#ValidationException:http://x')])).result instanceof IamraError &&
      ((await run([err(400, 'com.amazon#ValidationException:http://x')])).result as IamraError).upstreamCode,
    'ValidationException',
  )
  t.equal(((await run([err(404, 'ResourceNotFoundException')])).result as IamraError).code, 'UPSTREAM_NOT_FOUND')
  t.equal((await run([err(429, 'x', 'm', { 'retry-after': '2' }), ok])).sleeps[0], 2000, 'Retry-After honoured')

  const net = await run([new TransportError('refused', 'ECONNREFUSED'), new TransportError('t', 'ETIMEDOUT'), ok])
  t.equal(net.sent.length, 3, 'network errors and timeouts are retried')
  const tls = await run([new TransportError('bad cert', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE')])
  t.same([tls.sent.length, (tls.result as IamraError).code], [1, 'UPSTREAM_TLS'])
  t.match((tls.result as Error).message, /AWS_CA_BUNDLE/)
  t.equal(((await run([new TransportError('x', 'ENOTFOUND')])).result as IamraError).code, 'UPSTREAM_NETWORK')

  const expired = await run([{ ...ok, body: Buffer.from(ok.body.toString().replace('2099', '2001')) }])
  t.equal((expired.result as IamraError).code, 'CREDENTIALS_EXPIRED', 'never hands out expired credentials')
  for (const body of ['not json', '{"credentialSet":[]}', '{"credentialSet":[{"credentials":{"accessKeyId":"A"}}]}']) {
    t.equal(((await run([{ status: 201, headers: {}, body: Buffer.from(body) }])).result as IamraError).code, 'UPSTREAM_BAD_RESPONSE', body)
  }
  t.equal(
    ((await run([{ status: 302, headers: { location: 'http://evil' }, body: Buffer.alloc(0) }])).result as IamraError).code,
    'UPSTREAM_BAD_RESPONSE',
    'redirects not followed',
  )
  const injected = JSON.stringify({
    credentialSet: [{ credentials: { accessKeyId: 'AKIA', secretAccessKey: 's', sessionToken: 'a\n[evil]', expiration: '2099-01-01T00:00:00Z' } }],
  })
  t.equal(
    ((await run([{ status: 201, headers: {}, body: Buffer.from(injected) }])).result as IamraError).code,
    'UPSTREAM_BAD_RESPONSE',
    'a token with a line break (it would inject lines into a credentials file)',
  )
  t.equal(
    backoff(10, 100, () => 0.999),
    4995,
    'capped at 5 s',
  )
})

t.test('proxies: loopback is never proxied, https proxies are refused, empty endpoint variables are skipped', async (t) => {
  t.equal(proxyFor(new URL('http://127.0.0.1:8080'), { HTTP_PROXY: 'http://p:1' }), undefined)
  t.equal(proxyFor(new URL('https://localhost:8443'), { HTTPS_PROXY: 'http://p:1' }), undefined)
  const base = { trustAnchorArn: TA, profileArn: PR, roleArn: RO, verifyTls: true }
  t.equal(
    codeOf(() => resolveSessionConfig({ ...base, environment: readSessionEnvironment({ HTTPS_PROXY: 'https://proxy:3129' }) })),
    'ENDPOINT_INVALID',
  )
  t.equal(resolveEndpoint({ region: 'us-east-1', env: { AWS_ENDPOINT_URL_ROLESANYWHERE: '', AWS_ENDPOINT_URL: 'http://b' } }).url.host, 'b')
})

t.test('an abort signal stops CreateSession: no retry, no sleep to the end', async (t) => {
  const pki = await makePkiFiles('p256')
  t.teardown(pki.cleanup)
  const identity = await loadIdentity({ certificateFiles: [pki.path('leaf.pem')], privateKeyFile: pki.path('key.pem'), now: new Date() })
  const endpoint = resolveEndpoint({ region: 'us-east-1', endpoint: 'https://ra.example', env: {} })
  const request = { trustAnchorArn: TA, profileArn: PR, roleArn: RO, durationSeconds: 3600 }
  const stop = new AbortController()
  let sent = 0
  const run = createSession(request, identity, endpoint, {
    transport: async () => {
      sent++
      return { status: 503, headers: {}, body: Buffer.from('{}') }
    },
    now: () => new Date(),
    random: () => 1,
    userAgent: 't',
    signal: stop.signal,
    sleep: async () => {
      stop.abort()
    },
  })
  await t.rejects(run, { code: 'SERVER_STOPPING' })
  t.equal(sent, 1, 'aborted during the backoff: no second attempt')
  const aborted = new AbortController()
  aborted.abort()
  const transport = (await import('../src/rolesanywhere/transport.js')).createTransport({ timeoutMs: 5000, verifyTls: true })
  await t.rejects(transport({ method: 'GET', url: new URL('http://127.0.0.1:1/'), headers: {}, body: Buffer.alloc(0), signal: aborted.signal }), {
    code: 'EABORTED',
  })
})
