// The verifying fake Roles Anywhere endpoint: the spec's worked example, round trips with iamra's signer and
// client, every refusal, the HTTP server, the CLI command, STS minting, and (when installed) moto end to end.
import t, { type Test } from 'tap'
import { X509Certificate } from 'node:crypto'
import { Agent, request as httpRequest } from 'node:http'
import { run as runFakeEndpoint } from '../src/cli/commands/fake-endpoint.js'
import type { CliContext } from '../src/cli/context.js'
import { IamraError } from '../src/errors.js'
import { assemble, type Identity } from '../src/identity/identity.js'
import { createSession } from '../src/rolesanywhere/create-session.js'
import { resolveEndpoint } from '../src/rolesanywhere/endpoint.js'
import { createTransport, type HttpRequest } from '../src/rolesanywhere/transport.js'
import { createFakeHandler, type FakeConfig, type FakeRequest, type MintRequest } from '../src/testing/fake-endpoint/handler.js'
import { startFakeEndpoint } from '../src/testing/fake-endpoint/server.js'
import { join } from 'node:path'
import { startMoto } from './helpers/moto.js'
import { onPath } from './helpers/processes.js'
import { MintError, signV4Hmac, stsMinter, xmlTag } from '../src/testing/fake-endpoint/sts-mint.js'
import {
  canonicalQueryOf,
  canonicalRequestOf,
  canonicalUriOf,
  parseAuthorization,
  sha256Hex,
  stringToSignOf,
  verifySignature,
} from '../src/testing/fake-endpoint/verify.js'
import { certKey } from '../src/testing/fake-endpoint/cert-keys.js'
import { createCa, createLeaf, type TestCert } from '../src/testing/pki.js'
import { arnQuery, BODY, decimal, manualSigned, PROFILE, realSigned, ROLE, TA } from './helpers/manual-sign.js'
import { realRandom } from './helpers/runtime.js'
import { pollUntil } from './helpers/wait.js'
import { KeyBackends } from '../src/keys/key-backends.js'

const DAY = 86_400_000
const ca = await createCa({ name: 'fake test CA', key: 'p256' })
const intermediate = await createCa({ name: 'fake test intermediate', key: 'p384', issuer: ca })
const rsaLeaf = await createLeaf({ name: 'rsa client', key: 'rsa2048', issuer: ca })
const ecLeaf = await createLeaf({ name: 'ec client', key: 'p256', issuer: intermediate })
const p384Leaf = await createLeaf({ name: 'p384 client', key: 'p384', issuer: ca })
const otherCa = await createCa({ name: 'other CA', key: 'p256' })
const stranger = await createLeaf({ name: 'stranger', key: 'p256', issuer: otherCa })
const expired = await createLeaf({ name: 'expired', key: 'p256', issuer: ca, notBefore: new Date(Date.now() - 2 * DAY), notAfter: new Date(Date.now() - DAY) })

const fake = (over: Partial<FakeConfig> = {}): ReturnType<typeof createFakeHandler> =>
  createFakeHandler({ trustAnchors: [ca.certPem], region: 'us-east-1', ...over })
const bodyOf = (b: Buffer): Record<string, unknown> => JSON.parse(b.toString('utf8')) as Record<string, unknown>
const identityOf = (leaf: TestCert, chain: TestCert[] = []): Identity =>
  assemble(
    [leaf, ...chain].map((c) => ({ cert: c.cert, der: c.der, source: c.subject })),
    leaf.key,
    'test key',
    new Date(),
  )
const transport = createTransport({ timeoutMs: 5000, verifyTls: true })
/** Response bodies as received, for checks of the wire format (the client maps them to domain types). */
const received: Buffer[] = []
const clientDeps = {
  transport: async (req: HttpRequest) => {
    const res = await transport(req)
    received.push(res.body)
    return res
  },
  now: () => new Date(),
  sleep: async () => {},
  random: () => 0,
  userAgent: 'iamra-test',
}
const session = (url: string, over: { roleArn?: string } = {}) =>
  createSession(
    { trustAnchorArn: TA, profileArn: PROFILE, roleArn: over.roleArn ?? ROLE, durationSeconds: 900 },
    identityOf(rsaLeaf),
    resolveEndpoint({ region: 'us-east-1', endpoint: url, env: {} }),
    clientDeps,
  )

async function refused(t: Test, handler: ReturnType<typeof createFakeHandler>, req: FakeRequest, status: number, type: string, message: RegExp): Promise<void> {
  const res = await handler(req)
  t.equal(res.statusCode, status, 'status')
  t.equal(res.headers['x-amzn-ErrorType'], type, 'x-amzn-ErrorType')
  t.match(res.headers['x-amzn-RequestId'], /^[0-9a-f-]{36}$/, 'request id')
  t.match(bodyOf(res.body).message, message, 'message')
  t.match(handler.calls.at(-1), { status, errorMessage: message }, 'recorded')
}

const X509_B64 =
  'MIICPTCCAeKgAwIBAgIUHjpcf5stT2CBo8Xn+bHT9afJ4fMwCgYIKoZIzj0EAwIwGzEZMBcGA1UEAwwQaWFtcmEgZXhhbXBsZSBDQTAeFw0yNDAxMDEwMDAwMDBaFw0zNDAxMDEwMDAwMDBaMB8xHTAbBgNVBAMMFGlhbXJhLWV4YW1wbGUtY2xpZW50MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAyJhhYm3izOvrUn8eH8onmDtffqV7otts1Nj+URSmH3RS9ozc9JXrSk4JlOKJsah9EDML3t61MNSQlmEkkMVQyLUTHhdNUBoBUrIflDYCPgj1pt3hXSvu9H0BtsI4195G6zpUrs/nW1FTDyPMKFFQWlN43gj+04OIGz5oJUnSShjNuS1BumoZ08RGzQTcJxBPb8StdSMF60tXF8O1qYTiyV6l17Lpr4uIlO+XKsXCwJNQLuhoqHyHwLa5jrXoS6lb16ndxh22pP32qiMPID5ULVFWxbKcquFNP3iR5e7pGzaI3EiffWg++EMhwWwUJVlukG9T895vxsd2taJIpzm/ZwIDAQABozUwMzAMBgNVHRMBAf8EAjAAMA4GA1UdDwEB/wQEAwIHgDATBgNVHSUEDDAKBggrBgEFBQcDAjAKBggqhkjOPQQDAgNJADBGAiEAlX0kmLWwDMtAC902j8JxKVdTQ+QDs0wAOvEEd99NhK0CIQCTpP7WzCU48IlEwNvpWqfL4FllHf+1zFwLyCsJVnaOGg=='
const SIG_9 =
  '96f161586c83d2b2e883cf3c8525363b7184ebda79bc802e2664480ee9239b3d59d9b9ba3c14bfd6bf87a49f36609dc8e142c487a9a762fe491d2d3a8f620eef265f090b118121f783ef634322835e7abec350c11453bf27aabd2ffa5642a603dd8f1bb863ee8ee3a34cd700eb57b840359d82c1dad4113084a37daa21d6febf19992149da7f41db177ccfa3d9932c9e359076159314fcf9f3882f74bc08482aeec6e37deb1ed4b8c003ddd9512bfbda33ad680f76a02b65fcf1e5a126cfdff168aaf660e92c3be27ebb50597228afe9a099fe9064fb52d62b24d76319da0b1c2f55b32a24e1c24f03d993dc318470492267c115785f41440fdaf002c090996b'

t.test("spec §9 worked example verifies with the fake's own canonicalisation", async (t) => {
  const auth = `AWS4-X509-RSA-SHA256 Credential=172571224098661885432759610396734365470439367155/20240501/us-east-1/rolesanywhere/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-x509, Signature=${SIG_9}`
  const req: FakeRequest = {
    method: 'POST',
    target: `/sessions?${arnQuery()}`,
    body: BODY,
    headers: {
      host: 'rolesanywhere.us-east-1.amazonaws.com',
      'content-type': 'application/json',
      'content-length': '24',
      'x-amz-date': '20240501T123456Z',
      'x-amz-x509': X509_B64,
      authorization: auth,
      'user-agent': 'iamra/0.1.0',
    },
  }
  const parsed = parseAuthorization(auth)
  const canonical = canonicalRequestOf(req, parsed.signedHeaders)
  t.equal(canonical.length, 1305)
  t.equal(sha256Hex(BODY), '1a15f67f6619aa540b13e9a4c37d149fb2c9bdea25d82b73a3878826694dfe27')
  t.equal(sha256Hex(canonical), '254cf22c96ea0464caf915b26a6d81a9436f5a5b1503f271218ca07cd2fa7f37')
  const sts = stringToSignOf(parsed.algorithm, '20240501T123456Z', parsed.scope, canonical)
  t.equal(sha256Hex(sts), '71e8fce9893f311cfd2e6fe37187f44f497b13b9f55ecbc72908150040851354')
  const leaf = new X509Certificate(Buffer.from(X509_B64, 'base64'))
  t.equal(sha256Hex(leaf.raw), 'cca418cd2aee6fa18fd1bc0d0bd78553e6e24d35fe62b832095d233162047837')
  t.ok(verifySignature(sts, certKey(leaf), parsed.signature), 'the published signature verifies')
  const flipped = Buffer.from(parsed.signature)
  flipped[10] = (flipped[10] ?? 0) ^ 1
  t.notOk(verifySignature(sts, certKey(leaf), flipped), 'a flipped bit does not')
  t.equal(
    sha256Hex(`{"durationSeconds":3600,"profileArn":"${PROFILE}","roleArn":"${ROLE}","trustAnchorArn":"${TA}"}`),
    '44ac0a82ffa8be4b3533eb2bc63cef71d0ea44e2781ca9d95b1db3146c4aadfb',
    'body-form hash',
  )
  // The example's CA is not published: pin the leaf itself as the trust anchor to run every other check.
  const pem = `-----BEGIN CERTIFICATE-----\n${X509_B64.replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE-----\n`
  const at = new Date('2024-05-01T12:34:56Z')
  const h = fake({ trustAnchors: [pem], now: () => at, trustAnchorArns: [TA], profileArns: [PROFILE] })
  const res = await h(req)
  t.equal(res.statusCode, 201, bodyOf(res.body).message as string)
  t.match(bodyOf(res.body), { credentialSet: [{ roleArn: ROLE, sourceIdentity: 'iamra-example-client', credentials: { expiration: '2024-05-01T13:34:56Z' } }] })
  t.match(h.calls[0], { status: 201, serial: '172571224098661885432759610396734365470439367155', roleArn: ROLE, chainLength: 0 })
  await refused(t, fake({ trustAnchors: [pem], now: () => new Date(at.getTime() + 301_000) }), req, 403, 'AccessDeniedException', /outside the allowed window/)
})

t.test('canonicalisation pieces', async (t) => {
  t.equal(canonicalQueryOf('b=%7e&a=x+y&a=%21&c'), 'a=%21&a=x%20y&b=~&c=', 're-encoded, sorted by name then value')
  t.equal(
    canonicalQueryOf('roleArn=arn%3aaws%3Aiam%3A%3A1%3Arole%2F(a)*'),
    'roleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2F%28a%29%2A',
    'upper-case hex, ( ) * escaped',
  )
  t.equal(canonicalUriOf('/sessions'), '/sessions')
  t.equal(canonicalUriOf(''), '/')
  t.equal(canonicalUriOf('/my%20prefix/sessions'), '/my%2520prefix/sessions', 'non-S3 SigV4: the sent path is encoded once more')
})

t.test("round trips with iamra's signer are accepted", async (t) => {
  const h = fake()
  const started = Date.now()
  const res = await h(await realSigned({ leaf: rsaLeaf }))
  t.equal(res.statusCode, 201)
  t.equal(res.headers['content-type'], 'application/json')
  const body = bodyOf(res.body)
  t.match(body, {
    credentialSet: [
      {
        assumedRoleUser: {
          arn: `arn:aws:sts::123456789012:assumed-role/iamra-example/${rsaLeaf.cert.serialNumber.toLowerCase()}`,
          assumedRoleId: /^AROA[A-Z2-7]{17}:/,
        },
        credentials: {
          accessKeyId: /^ASIA[A-Z2-7]{16}$/,
          expiration: /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/,
          secretAccessKey: /^[A-Za-z0-9+/]{40}$/,
          sessionToken: /./,
        },
        packedPolicySize: 0,
        roleArn: ROLE,
        sourceIdentity: 'rsa client',
      },
    ],
    subjectArn: /^arn:aws:rolesanywhere:us-east-1:123456789012:subject\/[0-9a-f-]{36}$/,
  })
  const exp = Date.parse((body as { credentialSet: [{ credentials: { expiration: string } }] }).credentialSet[0].credentials.expiration)
  t.ok(Math.abs(exp - (started + 3600_000)) < 5000, 'expiration = now + durationSeconds')
  t.match(h.calls, [{ status: 201, serial: decimal(rsaLeaf), roleArn: ROLE, chainLength: 0 }])
  t.notOk('errorMessage' in (h.calls[0] ?? {}), 'no errorMessage key on success')

  const ec = await h(await realSigned({ leaf: ecLeaf, chain: [intermediate] }))
  t.equal(ec.statusCode, 201, 'EC P-256 leaf through an intermediate sent in X-Amz-X509-Chain')
  t.equal(h.calls.at(-1)?.chainLength, 1)
  t.equal((await h(await realSigned({ leaf: p384Leaf }))).statusCode, 201, 'P-384 key, ECDSA over SHA-256')
  const bodyForm = Buffer.from(JSON.stringify({ durationSeconds: 900, profileArn: PROFILE, roleArn: ROLE, trustAnchorArn: TA }))
  t.equal((await h(await realSigned({ leaf: rsaLeaf, query: '', body: bodyForm }))).statusCode, 201, 'body form')
  const named = await h(await realSigned({ leaf: rsaLeaf, body: Buffer.from('{"durationSeconds":3600,"roleSessionName":"foo"}') }))
  t.match(bodyOf(named.body), { credentialSet: [{ assumedRoleUser: { arn: /\/iamra-example\/foo$/ } }] }, 'roleSessionName')
  const oddRole = "arn:aws:iam::123456789012:role/team!(a)*'~/x+y=z,w.v@u_-"
  const odd = await h(await realSigned({ leaf: rsaLeaf, query: arnQuery({ role: oddRole }) }))
  t.equal(odd.statusCode, 201, "role path with ! ' ( ) * ~ + survives encoding")
  t.equal(h.calls.at(-1)?.roleArn, oddRole)
  t.equal((await h(await realSigned({ leaf: rsaLeaf, body: Buffer.from('{"durationSeconds":900}') }))).statusCode, 201, 'duration 900')
  t.equal((await h(await realSigned({ leaf: rsaLeaf, body: Buffer.from('{"durationSeconds":43200}') }))).statusCode, 201, 'duration 43200')
  t.equal((await h(await realSigned({ leaf: rsaLeaf, at: new Date(Date.now() - 4 * 60_000) }))).statusCode, 201, '4 min skew is fine')

  const minted: MintRequest[] = []
  const custom = fake({
    mint: async (r) => {
      minted.push(r)
      return {
        accessKeyId: 'ASIAFIXED',
        secretAccessKey: 's',
        sessionToken: 't',
        expiration: new Date('2030-01-02T03:04:05.678Z'),
        assumedRoleArn: 'arn:x',
        assumedRoleId: 'AROAX:y',
      }
    },
  })
  const fixed = await custom(await realSigned({ leaf: rsaLeaf, body: Buffer.from('{"durationSeconds":1000,"roleSessionName":"sess"}') }))
  t.match(bodyOf(fixed.body), {
    credentialSet: [
      { assumedRoleUser: { arn: 'arn:x', assumedRoleId: 'AROAX:y' }, credentials: { accessKeyId: 'ASIAFIXED', expiration: '2030-01-02T03:04:05Z' } },
    ],
  })
  t.same(minted, [{ roleArn: ROLE, durationSeconds: 1000, serial: decimal(rsaLeaf), subject: 'rsa client', roleSessionName: 'sess' }])
})

t.test('refusals, each with its own status, error type and message', async (t) => {
  const h = fake({ trustAnchorArns: [TA], profileArns: [PROFILE] })
  const denied = (req: FakeRequest, message: RegExp) => refused(t, h, req, 403, 'AccessDeniedException', message)
  const invalid = async (body: string, message: RegExp) =>
    refused(t, h, await realSigned({ leaf: rsaLeaf, body: Buffer.from(body) }), 400, 'ValidationException', message)

  const tamperedBody = await realSigned({ leaf: rsaLeaf })
  await denied({ ...tamperedBody, body: Buffer.from('{"durationSeconds":3601}') }, /^Invalid signature$/)
  const tamperedQuery = await realSigned({ leaf: rsaLeaf })
  await denied({ ...tamperedQuery, target: tamperedQuery.target.replace('iamra-example', 'iamra-exampl3') }, /^Invalid signature$/)
  const tamperedHost = await realSigned({ leaf: rsaLeaf })
  await denied({ ...tamperedHost, headers: { ...tamperedHost.headers, host: 'evil.example' } }, /^Invalid signature$/)
  await denied(await realSigned({ leaf: rsaLeaf, region: 'eu-west-1' }), /region eu-west-1 does not match/)
  await denied(await realSigned({ leaf: rsaLeaf, serial: rsaLeaf.cert.serialNumber }), /serial/)
  t.equal(h.calls.at(-1)?.serial, decimal(rsaLeaf), 'the serial is recorded once the certificate is parsed')
  await denied(await realSigned({ leaf: stranger }), /^Untrusted Signing Certificate$/)
  await denied(await realSigned({ leaf: ecLeaf }), /^Untrusted Signing Certificate$/) // intermediate not sent
  await denied(await realSigned({ leaf: ecLeaf, chain: [stranger] }), /^Untrusted Signing Certificate$/)
  await denied(await realSigned({ leaf: expired }), /^Signing certificate expired$/)
  await refused(
    t,
    fake({ now: () => new Date(Date.now() - 2 * 3600_000), maxSkewMs: 3 * 3600_000 }),
    await realSigned({ leaf: rsaLeaf }),
    403,
    'AccessDeniedException',
    /not yet valid/,
  )
  await denied(await realSigned({ leaf: rsaLeaf, at: new Date(Date.now() - 6 * 60_000) }), /outside the allowed window/)
  await denied(await realSigned({ leaf: rsaLeaf, at: new Date(Date.now() + 6 * 60_000) }), /outside the allowed window/)
  await denied(manualSigned({ leaf: rsaLeaf, signed: ['content-type', 'host', 'x-amz-date'] }), /must include x-amz-x509$/)
  await denied(manualSigned({ leaf: rsaLeaf, signed: ['content-type', 'x-amz-date', 'x-amz-x509'] }), /must include host$/)
  await denied(
    manualSigned({ leaf: ecLeaf, chain: [intermediate], signed: ['content-type', 'host', 'x-amz-date', 'x-amz-x509'] }),
    /x-amz-x509-chain when it is sent/,
  )
  t.equal(
    (await h(manualSigned({ leaf: ecLeaf, chain: [intermediate], signed: ['host', 'x-amz-date', 'x-amz-x509', 'x-amz-x509-chain'] }))).statusCode,
    201,
    'content-type need not be signed',
  )
  await denied(manualSigned({ leaf: rsaLeaf, signed: ['x-amz-date', 'host', 'x-amz-x509'] }), /sorted order/)
  await denied(
    manualSigned({ leaf: ecLeaf, chain: [intermediate], algorithm: 'AWS4-X509-RSA-SHA256', signed: ['host', 'x-amz-date', 'x-amz-x509', 'x-amz-x509-chain'] }),
    /does not match the certificate key type ec/,
  )
  await denied(
    manualSigned({ leaf: rsaLeaf, algorithm: 'AWS4-X509-ECDSA-SHA256', signed: ['host', 'x-amz-date', 'x-amz-x509'] }),
    /does not match the certificate key type rsa/,
  )
  await denied(manualSigned({ leaf: rsaLeaf, algorithm: 'AWS4-HMAC-SHA256', signed: ['host', 'x-amz-date', 'x-amz-x509'] }), /Unsupported signing algorithm/)
  const noAuth = await realSigned({ leaf: rsaLeaf })
  delete noAuth.headers.authorization
  await denied(noAuth, /^Missing Authentication Token$/)
  const badDate = await realSigned({ leaf: rsaLeaf })
  await denied({ ...badDate, headers: { ...badDate.headers, 'x-amz-date': '2024-05-01T12:34:56Z' } }, /YYYYMMDDTHHMMSSZ/)

  const otherTa = TA.replace('0b3f6a2e', '1b3f6a2e')
  await refused(t, h, await realSigned({ leaf: rsaLeaf, query: arnQuery({ ta: otherTa }) }), 404, 'ResourceNotFoundException', /^Trust anchor not found/)
  await refused(
    t,
    h,
    await realSigned({ leaf: rsaLeaf, query: arnQuery({ profile: PROFILE.replace('6f1c', '7f1c') }) }),
    404,
    'ResourceNotFoundException',
    /^Profile not found/,
  )
  await refused(
    t,
    fake(),
    await realSigned({ leaf: rsaLeaf, query: arnQuery({ ta: TA.replace('us-east-1', 'eu-west-1') }) }),
    400,
    'ValidationException',
    /trustAnchorArn region eu-west-1/,
  )
  await refused(
    t,
    h,
    await realSigned({ leaf: rsaLeaf, query: arnQuery({ role: 'arn:aws:iam::123456789012:user/bob' }) }),
    400,
    'ValidationException',
    /'roleArn'/,
  )
  await invalid('{"durationSeconds":899}', /greater than or equal to 900/)
  await invalid('{"durationSeconds":43201}', /less than or equal to 43200/)
  await invalid('{"durationSeconds":3600.5}', /integer/)
  await invalid('{"durationSeconds":3600,"bogus":1}', /Unknown parameter in request body: bogus/)
  await invalid(`{"durationSeconds":3600,"roleArn":"${ROLE}"}`, /either as query parameters or in the body/)
  await invalid('{"roleSessionName":"a b"}', /roleSessionName/)
  await invalid('[1]', /JSON object/)
  await refused(t, h, await realSigned({ leaf: rsaLeaf, query: '' }), 400, 'ValidationException', /Value 'null' at 'roleArn'/)
  t.equal(
    (await h(await realSigned({ leaf: rsaLeaf, body: Buffer.from('{"durationSeconds":null,"sessionName":null}') }))).statusCode,
    201,
    'explicit nulls are absent values',
  )
  t.equal((await h(await realSigned({ leaf: rsaLeaf, body: Buffer.alloc(0) }))).statusCode, 201, 'empty body: defaults')

  await refused(t, h, { method: 'POST', target: '/other', headers: {}, body: Buffer.alloc(0) }, 404, 'UnknownOperationException', /No operation/)
  const get = await h({ method: 'GET', target: '/sessions', headers: {}, body: Buffer.alloc(0) })
  t.equal(get.statusCode, 405)
  t.equal(get.headers.allow, 'POST')
})

t.test("server: failures queue drives the real client's retries; path prefix; 413; close", async (t) => {
  const failures = [
    { status: 503, errorType: 'ServiceUnavailableException', message: 'try later' },
    { status: 503, errorType: 'ServiceUnavailableException', message: 'try later' },
  ]
  const ep = await startFakeEndpoint({ trustAnchors: [ca.certPem], region: 'us-east-1', failures })
  t.teardown(() => ep.close())
  t.match(ep.url, /^http:\/\/127\.0\.0\.1:\d+$/)
  const creds = await session(ep.url)
  t.match(creds.accessKeyId, /^ASIA/)
  t.same(
    ep.calls.map((c) => c.status),
    [503, 503, 201],
    'two 503s then success',
  )
  t.equal(failures.length, 0, 'queue consumed')
  await t.rejects(session(ep.url, { roleArn: 'arn:aws:iam::123456789012:user/nope' }), { code: 'UPSTREAM_INVALID_REQUEST' })

  const prefixed = await startFakeEndpoint({ trustAnchors: [ca.certPem], region: 'us-east-1', pathPrefix: '/prefix/' })
  t.teardown(() => prefixed.close())
  t.match((await session(`${prefixed.url}/prefix`)).accessKeyId, /^ASIA/, 'client signs and sends /prefix/sessions')
  await t.rejects(session(prefixed.url), { code: 'UPSTREAM_NOT_FOUND' }, '/sessions is not served under a prefix')
  t.same(
    prefixed.calls.map((c) => c.status),
    [201, 404],
  )

  const big = await fetch(`${ep.url}/sessions`, { method: 'POST', body: Buffer.alloc(70 * 1024, 0x20) })
  t.equal(big.status, 413)
  t.equal(big.headers.get('x-amzn-errortype'), 'ValidationException')

  const agent = new Agent({ keepAlive: true })
  t.teardown(() => agent.destroy())
  const status = await new Promise<number>((resolve, reject) => {
    const r = httpRequest(`${ep.url}/sessions`, { method: 'POST', agent }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
    })
    r.on('error', reject)
    r.end('{}')
  })
  t.equal(status, 403)
  const t0 = Date.now()
  await ep.close()
  t.ok(Date.now() - t0 < 2000, 'close() does not wait for keep-alive sockets')
  await t.rejects(fetch(`${ep.url}/sessions`, { method: 'POST' }), 'nothing listens after close')
})

t.test('CLI: fake-endpoint command', async (t) => {
  const dir = t.testdir({ 'ca.pem': ca.certPem, 'junk.pem': 'not a cert' })
  const ac = new AbortController()
  const out: string[] = []
  const err: string[] = []
  const ctx: CliContext = {
    keys: new KeyBackends(),
    env: {},
    stdout: (c) => out.push(String(c)),
    stderr: (l) => err.push(l),
    now: () => new Date(),
    ...realRandom,
    promptPassword: async () => undefined,
    stopSignal: ac.signal,
  }
  await t.rejects(runFakeEndpoint(['--bogus'], ctx), { code: 'USAGE' })
  await t.rejects(runFakeEndpoint([], ctx), { code: 'USAGE', message: /--trust-anchor/ })
  await t.rejects(runFakeEndpoint(['--trust-anchor', join(dir, 'ca.pem'), '--port', 'x'], ctx), IamraError)
  await t.rejects(runFakeEndpoint(['--trust-anchor', join(dir, 'junk.pem')], ctx), { code: 'CERT_MALFORMED' })
  await t.rejects(runFakeEndpoint(['--trust-anchor', join(dir, 'ca.pem'), '--sts-endpoint', 'http://x'], ctx), { code: 'USAGE', message: /go together/ })
  t.equal(await runFakeEndpoint(['--help'], ctx), 0)
  t.match(out.pop(), /--trust-anchor FILE/)

  const running = runFakeEndpoint(['--trust-anchor', join(dir, 'ca.pem'), '--region', 'us-east-1', '--profile-arn', PROFILE], ctx)
  await pollUntil(() => out.length > 0, { tries: 100, everyMs: 20 })
  const url = /^fake Roles Anywhere endpoint listening on (http:\/\/127\.0\.0\.1:\d+)\n$/.exec(out[0] ?? '')?.[1]
  t.ok(url, `listening line: ${out[0]}`)
  const creds = await session(url ?? '')
  ac.abort()
  t.equal(await running, 0, 'stops with exit 0 on the stop signal')
  t.equal(err.length, 1)
  t.match(err[0], new RegExp(`201 credentials issued role=${ROLE.replace(/[/]/g, '\\/')}`))
  for (const secret of [creds.secretAccessKey, creds.sessionToken, creds.accessKeyId]) t.notOk(err.join('\n').includes(secret), 'no secret in the log')
})

t.test('stsMinter and its SigV4-HMAC signer', async (t) => {
  // AWS's published SigV4 example (IAM ListUsers, 2015-08-30).
  const h = signV4Hmac({
    method: 'GET',
    url: new URL('https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08'),
    body: '',
    headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
    accessKeyId: 'AKIDEXAMPLE',
    secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
    region: 'us-east-1',
    service: 'iam',
    at: new Date('2015-08-30T12:36:00Z'),
  })
  t.equal(
    h.authorization,
    'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7',
  )

  let seen: { url: string; headers: Record<string, string>; body: string } | undefined
  const xml =
    '<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>ASIAMOTO</AccessKeyId><SecretAccessKey>sec&amp;ret</SecretAccessKey><SessionToken>tok</SessionToken><Expiration>2026-11-22T20:02:44.266042Z</Expiration></Credentials><AssumedRoleUser><AssumedRoleId>AROAX:rsa-client</AssumedRoleId><Arn>arn:aws:sts::123456789012:assumed-role/test-role/rsa-client</Arn></AssumedRoleUser></AssumeRoleResult></AssumeRoleResponse>'
  const fetchImpl = (async (url: URL, init: RequestInit) => {
    seen = { url: String(url), headers: init.headers as Record<string, string>, body: String(init.body) }
    return new Response(xml, { status: 200 })
  }) as unknown as typeof fetch
  const mint = stsMinter({ endpoint: 'http://127.0.0.1:1', accessKeyId: 'AKIDBROKER', secretAccessKey: 'x', fetchImpl })
  const c = await mint({ roleArn: 'arn:aws:iam::123456789012:role/test-role', durationSeconds: 900, serial: '1', subject: 'rsa client' })
  t.same(c, {
    accessKeyId: 'ASIAMOTO',
    secretAccessKey: 'sec&ret',
    sessionToken: 'tok',
    expiration: new Date('2026-11-22T20:02:44.266Z'),
    assumedRoleArn: 'arn:aws:sts::123456789012:assumed-role/test-role/rsa-client',
    assumedRoleId: 'AROAX:rsa-client',
  })
  t.equal(
    seen?.body,
    'Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Ftest-role&RoleSessionName=rsa-client&DurationSeconds=900',
  )
  t.match(
    seen?.headers.authorization,
    /^AWS4-HMAC-SHA256 Credential=AKIDBROKER\/\d{8}\/us-east-1\/sts\/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=[0-9a-f]{64}$/,
  )
  const denied = stsMinter({
    endpoint: 'http://127.0.0.1:1',
    accessKeyId: 'A',
    secretAccessKey: 'x',
    fetchImpl: (async () =>
      new Response('<ErrorResponse><Error><Code>AccessDenied</Code></Error></ErrorResponse>', { status: 403 })) as unknown as typeof fetch,
  })
  await t.rejects(
    denied({ roleArn: ROLE, durationSeconds: 900, serial: '1', subject: 'x' }),
    new MintError(403, 'AccessDeniedException', `Unable to assume role ${ROLE}: STS AccessDenied`),
  )
  const h2 = fake({ mint: (r) => denied(r) })
  await refused(t, h2, await realSigned({ leaf: rsaLeaf }), 403, 'AccessDeniedException', /STS AccessDenied/)
})

if (!onPath('moto_server')) {
  t.skip('moto_server not installed', async () => {})
} else {
  t.test('moto: credentials minted by sts:AssumeRole through the fake are real', async (t) => {
    const moto = await startMoto(t)
    if (moto === undefined) return
    const { endpoint: E, broker, call } = moto
    t.match(broker.accessKeyId, /^AKIA/)

    const roleArn = 'arn:aws:iam::123456789012:role/test-role'
    const wrong = stsMinter({ endpoint: E, accessKeyId: broker.accessKeyId, secretAccessKey: 'wrong' })
    await t.rejects(wrong({ roleArn, durationSeconds: 900, serial: '1', subject: 'x' }), { status: 403, message: /SignatureDoesNotMatch/ })

    const ep = await startFakeEndpoint({ trustAnchors: [ca.certPem], region: 'us-east-1', mint: stsMinter({ endpoint: E, ...broker }) })
    t.teardown(() => ep.close())
    const creds = await session(ep.url, { roleArn })
    t.match(creds.accessKeyId, /^ASIA/)
    const wire = (JSON.parse(received.at(-1)?.toString('utf8') ?? '{}') as { credentialSet: [{ credentials: { expiration: string } }] }).credentialSet[0]
      .credentials.expiration
    t.match(wire, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, 'microseconds re-serialised')
    t.equal(creds.expiration.getTime(), Date.parse(wire), 'and parsed to the same instant')
    const who = await call('sts', { Action: 'GetCallerIdentity', Version: '2011-06-15' }, creds, creds.sessionToken)
    t.equal(who.status, 200, 'moto accepts the vended credentials')
    t.match(xmlTag(who.xml, 'Arn'), 'arn:aws:sts::123456789012:assumed-role/test-role/rsa-client')
    const forged = await call('sts', { Action: 'GetCallerIdentity', Version: '2011-06-15' }, { ...creds, secretAccessKey: 'forged' }, creds.sessionToken)
    t.equal(forged.status, 403, 'a wrong secret is refused: auth really is on')
  })
}
