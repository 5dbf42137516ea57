// TPM 2.0 keys through swtpm: TSS2 PRIVATE KEY files from tpm2-openssl, persistent handles and parents from
// tpm2-tools, passwords, every refusal, sign-string, update, IMDS serve, and a binding serving a real client.
import t from 'tap'
import { createPublicKey, randomBytes, verify } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { children, oid, parseOne, seq, tlv } from '../src/identity/der.js'
import { buildApp } from '../src/server/app.js'
import { bindingCredentials } from '../src/server/binding-credentials.js'
import { testStringFor } from '../src/cli/commands/sign-string.js'
import { TpmClient } from '../src/tpm/client.js'
import { parseDevice } from '../src/tpm/transport.js'
import { startFakeEndpoint } from '../src/testing/fake-endpoint/server.js'
import { certifyKey, createCa, type TestCert } from '../src/testing/pki.js'
import { runCli } from './helpers/cli.js'
import { freePort } from './helpers/processes.js'
import { PROFILE_ARN, REGION, ROLE_ARN, TRUST_ANCHOR_ARN } from './helpers/scenario.js'
import { haveJsSdk, isolatedEnv, JS_PROBE, runIsolated } from './helpers/server-process.js'
import { startSwtpm, swtpmMissing, type Swtpm } from './helpers/swtpm.js'
import { realRandom } from './helpers/runtime.js'
import { KeyBackends } from '../src/keys/key-backends.js'

t.test('TPM_RC_RETRY is retried, other codes are not (no TPM needed)', async (t) => {
  const answers = [0x922, 0x908, 0x922, 0]
  let sent = 0
  const reply = (rc: number): Buffer => {
    const b = Buffer.alloc(rc === 0 ? 10 + 2 + 4 : 10)
    b.writeUInt16BE(0x8001, 0)
    b.writeUInt32BE(b.length, 2)
    b.writeUInt32BE(rc, 6)
    if (rc === 0) b.writeUInt16BE(4, 10)
    return b
  }
  const client = new TpmClient({ send: async () => reply(answers[sent++] ?? 0x98e), close: async () => {} }, async () => {})
  t.same(await client.readPublic(0x81000001), Buffer.alloc(4).fill(0), 'answered after three retries')
  t.equal(sent, 4)
  const failing = new TpmClient(
    {
      send: async () => {
        sent++
        return reply(0x98e)
      },
      close: async () => {},
    },
    async () => {},
  )
  sent = 0
  await t.rejects(failing.sign(0x81000001, Buffer.from('pw'), Buffer.alloc(32), 0x18, 0x0b), { message: /TPM_RC_AUTH_FAIL \(0x98e\)/ })
  t.equal(sent, 1, 'an authorization failure is sent once, never again')
  const endless = new TpmClient(
    {
      send: async () => {
        sent++
        return reply(0x922)
      },
      close: async () => {},
    },
    async () => {},
  )
  sent = 0
  await t.rejects(endless.readPublic(0x81000001), { message: /TPM_RC_RETRY/ })
  t.ok(sent > 1 && sent <= 50, `bounded retries (${sent})`)
  t.same(parseDevice('swtpm:host=127.0.0.1,port=2321'), { kind: 'swtpm', host: '127.0.0.1', port: 2321 })
  t.same(parseDevice('swtpm'), { kind: 'swtpm', host: 'localhost', port: 2321 })
  t.same(parseDevice('device:/dev/tpm0'), { kind: 'device', path: '/dev/tpm0' })
  t.same(parseDevice('/dev/tpmrm0'), { kind: 'device', path: '/dev/tpmrm0' })
  t.throws(() => parseDevice('mssim:port=2321'), { code: 'USAGE' })
})

const missing = swtpmMissing()
if (missing !== undefined) t.skip(`TPM tests skipped: ${missing}`, async () => {})
else {
  let tpm: Swtpm
  let ca: TestCert
  let fake: Awaited<ReturnType<typeof startFakeEndpoint>>
  let session: string[]
  const env = (): Record<string, string> => ({ TPM_DEVICE: tpm.device })
  const path = (name: string): string => join(tpm.dir, name)
  /** A certificate from the test CA for the public key OpenSSL (tpm2 provider) reads from a key file. */
  const certify = async (name: string, publicKeyPem: string): Promise<string> => {
    const c = await certifyKey({ name, issuer: ca, publicKey: createPublicKey(publicKeyPem) })
    writeFileSync(path(`${name}.crt`), c.certPem)
    return path(`${name}.crt`)
  }
  const opensslPublic = (file: string, ...passin: string[]): Promise<string> =>
    tpm.run('openssl', ['pkey', '-provider', 'tpm2', '-provider', 'default', '-in', file, ...passin, '-pubout'])
  const cp = (cert: string, key: string, ...extra: string[]) =>
    runCli(['credential-process', '--certificate', cert, '--private-key', key, ...extra, ...session], { env: env() })

  t.before(async () => {
    tpm = await startSwtpm()
    ca = await createCa({ name: 'tpm test CA', key: 'p256' })
    fake = await startFakeEndpoint({ trustAnchors: [ca.certPem], region: REGION, trustAnchorArns: [TRUST_ANCHOR_ARN], profileArns: [PROFILE_ARN] })
    session = ['--trust-anchor-arn', TRUST_ANCHOR_ARN, '--profile-arn', PROFILE_ARN, '--role-arn', ROLE_ARN, '--endpoint', fake.url]
    const gen = (out: string, ...opts: string[]) => tpm.run('openssl', ['genpkey', '-provider', 'tpm2', '-provider', 'default', ...opts, '-out', path(out)])
    await gen('ec.tss', '-algorithm', 'EC', '-pkeyopt', 'group:P-256')
    await gen('rsa.tss', '-algorithm', 'RSA', '-pkeyopt', 'bits:2048')
    await gen('ec384.tss', '-algorithm', 'EC', '-pkeyopt', 'group:P-384')
    await gen('ecpw.tss', '-algorithm', 'EC', '-pkeyopt', 'group:P-256', '-pkeyopt', 'user-auth:tpm-secret')
    // tpm2-tools: a persistent storage key with the official helper's SRK template, keys below it made persistent
    await tpm.run('tpm2_createprimary', [
      '-C',
      'o',
      '-g',
      'sha256',
      '-G',
      'ecc256:null:aes128cfb',
      '-a',
      'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|noda|restricted|decrypt',
      '-c',
      'srk.ctx',
    ])
    await tpm.run('tpm2_evictcontrol', ['-C', 'o', '-c', 'srk.ctx', '0x81000001'])
    await tpm.run('tpm2_flushcontext', ['-t'])
    await gen('under-srk.tss', '-algorithm', 'EC', '-pkeyopt', 'group:P-256', '-pkeyopt', 'parent:0x81000001')
    const persist = async (name: string, handle: string, ...opts: string[]) => {
      await tpm.run('tpm2_create', ['-C', '0x81000001', ...opts, '-u', `${name}.pub`, '-r', `${name}.priv`])
      await tpm.run('tpm2_load', ['-C', '0x81000001', '-u', `${name}.pub`, '-r', `${name}.priv`, '-c', `${name}.ctx`])
      await tpm.run('tpm2_evictcontrol', ['-C', 'o', '-c', `${name}.ctx`, handle])
      await tpm.run('tpm2_readpublic', ['-c', handle, '-f', 'pem', '-o', `${name}.pem`])
      await tpm.run('tpm2_flushcontext', ['-t']) // no resource manager in front of swtpm: free the object slots
    }
    await persist('hpw', '0x81000010', '-G', 'ecc256', '-p', 'tools-secret', '-a', 'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign')
    await persist('hrsa', '0x81000011', '-G', 'rsa2048', '-a', 'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign')
    writeFileSync(path('policy.dat'), randomBytes(32))
    await persist('hpolicy', '0x81000012', '-G', 'ecc256', '-L', 'policy.dat', '-a', 'fixedtpm|fixedparent|sensitivedataorigin|sign')
    // certificates from the test CA for the public keys as OpenSSL and tpm2-tools read them (not as iamra does)
    for (const name of ['rsa', 'ec', 'ec384', 'under-srk']) await certify(name, await opensslPublic(path(`${name}.tss`)))
    await certify('ecpw', await opensslPublic(path('ecpw.tss'), '-passin', 'pass:tpm-secret'))
    for (const name of ['hpw', 'hrsa']) await certify(name, readFileSync(path(`${name}.pem`), 'utf8'))
  })
  t.teardown(async () => {
    await fake?.close()
    await tpm?.stop()
  })

  t.test('tpm2-openssl key files: public keys as OpenSSL reads them, round trips for RSA, P-256, P-384', async (t) => {
    for (const name of ['rsa', 'ec', 'ec384']) {
      const cert = path(`${name}.crt`)
      const before = fake.calls.length
      const r = await cp(cert, path(`${name}.tss`))
      t.equal(r.code, 0, `${name}: ${r.stderr}`)
      t.match(r.stdout, /"AccessKeyId":"ASIA/)
      t.same([fake.calls.length - before, fake.calls.at(-1)?.status], [1, 201], `${name}: one CreateSession, accepted`)
    }
    const d = await cp(path('ec.crt'), path('ec.tss'), '--debug')
    t.match(d.stderr, /key: EC P-256, algorithm AWS4-X509-ECDSA-SHA256/)
  })

  t.test('passwords: flag, prompt, none, wrong (never retried), emptyAuth', async (t) => {
    const cert = path('ecpw.crt')
    t.equal((await cp(cert, path('ecpw.tss'), '--tpm-key-password', 'tpm-secret')).code, 0, '--tpm-key-password')
    const prompted = await runCli(['credential-process', '--certificate', cert, '--private-key', path('ecpw.tss'), ...session], {
      env: env(),
      password: 'tpm-secret',
    })
    t.equal(prompted.code, 0, `asked on the terminal ${prompted.stderr}`)
    const before = fake.calls.length
    const wrong = await cp(cert, path('ecpw.tss'), '--tpm-key-password', 'not-it')
    t.match([wrong.code, wrong.stderr], [3, /TPM_RC_AUTH_FAIL.*does not retry.*\[KEY_PASSWORD_WRONG\]/])
    t.notMatch(wrong.stderr, /not-it|tpm-secret/, 'no password in the message')
    t.equal(fake.calls.length, before, 'nothing sent')
    const none = await cp(cert, path('ecpw.tss'))
    t.match([none.code, none.stderr], [3, /\[KEY_PASSWORD_REQUIRED\]/], 'no password and no terminal')
    const empty = await cp(cert, path('ecpw.tss'), '--no-tpm-key-password')
    t.match([empty.code, empty.stderr], [3, /\[KEY_PASSWORD_WRONG\]/], '--no-tpm-key-password on a key that has one')
    const emptyAuth = await cp(path('ec.crt'), path('ec.tss'), '--tpm-key-password', 'ignored')
    t.equal(emptyAuth.code, 0, 'emptyAuth keys need no password, whatever is given')
    const both = await cp(cert, path('ecpw.tss'), '--tpm-key-password', 'x', '--pkcs8-password', 'y')
    t.match([both.code, both.stderr], [2, /--tpm-key-password cannot be combined with --pkcs8-password/])
  })

  t.test('tpm2-tools: a key file under a persistent parent, persistent handles with and without a password', async (t) => {
    const under = await cp(path('under-srk.crt'), path('under-srk.tss'))
    t.equal(under.code, 0, `parent 0x81000001 ${under.stderr}`)
    const hpw = path('hpw.crt')
    t.equal((await cp(hpw, 'handle:0x81000010', '--tpm-key-password', 'tools-secret')).code, 0, 'handle:0x81000010 with its password')
    t.match((await cp(hpw, 'handle:0x81000010')).stderr, /\[KEY_PASSWORD_REQUIRED\]/, 'a handle has no emptyAuth flag: a password source is needed')
    const hrsa = path('hrsa.crt')
    const r = await cp(hrsa, 'handle:0x81000011', '--no-tpm-key-password')
    t.equal(r.code, 0, `handle:0x81000011 RSA, no password ${r.stderr}`)
    const cacheDir = path('cache')
    const before = fake.calls.length
    for (let i = 0; i < 2; i++)
      t.equal((await cp(hrsa, 'handle:0x81000011', '--no-tpm-key-password', '--cache', '--cache-dir', cacheDir)).code, 0, `--cache with a handle, run ${i + 1}`)
    t.equal(fake.calls.length - before, 1, 'the second run is served from the cache')
  })

  t.test('sign-string with TPM keys', async (t) => {
    for (const [key, extra, pem, digest] of [
      [path('ec.tss'), [], await opensslPublic(path('ec.tss')), 'sha256'],
      ['handle:0x81000011', ['--no-tpm-key-password', '--digest', 'SHA384'], readFileSync(path('hrsa.pem'), 'utf8'), 'sha384'],
      ['handle:0x81000010', ['--tpm-key-password', 'tools-secret', '--digest', 'SHA512'], readFileSync(path('hpw.pem'), 'utf8'), 'sha512'],
    ] as const) {
      const r = await runCli(['sign-string', '--private-key', key, '--format', 'text', ...extra], { env: env() })
      t.equal(r.code, 0, `${key} ${r.stderr}`)
      const pub = createPublicKey(pem)
      t.ok(verify(digest, testStringFor(pub), pub, Buffer.from(r.stdout, 'hex')), `${key}: ${digest} signature verifies`)
    }
  })

  t.test('refusals: absent handles, no TPM, policies, sealed and foreign key files', async (t) => {
    const cert = path('ec.crt')
    const expect = async (label: string, args: Promise<{ code: number; stderr: string }>, code: number, pattern: RegExp) => {
      const r = await args
      t.match([r.code, r.stderr], [code, pattern], label)
    }
    await expect('absent handle', cp(cert, 'handle:0x81000099', '--no-tpm-key-password'), 3, /not in the TPM.*\[TPM_KEY_NOT_FOUND\]/)
    await expect('not a persistent handle', cp(cert, 'handle:0x40000001'), 2, /persistent handle.*\[USAGE\]/)
    const closed = await freePort()
    await expect(
      'no TPM listening',
      runCli(['credential-process', '--certificate', cert, '--private-key', path('ec.tss'), ...session], {
        env: { TPM_DEVICE: `swtpm:host=127.0.0.1,port=${closed}` },
      }),
      3,
      /cannot reach the software TPM.*ECONNREFUSED.*\[TPM_UNAVAILABLE\]/,
    )
    await expect(
      'no such device',
      runCli(['credential-process', '--certificate', cert, '--private-key', 'handle:0x81000001', ...session], { env: { TPM_DEVICE: path('no-such-tpm') } }),
      3,
      /cannot open the TPM.*no such device.*\[TPM_UNAVAILABLE\]/,
    )
    await expect('policy-only handle', cp(cert, 'handle:0x81000012', '--no-tpm-key-password'), 3, /policy.*not supported.*\[KEY_UNSUPPORTED\]/)
    // TSS2 files with a policy, of the sealed-data type, or whose private part does not belong to this TPM
    const der = Buffer.from(readFileSync(path('ec.tss'), 'utf8').replace(/-----[^-]+-----|\s/g, ''), 'base64')
    const f = children(parseOne(der))
    const pem = (d: Buffer) => `-----BEGIN TSS2 PRIVATE KEY-----\n${d.toString('base64')}\n-----END TSS2 PRIVATE KEY-----\n`
    const withPolicy = seq(
      f[0]!.raw,
      f[1]!.raw,
      tlv(0xa1, seq(seq(tlv(0xa0, tlv(0x02, Buffer.from([0x01, 0x6b]))), tlv(0xa1, tlv(0x04, randomBytes(8)))))),
      ...f.slice(2).map((x) => x.raw),
    )
    writeFileSync(path('policy.tss'), pem(withPolicy))
    await expect('policy in the key file', cp(cert, path('policy.tss')), 3, /sealed to a policy.*\[KEY_UNSUPPORTED\]/)
    writeFileSync(path('sealed.tss'), pem(seq(oid('2.23.133.10.1.5'), ...f.slice(1).map((x) => x.raw))))
    await expect('sealed data', cp(cert, path('sealed.tss')), 3, /sealed data.*\[KEY_UNSUPPORTED\]/)
    const priv = Buffer.from(f.at(-1)!.value)
    priv[priv.length - 5] = priv[priv.length - 5]! ^ 0xff
    writeFileSync(path('foreign.tss'), pem(seq(...f.slice(0, -1).map((x) => x.raw), tlv(0x04, priv))))
    await expect('a private part this TPM did not make', cp(cert, path('foreign.tss')), 3, /cannot load this key.*another TPM.*\[TPM_FAILED\]/)
    await expect('key and certificate do not match', cp(path('rsa.crt'), path('ec.tss')), 3, /\[KEY_CERT_MISMATCH\]/)
  })

  t.test('update and IMDS serve with a TPM key', async (t) => {
    const home = path('home')
    const u = await runCli(['update', '--once', '--certificate', path('ec.crt'), '--private-key', path('ec.tss'), ...session], {
      env: { ...env(), HOME: home },
    })
    t.equal(u.code, 0, u.stderr)
    t.match(readFileSync(join(home, '.aws/credentials'), 'utf8'), /aws_access_key_id = ASIA/)
    const port = await freePort()
    const stop = new AbortController()
    const { main } = await import('../src/cli/main.js')
    let stderr = ''
    const served = main(
      ['serve', '--certificate', path('ecpw.crt'), '--private-key', path('ecpw.tss'), '--tpm-key-password', 'tpm-secret', '--port', String(port), ...session],
      {
        env: env(),
        stdout: () => {},
        stderr: (l) => {
          stderr += l
        },
        now: () => new Date(),
        ...realRandom,
        promptPassword: async () => undefined,
        stopSignal: stop.signal,
      },
    )
    let token = ''
    for (let i = 0; i < 100 && token === ''; i++) {
      await new Promise((r) => setTimeout(r, 50))
      token = await fetch(`http://127.0.0.1:${port}/latest/api/token`, { method: 'PUT', headers: { 'x-aws-ec2-metadata-token-ttl-seconds': '60' } }).then(
        (r) => r.text(),
        () => '',
      )
    }
    const role = await fetch(`http://127.0.0.1:${port}/latest/meta-data/iam/security-credentials/`, { headers: { 'x-aws-ec2-metadata-token': token } }).then(
      (r) => r.text(),
    )
    const creds = await fetch(`http://127.0.0.1:${port}/latest/meta-data/iam/security-credentials/${role}`, { headers: { 'x-aws-ec2-metadata-token': token } })
    t.equal(creds.status, 200, `IMDS credentials signed by the TPM ${stderr}`)
    t.match(await creds.text(), /"AccessKeyId":"ASIA/)
    stop.abort()
    await served
  })

  t.test('bind and serve: a binding on a TPM key, its password from a file, serving the AWS SDK for JavaScript', async (t) => {
    const dir = path('run')
    const pwFile = path('tpm.pw')
    writeFileSync(pwFile, 'tpm-secret\n', { mode: 0o600 })
    const bind = (...extra: string[]) =>
      runCli(['bind', 'tpmapp', '--configuration-directory', dir, '--certificate', path('ecpw.crt'), '--private-key', path('ecpw.tss'), ...session, ...extra], {
        env: env(),
      })
    t.match((await bind('--tpm-key-password', 'tpm-secret')).stderr, /must not hold a TPM key password/, 'no password in a binding')
    t.match((await bind()).stderr, /server cannot ask for it: pass --tpm-key-password-file/, 'a password source is required')
    t.match((await bind('--tpm-key-password-file', 'tpm.pw')).stderr, /must be an absolute path/)
    const ok = await bind('--tpm-key-password-file', pwFile)
    t.equal(ok.code, 0, ok.stderr)
    const json = readFileSync(join(dir, 'bindings/tpmapp.json'), 'utf8')
    t.notMatch(json, /tpm-secret/, 'the binding holds the file name, not the password')
    t.match(json, /"tpm_key_password_file"/)
    const h = await runCli(
      [
        'bind',
        'tpmhandle',
        '--configuration-directory',
        dir,
        '--certificate',
        path('hrsa.crt'),
        '--private-key',
        'handle:0x81000011',
        '--no-tpm-key-password',
        ...session,
      ],
      { env: env() },
    )
    t.equal(h.code, 0, `a handle binding ${h.stderr}`)
    t.match(readFileSync(join(dir, 'bindings/tpmhandle.json'), 'utf8'), /"private_key_file": "handle:0x81000011"/, 'the handle is kept as written')

    const app = await buildApp({
      configurationDirectory: dir,
      resolveCredentials: bindingCredentials({
        env: env(),
        keys: new KeyBackends({ tpmDevice: env().TPM_DEVICE }),
        now: () => new Date(),
        random: Math.random,
      }),
    })
    t.teardown(() => app.fastify.close())
    await app.fastify.listen({ host: '127.0.0.1', port: 0 })
    const port = (app.fastify.server.address() as { port: number }).port
    const tokenOf = (name: string) => /AWS_CONTAINER_AUTHORIZATION_TOKEN=(\S+)/.exec(readFileSync(join(dir, `env/${name}`), 'utf8'))?.[1] ?? ''
    for (const name of ['tpmapp', 'tpmhandle']) {
      const res = await app.fastify.inject({ method: 'GET', url: '/ecs/credentials', headers: { authorization: tokenOf(name) } })
      t.equal(res.statusCode, 200, `${name}: ${res.statusCode === 200 ? 'signed in the TPM' : res.body}`)
    }
    if (!haveJsSdk()) {
      t.pass('skipped: the AWS SDK for JavaScript (devDependency) is not installed', { skip: true })
      return
    }
    const vars = { AWS_CONTAINER_CREDENTIALS_FULL_URI: `http://127.0.0.1:${port}/ecs/credentials`, AWS_CONTAINER_AUTHORIZATION_TOKEN: tokenOf('tpmapp') }
    const r = await runIsolated(process.execPath, [JS_PROBE, 'http'], isolatedEnv(path('home'), vars))
    t.equal(r.code, 0, r.stdout + r.stderr)
    t.match(r.json[0], { provider: 'http', ok: true, hasSecret: true, hasToken: true })
  })
}
