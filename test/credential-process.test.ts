// `iamra credential-process` end to end against the verifying fake endpoint, plus the other official commands.
import t from 'tap'
import { createHash, createPublicKey, verify, X509Certificate } from 'node:crypto'
import { createServer, request, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createCa, createLeaf } from '../src/testing/pki.js'
import { testStringFor } from '../src/cli/commands/sign-string.js'
import { runCli } from './helpers/cli.js'
import { startScenario } from './helpers/scenario.js'

const parse = (out: string) => JSON.parse(out) as Record<string, unknown>

t.test('round trips for every key type and chain shape', async (t) => {
  for (const spec of ['rsa2048', 'rsa3072', 'rsa4096', 'p256', 'p384', 'p521'] as const) {
    const s = await startScenario(spec)
    t.teardown(s.close)
    const r = await runCli(['credential-process', ...s.args])
    t.equal(r.code, 0, `${spec}: exit 0 ${r.stderr}`)
    t.match(
      r.stdout,
      /^\{"Version":1,"AccessKeyId":"ASIA[A-Z0-9]+","SecretAccessKey":"[^"]+","SessionToken":"[^"]+","Expiration":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"\}$/,
      `${spec}: exact shape, no newline`,
    )
    t.equal(s.fake.calls.at(-1)?.chainLength, 1, `${spec}: intermediate sent in the chain header`)
    if (spec !== 'p256') continue
    const variants: Array<[string, string[]]> = [
      ['full chain, leaf first', ['--certificate', s.pki.path('chain-leaf-first.pem')]],
      ['full chain, root first', ['--certificate', s.pki.path('chain-root-first.pem')]],
      ['leaf and CA as separate --certificate', ['--certificate', s.pki.path('int.pem'), '--certificate', s.pki.path('leaf.pem')]],
    ]
    for (const [name, certArgs] of variants) {
      const v = await runCli(['credential-process', ...certArgs, '--private-key', s.pki.path('key.pem'), ...s.sessionArgs])
      t.equal(v.code, 0, `${name} ${v.stderr}`)
    }
    const enc = s.pki.write('enc.pem', s.pki.leaf.key.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-128-cbc', passphrase: 'secret-pw' }))
    const encArgs = ['credential-process', '--certificate', s.pki.path('chain-leaf-first.pem'), '--private-key', enc, ...s.sessionArgs]
    t.equal((await runCli([...encArgs, '--pkcs8-password', 'secret-pw'])).code, 0, 'encrypted PKCS#8 with --pkcs8-password')
    t.equal((await runCli(encArgs, { password: 'secret-pw' })).code, 0, 'encrypted PKCS#8 with the prompt')
    const noTty = await runCli(encArgs)
    t.same([noTty.code, /KEY_PASSWORD_REQUIRED/.test(noTty.stderr)], [3, true], 'no password and no terminal')
    const d = await runCli(['credential-process', ...s.args, '--session-duration', '900', '--role-session-name', 'me'])
    const exp = Date.parse(String(parse(d.stdout).Expiration))
    t.ok(Math.abs(exp - Date.now() - 900_000) < 5_000, 'duration reaches the service')
  }
})

t.test('errors: codes, exit codes, one line, nothing sent for local problems', async (t) => {
  const s = await startScenario('p256')
  t.teardown(s.close)
  const before = s.fake.calls.length
  const other = await createLeaf({ name: 'other', key: 'p256', issuer: s.pki.intermediate })
  const cases: Array<[string, string[], number, RegExp]> = [
    ['no flags at all', [], 2, /--trust-anchor-arn is required; --profile-arn is required; --role-arn is required \[ARN_INVALID\]/],
    ['unknown flag', [...s.args, '--bogus'], 2, /Unknown option '--bogus'.*\[USAGE\]/],
    ['duration out of range', [...s.args, '--session-duration', '43201'], 2, /900 to 43200.*\[USAGE\]/],
    [
      'regions differ',
      [
        ...s.args.slice(0, -8),
        '--trust-anchor-arn',
        s.args[s.args.indexOf('--trust-anchor-arn') + 1]!.replace('us-east-1', 'eu-west-1'),
        '--profile-arn',
        s.args[s.args.indexOf('--profile-arn') + 1]!,
        '--role-arn',
        'arn:aws:iam::123456789012:role/x',
        '--endpoint',
        s.fake.url,
      ],
      2,
      /regions don't match \(eu-west-1 and us-east-1\) \[REGION_MISMATCH\]/,
    ],
    ['OS store selector', [...s.args, '--cert-selector', 'Key=x509Subject,Value=CN=x'], 2, /--certificate cannot be combined with --cert-selector/],
    ['OS store alone', ['--cert-selector', 'x', ...s.sessionArgs], 2, /which is not supported on Linux; .*\[UNSUPPORTED_ON_PLATFORM\]/],
    [
      'key does not match',
      ['--certificate', s.pki.path('leaf.pem'), '--private-key', s.pki.write('other.key', other.keyPem), ...s.sessionArgs],
      3,
      /other\.key matches none of the certificates.*\[KEY_CERT_MISMATCH\]/,
    ],
    [
      'missing certificate file',
      ['--certificate', '/nonexistent/c.pem', '--private-key', s.pki.path('key.pem'), ...s.sessionArgs],
      3,
      /\/nonexistent\/c\.pem: no such file \[CERT_UNREADABLE\]/,
    ],
    ['no certificate', ['--private-key', s.pki.path('key.pem'), ...s.sessionArgs], 2, /no certificate given/],
  ]
  for (const [name, args, code, msg] of cases) {
    const r = await runCli(['credential-process', ...args])
    t.equal(r.code, code, `${name}: exit ${code}`)
    t.match(r.stderr, msg, name)
    t.equal(r.stderr.trim().split('\n').length, 1, `${name}: one stderr line`)
    t.equal(r.stdout, '', `${name}: nothing on stdout`)
  }
  t.equal(s.fake.calls.length, before, 'no request reached the endpoint for any local problem')
})

t.test('the service refuses: untrusted CA, wrong region, tampered body, outage', async (t) => {
  const s = await startScenario('p256', { failures: [] })
  t.teardown(s.close)
  const stranger = await createCa({ name: 'stranger', key: 'p256' })
  const strangerLeaf = await createLeaf({ name: 'x', key: 'p256', issuer: stranger })
  const untrusted = await runCli([
    'credential-process',
    '--certificate',
    s.pki.write('s.pem', strangerLeaf.certPem),
    '--private-key',
    s.pki.write('s.key', strangerLeaf.keyPem),
    ...s.sessionArgs,
  ])
  t.same([untrusted.code, /AccessDeniedException: Untrusted Signing Certificate/.test(untrusted.stderr)], [4, true], untrusted.stderr)

  const wrongRegion = await runCli(['credential-process', ...s.args, '--region', 'eu-west-1'])
  t.equal(wrongRegion.code, 4, `signed for the wrong region: ${wrongRegion.stderr}`)

  // A man in the middle that changes the body after signing.
  const target = new URL(s.fake.url)
  const mitm = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.from(Buffer.concat(chunks).toString().replace('3600', '3601'))
      const fwd = request(
        { host: target.hostname, port: target.port, path: req.url, method: req.method, headers: { ...req.headers, 'content-length': String(body.length) } },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers)
          up.pipe(res)
        },
      )
      fwd.end(body)
    })
  })
  await new Promise<void>((r) => mitm.listen(0, '127.0.0.1', r))
  t.teardown(() => {
    mitm.closeAllConnections()
    mitm.close()
  })
  const mitmUrl = `http://127.0.0.1:${(mitm.address() as AddressInfo).port}`
  // The MITM keeps the Host header, so the signature covers the fake's host; only the body differs.
  const tampered = await runCli(['credential-process', ...s.args.slice(0, -1), mitmUrl])
  t.same([tampered.code, /Invalid signature/.test(tampered.stderr)], [4, true], `tampered body refused: ${tampered.stderr}`)

  s.fake.calls.length = 0
  const flaky = await startScenario('p256', {
    failures: [
      { status: 503, errorType: 'ServiceUnavailableException', message: 'down' },
      { status: 500, errorType: 'InternalServerException', message: 'oops' },
    ],
  })
  t.teardown(flaky.close)
  const recovered = await runCli(['credential-process', ...flaky.args])
  t.same([recovered.code, flaky.fake.calls.length], [0, 3], 'two server errors, then success on the third attempt')
  const down = await startScenario('p256', { failures: [1, 2, 3].map(() => ({ status: 503, errorType: 'ServiceUnavailableException', message: 'down' })) })
  t.teardown(down.close)
  const gaveUp = await runCli(['credential-process', ...down.args])
  t.same([gaveUp.code, down.fake.calls.length], [5, 3], 'exit 5 after three attempts')
  const unreachable = await runCli(['credential-process', ...s.args.slice(0, -1), 'http://127.0.0.1:1', '--timeout', '2'])
  t.same([unreachable.code, /UPSTREAM_NETWORK/.test(unreachable.stderr)], [5, true], unreachable.stderr)
})

t.test('--debug explains the request and never prints a secret', async (t) => {
  const s = await startScenario('rsa2048')
  t.teardown(s.close)
  const enc = s.pki.write('enc.pem', s.pki.leaf.key.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw-never-printed' }))
  const r = await runCli([
    'credential-process',
    '--debug',
    '--certificate',
    s.pki.path('chain-root-first.pem'),
    '--private-key',
    enc,
    '--pkcs8-password',
    'pw-never-printed',
    ...s.sessionArgs,
  ])
  t.equal(r.code, 0, r.stderr)
  const creds = parse(r.stdout)
  t.match(r.stderr, /debug: canonical request:\nPOST\n\/sessions\n/)
  t.match(r.stderr, /debug: leaf certificate: CN=iamra test client/)
  t.match(r.stderr, /AWS4-X509-RSA-SHA256/)
  for (const secret of [creds.SecretAccessKey, creds.SessionToken, 'pw-never-printed']) t.notOk(r.stderr.includes(String(secret)), 'secret absent from stderr')
  t.notOk(/BEGIN .*PRIVATE KEY/.test(r.stderr))
})

t.test('sign-string, read-certificate-data, version, help', async (t) => {
  const s = await startScenario('p384')
  t.teardown(s.close)
  const pub = createPublicKey(s.pki.leaf.key)
  const json = await runCli(['sign-string', '--private-key', s.pki.path('key.pem')])
  t.equal(json.code, 0)
  t.ok(
    verify('sha256', testStringFor(pub), pub, Buffer.from(JSON.parse(json.stdout) as string, 'hex')),
    'json: SHA-256 signature over the official test string',
  )
  const text = await runCli(['sign-string', '--private-key', s.pki.path('key.pem'), '--format', 'text', '--digest', 'SHA384'])
  t.ok(verify('sha384', testStringFor(pub), pub, Buffer.from(text.stdout, 'hex')), 'text + SHA384')
  const rsa = await startScenario('rsa2048')
  t.teardown(rsa.close)
  const rsaPub = createPublicKey(rsa.pki.leaf.key)
  const one = await runCli(['sign-string', '--private-key', rsa.pki.path('key.pem'), '--format', 'text'])
  const two = await runCli(['sign-string', '--private-key', rsa.pki.path('key.pem'), '--format', 'text'])
  t.equal(one.stdout, two.stdout, 'RSA signatures are deterministic')
  t.ok(verify('sha256', testStringFor(rsaPub), rsaPub, Buffer.from(one.stdout, 'hex')))
  const expected = Buffer.concat([
    Buffer.from('AWS Roles Anywhere Credential Helper Signing Test1'),
    createHash('sha256')
      .update('IAM RA')
      .update(rsaPub.export({ type: 'pkcs1', format: 'der' }))
      .digest(),
  ])
  t.same(testStringFor(rsaPub), expected, 'RSA public key as PKCS#1 RSAPublicKey DER')
  t.equal((await runCli(['sign-string', '--private-key', s.pki.path('key.pem'), '--format', 'xml'])).code, 2)

  const data = await runCli(['read-certificate-data', '--certificate', s.pki.path('chain-leaf-first.pem')])
  const d = parse(data.stdout)
  t.same(d, {
    keyType: 'EC',
    certificateData: s.pki.leaf.der.toString('base64'),
    serialNumber: BigInt(`0x${new X509Certificate(s.pki.leaf.der).serialNumber}`).toString(),
    supportedAlgorithms: ['ECSHA256', 'ECSHA384', 'ECSHA512'],
  })
  t.notOk(data.stdout.endsWith('\n'))
  t.match((await runCli(['version'])).stdout, /^\d+\.\d+\.\d+\n$/)
  t.match((await runCli(['credential-process', '--help'])).stdout, /--trust-anchor-arn ARN/)
  t.match((await runCli([])).stdout, /Exit codes: 0 ok/)
  t.equal((await runCli(['frobnicate'])).code, 2)
})

t.test('an endpoint with an escaped path prefix is signed as sent', async (t) => {
  const s = await startScenario('p256', { pathPrefix: '/proxy/caf%C3%A9%20x' })
  t.teardown(s.close)
  const r = await runCli(['credential-process', ...s.args.slice(0, -1), `${s.fake.url}/proxy/café x/`])
  t.equal(r.code, 0, r.stderr)
  t.equal(s.fake.calls.at(-1)?.status, 201)
})
