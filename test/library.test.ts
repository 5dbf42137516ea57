// The library, `fromRolesAnywhere` and `memoize`, against the verifying fake endpoint (no moto, no SDK service calls).
import t, { type Test } from 'tap'
import { spawnSync } from 'node:child_process'
import { sign } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createCredentialChain } from '@aws-sdk/credential-providers'
import { createProvider } from '../src/library/create-provider.js'
import { createTransport, type Transport, type TransportOptions } from '../src/rolesanywhere/transport.js'
import { CredentialsProviderError, fromRolesAnywhere, memoize, type FromRolesAnywhereInit, type Signer } from '../src/library/index.js'
import type { FakeFailure } from '../src/testing/fake-endpoint/handler.js'
import { createLeaf } from '../src/testing/pki.js'
import { PROFILE_ARN, ROLE_ARN, startScenario, TRUST_ANCHOR_ARN, type Scenario } from './helpers/scenario.js'

const arns = { trustAnchorArn: TRUST_ANCHOR_ARN, profileArn: PROFILE_ARN, roleArn: ROLE_ARN }
const init = (s: Scenario, more: Partial<FromRolesAnywhereInit> = {}): FromRolesAnywhereInit => ({
  ...arns,
  certificate: s.pki.path('leaf.pem'),
  intermediates: s.pki.path('int.pem'),
  privateKey: s.pki.path('key.pem'),
  endpoint: s.fake.url,
  env: {},
  ...more,
})
const created = (s: Scenario): number => s.fake.calls.filter((c) => c.status === 201).length

/** Resolves to the provider error a promise rejects with (fails the test if it resolves). */
async function rejection(t: Test, p: Promise<unknown>): Promise<CredentialsProviderError> {
  try {
    await p
  } catch (e) {
    t.type(e, CredentialsProviderError)
    return e as CredentialsProviderError
  }
  t.fail('expected a rejection')
  throw new Error('resolved')
}
function thrown(t: Test, f: () => unknown): CredentialsProviderError {
  try {
    f()
  } catch (e) {
    t.type(e, CredentialsProviderError)
    return e as CredentialsProviderError
  }
  t.fail('expected a throw')
  throw new Error('returned')
}

t.test('credentials from paths, PEM text, bytes and functions: an SDK identity with a Date and the account', async (t) => {
  const s = await startScenario('p384')
  t.teardown(s.close)
  const { leaf, intermediate } = s.pki
  const forms: Array<[string, Partial<FromRolesAnywhereInit>]> = [
    ['paths', {}],
    ['PEM text', { certificate: leaf.certPem, intermediates: intermediate.certPem, privateKey: leaf.keyPem }],
    ['DER bytes', { certificate: new Uint8Array(leaf.der), intermediates: [intermediate.der], privateKey: leaf.key.export({ type: 'pkcs8', format: 'der' }) }],
    ['functions', { certificate: async () => leaf.certPem, intermediates: [async () => intermediate.der], privateKey: async () => Buffer.from(leaf.keyPem) }],
    [
      'one full-chain file holding the key',
      { certificate: s.pki.write('all.pem', leaf.certPem + intermediate.certPem + leaf.keyPem), intermediates: undefined, privateKey: undefined },
    ],
  ]
  for (const [name, more] of forms) {
    const c = await fromRolesAnywhere(init(s, more))()
    t.match(c, { accessKeyId: /^ASIA/, secretAccessKey: /./, sessionToken: /./, accountId: '123456789012' }, name)
    t.ok(c.expiration instanceof Date && Math.abs(c.expiration.getTime() - Date.now() - 3600_000) < 10_000, `${name}: expiration a Date, one hour ahead`)
    t.equal(s.fake.calls.at(-1)?.chainLength, 1, `${name}: the intermediate went in the chain header`)
  }
  const short = await fromRolesAnywhere(init(s, { durationSeconds: 900, roleSessionName: 'lib' }))()
  t.ok(Math.abs(short.expiration.getTime() - Date.now() - 900_000) < 10_000, 'durationSeconds reaches the service')
})

t.test('the factory does no I/O, and every call reads the files afresh (renewals are picked up)', async (t) => {
  const s = await startScenario('p256')
  t.teardown(s.close)
  const certPath = s.pki.write('renewing.pem', 'not yet')
  const keyPath = s.pki.write('renewing.key', 'not yet')
  const provider = fromRolesAnywhere(init(s, { certificate: certPath, privateKey: keyPath }))
  t.equal(s.fake.calls.length, 0, 'nothing sent by the factory')
  const first = await rejection(t, provider())
  t.same([first.code, first.field, first.tryNextLink], ['CERT_MALFORMED', 'certificate', false], 'the bad file shows on the call')
  s.pki.write('renewing.pem', s.pki.leaf.certPem)
  s.pki.write('renewing.key', s.pki.leaf.keyPem)
  await provider()
  const renewed = await createLeaf({ name: 'renewed', key: 'rsa2048', issuer: s.pki.intermediate })
  s.pki.write('renewing.pem', renewed.certPem)
  s.pki.write('renewing.key', renewed.keyPem)
  await provider()
  const serials = s.fake.calls.filter((c) => c.status === 201).map((c) => c.serial)
  t.equal(serials.length, 2)
  t.not(serials[0], serials[1], 'the second call signed with the renewed certificate')
})

t.test('a signer: the key stays with the caller; its algorithm and signatures are checked before sending', async (t) => {
  const s = await startScenario('p256')
  t.teardown(s.close)
  const { leaf } = s.pki
  const signed: number[] = []
  const signer: Signer = {
    algorithm: 'AWS4-X509-ECDSA-SHA256',
    sign: async (data) => {
      signed.push(data.length)
      return sign('sha256', data, { key: leaf.key, dsaEncoding: 'der' })
    },
  }
  const c = await fromRolesAnywhere(init(s, { privateKey: undefined, signer, certificate: s.pki.path('chain-root-first.pem') }))()
  t.match(c, { accessKeyId: /^ASIA/, accountId: '123456789012' })
  t.equal(signed.length, 1, 'the signer signed the request')

  const before = s.fake.calls.length
  const other = await createLeaf({ name: 'other', key: 'p256', issuer: s.pki.intermediate })
  const cases: Array<[string, Signer, string, string]> = [
    [
      'another key',
      { algorithm: 'AWS4-X509-ECDSA-SHA256', sign: async (d) => sign('sha256', d, { key: other.key, dsaEncoding: 'der' }) },
      'KEY_CERT_MISMATCH',
      'signer',
    ],
    [
      'raw r||s instead of DER',
      { algorithm: 'AWS4-X509-ECDSA-SHA256', sign: async (d) => sign('sha256', d, { key: leaf.key, dsaEncoding: 'ieee-p1363' }) },
      'KEY_CERT_MISMATCH',
      'signer',
    ],
    ['RSA algorithm for an EC certificate', { algorithm: 'AWS4-X509-RSA-SHA256', sign: async () => new Uint8Array(256) }, 'KEY_CERT_MISMATCH', 'signer'],
    [
      'the signer throws',
      {
        algorithm: 'AWS4-X509-ECDSA-SHA256',
        sign: async () => {
          throw new Error('token removed')
        },
      },
      'SIGNER_FAILED',
      'signer',
    ],
    ['the signer returns nothing', { algorithm: 'AWS4-X509-ECDSA-SHA256', sign: async () => undefined as unknown as Uint8Array }, 'SIGNER_FAILED', 'signer'],
  ]
  for (const [name, bad, code, field] of cases) {
    const e = await rejection(t, fromRolesAnywhere(init(s, { privateKey: undefined, signer: bad }))())
    t.same([e.code, e.field], [code, field], name)
  }
  const onlyCa = await rejection(t, fromRolesAnywhere(init(s, { privateKey: undefined, signer, certificate: s.pki.path('int.pem') }))())
  t.same([onlyCa.code, onlyCa.field], ['KEY_CERT_MISMATCH', 'certificate'], 'a certificate source with no end-entity certificate')
  t.equal(s.fake.calls.length, before, 'nothing was sent for any of them')
})

t.test('options are checked in the factory: every problem at once, named by option field, never by flag', async (t) => {
  const s = await startScenario('p256')
  t.teardown(s.close)
  const e = thrown(t, () =>
    fromRolesAnywhere(init(s, { trustAnchorArn: 'arn:aws:iam::123456789012:role/oops', durationSeconds: 60, timeout: 0, maxRetries: 1.5 })),
  )
  t.same([e.code, e.fields, e.tryNextLink], ['ARN_INVALID', ['trustAnchorArn', 'durationSeconds', 'timeout', 'maxRetries'], false])
  t.match(e.message, /trustAnchorArn: "arn:aws:iam::123456789012:role\/oops" is not a Roles Anywhere trust anchor ARN/)
  t.match(e.message, /durationSeconds must be a whole number of seconds from 900 to 43200, got 60/)
  t.notMatch(e.message, /--/, 'no command-line flag in the message')
  const cases: Array<[string, Partial<FromRolesAnywhereInit>, string, string]> = [
    ['privateKey and signer', { signer: { algorithm: 'AWS4-X509-ECDSA-SHA256', sign: async () => new Uint8Array(1) } }, 'USAGE', 'privateKey'],
    ['a pkcs11: URI', { privateKey: 'pkcs11:token=t;object=k' }, 'USAGE', 'privateKey'],
    ['a number for the certificate', { certificate: 42 as unknown as string }, 'USAGE', 'certificate'],
    ['no certificate', { certificate: undefined as unknown as string }, 'USAGE', 'certificate'],
    ['regions differ', { profileArn: PROFILE_ARN.replace('us-east-1', 'eu-west-1') }, 'REGION_MISMATCH', 'profileArn'],
    ['endpoint not a URL', { endpoint: 'not a url' }, 'ENDPOINT_INVALID', 'endpoint'],
    ['a bad region', { region: 'Not A Region' }, 'USAGE', 'region'],
    ['an https proxy', { endpoint: undefined, env: { HTTPS_PROXY: 'https://proxy.example:3128' } }, 'ENDPOINT_INVALID', 'env'],
  ]
  for (const [name, more, code, field] of cases) {
    const err = thrown(t, () => fromRolesAnywhere(init(s, more)))
    t.same([err.code, err.field], [code, field], name)
    t.notMatch(err.message, /--[a-z]/, `${name}: no flag`)
  }
})

t.test('not configured at all: the provider rejects with tryNextLink, so an SDK chain moves on', async (t) => {
  const provider = fromRolesAnywhere({} as FromRolesAnywhereInit)
  const e = await rejection(t, provider())
  t.equal(e.tryNextLink, true)
  const chained = createCredentialChain(provider, async () => ({ accessKeyId: 'AKIDNEXT', secretAccessKey: 'x' }))
  t.equal((await chained()).accessKeyId, 'AKIDNEXT', 'the next source answered')
  const s = await startScenario('p256')
  t.teardown(s.close)
  const configured = createCredentialChain(fromRolesAnywhere(init(s, { certificate: '/nonexistent/leaf.pem' })), async () => ({
    accessKeyId: 'AKIDNEXT',
    secretAccessKey: 'x',
  }))
  const stop = await rejection(t, configured())
  t.same([stop.code, stop.tryNextLink, stop.field], ['CERT_UNREADABLE', false, 'certificate'], 'configured but broken: the chain stops here (fail closed)')
})

t.test('identity and service errors carry codes and fields, and never the secret they are about', async (t) => {
  const s = await startScenario('p256')
  t.teardown(s.close)
  const encrypted = s.pki.leaf.key.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw-123' }).toString()
  const noPass = await rejection(t, fromRolesAnywhere(init(s, { privateKey: encrypted }))())
  t.same([noPass.code, noPass.field], ['KEY_PASSWORD_REQUIRED', 'passphrase'])
  t.match(noPass.message, /^privateKey \(PEM text\) is encrypted: set the passphrase option$/)
  const wrong = await rejection(t, fromRolesAnywhere(init(s, { privateKey: encrypted, passphrase: 'nope' }))())
  t.same([wrong.code, wrong.field], ['KEY_PASSWORD_WRONG', 'passphrase'])
  t.notMatch(wrong.message, /nope/, 'the passphrase is not in the message')
  t.match(await fromRolesAnywhere(init(s, { privateKey: encrypted, passphrase: 'pw-123' }))(), { accessKeyId: /^ASIA/ })

  const junkKey = '-----BEGIN PRIVATE KEY-----\nMIIBVQIBADANBgkqhkiG9w0BAQEFAASCAT8wggE7AgEAAkEAsecret\n-----END PRIVATE KEY-----\n'
  const malformed = await rejection(t, fromRolesAnywhere(init(s, { privateKey: junkKey }))())
  t.same([malformed.code, malformed.field], ['KEY_MALFORMED', 'privateKey'])
  t.notMatch(malformed.message, /MIIB|secret/, 'no key material in the message')
  const mismatch = await rejection(t, fromRolesAnywhere(init(s, { privateKey: (await createLeaf({ name: 'x', issuer: s.pki.intermediate })).keyPem }))())
  t.same([mismatch.code, mismatch.fields], ['KEY_CERT_MISMATCH', ['privateKey', 'certificate']])

  s.fake.calls.length = 0
  const untrusted = await rejection(t, fromRolesAnywhere(init(s, { intermediates: undefined }))())
  t.same([untrusted.code, untrusted.upstreamCode], ['UPSTREAM_DENIED', 'AccessDeniedException'])
  t.match(untrusted.message, /check the intermediates option/)
  t.notMatch(untrusted.message, /--/)
})

t.test('PKCS#12 bytes as the certificate, a missing key, and source functions that fail', async (t) => {
  const s = await startScenario('p256')
  t.teardown(s.close)
  const p12 = s.pki.path('id.p12')
  const made = spawnSync('openssl', [
    'pkcs12',
    '-export',
    '-in',
    s.pki.path('leaf.pem'),
    '-inkey',
    s.pki.path('key.pem'),
    '-certfile',
    s.pki.path('int.pem'),
    '-passout',
    'pass:p12-pw',
    '-out',
    p12,
  ])
  await t.test('PKCS#12', { skip: made.status === 0 ? false : 'openssl cannot write PKCS#12 here' }, async (t) => {
    const c = await fromRolesAnywhere(init(s, { certificate: readFileSync(p12), intermediates: undefined, privateKey: undefined, passphrase: 'p12-pw' }))()
    t.match(c, { accessKeyId: /^ASIA/ }, 'certificate, chain and key from one PKCS#12')
    const locked = await rejection(t, fromRolesAnywhere(init(s, { certificate: p12, intermediates: undefined, privateKey: undefined }))())
    t.same([locked.code, locked.field], ['KEY_PASSWORD_REQUIRED', 'passphrase'])
    t.notMatch(locked.message, /--|terminal/, "library advice, not the CLI's")
  })
  const noKey = await rejection(t, fromRolesAnywhere(init(s, { privateKey: undefined }))())
  t.same([noKey.code, noKey.fields], ['USAGE', ['privateKey', 'signer']])
  const throws = await rejection(
    t,
    fromRolesAnywhere(
      init(s, {
        privateKey: async () => {
          throw new Error('vault sealed')
        },
      }),
    )(),
  )
  t.same([throws.code, throws.field], ['KEY_UNREADABLE', 'privateKey'])
  t.match(throws.message, /vault sealed/)
  const odd = await rejection(t, fromRolesAnywhere(init(s, { certificate: async () => 42 as unknown as string }))())
  t.same([odd.code, odd.field], ['CERT_UNREADABLE', 'certificate'])
})

t.test('the clock, retries and transport come in from the composition root', async (t) => {
  const failures: FakeFailure[] = [{ status: 503, errorType: 'ServiceUnavailableException', message: 'busy' }]
  const s = await startScenario('p256', { failures })
  t.teardown(s.close)
  const sleeps: number[] = []
  const transports: TransportOptions[] = []
  const transport = (o: TransportOptions): Transport => {
    transports.push(o)
    return createTransport(o)
  }
  const deps = { now: () => new Date(), env: {}, sleep: async (ms: number) => void sleeps.push(ms), random: () => 0.5, transport }
  const c = await createProvider(init(s, { timeout: 2500 }), deps)()
  t.match(c, { accessKeyId: /^ASIA/ })
  t.equal(sleeps.length, 1, 'one retry after the 503, through the injected sleep')
  t.match(transports, [{ timeoutMs: 2500, verifyTls: true }], 'the timeout option (ms) reaches the transport; TLS is always verified')
  failures.push({ status: 503, errorType: 'ServiceUnavailableException', message: 'busy' })
  const noRetry = await rejection(t, createProvider(init(s, { maxRetries: 0 }), deps)())
  t.same(
    [noRetry.code, noRetry.upstreamCode, sleeps.length],
    ['UPSTREAM_UNAVAILABLE', 'ServiceUnavailableException', 1],
    'maxRetries: 0 gives up after the first 503',
  )
  s.fake.calls.length = 0
  const later = await rejection(t, createProvider(init(s), { ...deps, now: () => new Date(Date.now() + 3 * 365 * 86_400_000) })())
  t.same([later.code, later.field], ['CERT_EXPIRED', 'certificate'], 'validity is checked at the injected instant')
  t.equal(created(s), 0)
})

t.test("logger: says which provider ran and why it failed, never a secret; the caller client's logger is the fallback", async (t) => {
  const s = await startScenario('p256')
  t.teardown(s.close)
  const lines: string[] = []
  const logger = { debug: (...a: unknown[]) => void lines.push(a.map(String).join(' ')) }
  const c = await fromRolesAnywhere(init(s, { logger }))()
  await rejection(t, fromRolesAnywhere(init(s, { logger, certificate: '/nonexistent.pem' }))())
  t.ok(lines.includes('iamra - fromRolesAnywhere'), 'the provider names itself, as the SDK providers do')
  t.ok(
    lines.some((l) => /\(!\) cannot read certificate file \/nonexistent\.pem: no such file \[CERT_UNREADABLE\]/.test(l)),
    'the failure reason',
  )
  const all = lines.join('\n')
  for (const secret of [c.secretAccessKey, c.sessionToken, 'PRIVATE KEY']) t.notOk(all.includes(secret), 'no secret logged')
  const fromClient: string[] = []
  await fromRolesAnywhere(init(s))({ callerClientConfig: { logger: { debug: (m: unknown) => void fromClient.push(String(m)) } } })
  t.ok(
    fromClient.some((l) => l.startsWith('iamra - fromRolesAnywhere')),
    'callerClientConfig.logger used when no logger option',
  )
})

t.test('environment: given explicitly, or ignored with env: {}', async (t) => {
  const s = await startScenario('p256')
  t.teardown(s.close)
  const c = await fromRolesAnywhere(init(s, { endpoint: undefined, env: { AWS_ENDPOINT_URL_ROLESANYWHERE: s.fake.url } }))()
  t.match(c, { accessKeyId: /^ASIA/ }, 'AWS_ENDPOINT_URL_ROLESANYWHERE from the env option')
  const bundle = await rejection(t, fromRolesAnywhere(init(s, { env: { AWS_CA_BUNDLE: '/nonexistent/ca.pem' } }))())
  t.same([bundle.code, bundle.field], ['ENDPOINT_INVALID', 'env'])
})

t.test('memoize: one call in flight, reuse until the refresh window, forceRefresh, failures not cached', async (t) => {
  let now = 0
  let calls = 0
  let fail = false
  const gates: Array<() => void> = []
  const provider = async (): Promise<{ accessKeyId: string; expiration: Date }> => {
    calls++
    const n = calls
    await new Promise<void>((r) => gates.push(r))
    if (fail) throw new Error('down')
    return { accessKeyId: `AK${n}`, expiration: new Date(now + 60 * 60_000) }
  }
  const m = memoize(provider, { now: () => now })
  const both = Promise.all([m(), m()])
  await new Promise((r) => setImmediate(r))
  t.equal(calls, 1, 'concurrent callers share one call')
  gates.shift()?.()
  t.same(
    (await both).map((c) => c.accessKeyId),
    ['AK1', 'AK1'],
  )
  now += 54 * 60_000
  t.equal((await m()).accessKeyId, 'AK1', '6 minutes left: reused')
  now += 2 * 60_000
  const refreshed = m()
  await new Promise((r) => setImmediate(r))
  gates.shift()?.()
  t.equal((await refreshed).accessKeyId, 'AK2', '4 minutes left: refreshed')
  const forced = m({ forceRefresh: true })
  await new Promise((r) => setImmediate(r))
  gates.shift()?.()
  t.equal((await forced).accessKeyId, 'AK3', 'forceRefresh')
  fail = true
  const failing = m({ forceRefresh: true })
  await new Promise((r) => setImmediate(r))
  gates.shift()?.()
  await t.rejects(failing, /down/)
  fail = false
  const retried = m({ forceRefresh: true })
  await new Promise((r) => setImmediate(r))
  gates.shift()?.()
  t.equal((await retried).accessKeyId, 'AK5', 'the failure was not cached: the next call tries again')
  const constant = memoize(async () => ({ accessKeyId: `C${++calls}` }), { now: () => now })
  t.equal((await constant()).accessKeyId, (await constant()).accessKeyId, 'no expiration: kept')
})

t.test(
  'memoize follows the refresh policy: the window is at most half the lifetime; a failed refresh serves valid credentials, retried at most every 10 s',
  async (t) => {
    let now = 0
    let calls = 0
    let fail = false
    const provider = async (): Promise<{ accessKeyId: string; expiration: Date }> => {
      calls++
      if (fail) throw new Error('down')
      return { accessKeyId: `AK${calls}`, expiration: new Date(now + 20 * 60_000) }
    }
    const m = memoize(provider, { now: () => now, refreshBeforeMs: 15 * 60_000 })
    t.equal((await m()).accessKeyId, 'AK1')
    now += 9 * 60_000
    t.equal((await m()).accessKeyId, 'AK1', '20-minute credentials, 15-minute window: fresh until half their lifetime (11 minutes left)')
    now += 2 * 60_000
    fail = true
    t.equal((await m()).accessKeyId, 'AK1', '9 minutes left, the refresh failed: the valid credentials are served')
    t.equal(calls, 2)
    now += 5000
    t.equal((await m()).accessKeyId, 'AK1', 'within 10 s of the failure: no new attempt')
    t.equal(calls, 2)
    now += 5000
    await m()
    t.equal(calls, 3, '10 s after the failure: a new attempt')
    await t.rejects(m({ forceRefresh: true }), /down/, 'forceRefresh throws the failure')
    now += 10 * 60_000 // expired
    await t.rejects(m(), /down/, 'never expired credentials')
    const before = calls
    await t.rejects(m(), /down/)
    t.equal(calls, before + 1, 'with nothing valid, every call tries again')
    fail = false
    t.equal((await m()).accessKeyId, `AK${calls}`, 'recovers')
  },
)

t.test('memoize shares one provider between two real SDK clients', async (t) => {
  const s = await startScenario('p256')
  t.teardown(s.close)
  const { STSClient } = await import('@aws-sdk/client-sts')
  const shared = memoize(fromRolesAnywhere(init(s)))
  const a = new STSClient({ region: 'us-east-1', credentials: shared })
  const b = new STSClient({ region: 'eu-west-1', credentials: shared })
  t.teardown(() => {
    a.destroy()
    b.destroy()
  })
  const [ca, cb] = await Promise.all([a.config.credentials(), b.config.credentials()])
  t.equal(ca.accessKeyId, cb.accessKeyId)
  t.equal(created(s), 1, 'one CreateSession for both clients')
})

t.test('the public surface is exactly what docs/library.md documents', async (t) => {
  const lib = await import('../src/library/index.js')
  t.same(Object.keys(lib).sort(), ['CredentialsProviderError', 'fromRolesAnywhere', 'memoize'])
  const testing = await import('../src/testing/index.js')
  t.same(Object.keys(testing).sort(), ['createCa', 'createFakeHandler', 'createLeaf', 'createMlDsaCertificate', 'startFakeEndpoint', 'stsMinter'])
})
