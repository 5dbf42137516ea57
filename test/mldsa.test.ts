// ML-DSA (AWS4-X509-MLDSA): known answers from OpenSSL 3.5, key forms, certificates from an RSA CA and an
// ML-DSA CA, round trips through the verifying fake endpoint, tampering, the other commands, cross-checks.
import t from 'tap'
import { execFile, spawnSync } from 'node:child_process'
import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ml_dsa44, ml_dsa65, ml_dsa87 } from '@noble/post-quantum/ml-dsa.js'
import { certificateFields, spkiKeyBits } from '../src/identity/certificate-fields.js'
import { tlv as derTlv } from '../src/identity/der.js'
import { assembleWithSigner } from '../src/identity/identity.js'
import { parseMlDsaPkcs8 } from '../src/identity/mldsa-private-key.js'
import { mlDsaSigner } from '../src/mldsa/signer.js'
import { createSession } from '../src/rolesanywhere/create-session.js'
import { resolveEndpoint } from '../src/rolesanywhere/endpoint.js'
import { createTransport } from '../src/rolesanywhere/transport.js'
import type { Signer } from '../src/signing/signer.js'
import { verifyWithCertKey } from '../src/testing/fake-endpoint/cert-keys.js'
import { startFakeEndpoint } from '../src/testing/fake-endpoint/server.js'
import { createMlDsaCertificate, type MlDsaKeyForm, type MlDsaTestCert } from '../src/testing/mldsa-pki.js'
import { createCa } from '../src/testing/pki.js'
import { buildApp } from '../src/server/app.js'
import { bindingCredentials } from '../src/server/binding-credentials.js'
import { KeyBackends } from '../src/keys/key-backends.js'
import { runCli } from './helpers/cli.js'
import { PROFILE_ARN, REGION, ROLE_ARN, TRUST_ANCHOR_ARN } from './helpers/scenario.js'

const NOBLE = { 44: ml_dsa44, 65: ml_dsa65, 87: ml_dsa87 } as const
const LEVELS = [44, 65, 87] as const
const FORMS: MlDsaKeyForm[] = ['seed', 'expanded', 'both']
const PREFIX = 'AWS Roles Anywhere Credential Helper Signing Test1'

interface Vector {
  level: 44 | 65 | 87
  seed: string
  opensslPkcs8: string
  spki: string
  opensslSignature: string
  deterministicSignature: string
}
const KAT = JSON.parse(readFileSync(new URL('./fixtures/kat/mldsa.json', import.meta.url), 'utf8')) as { message: string; vectors: Vector[] }

const dir = mkdtempSync(join(tmpdir(), 'iamra-mldsa-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
const write = (name: string, content: string | Buffer): string => {
  const p = join(dir, name)
  writeFileSync(p, content, { mode: 0o600 })
  return p
}
const octet = (b: Buffer): Buffer => derTlv(0x04, b)
const seqOf = (...b: Buffer[]): Buffer => derTlv(0x30, Buffer.concat(b))
const wrapPkcs8 = (oidByte: number, inner: Buffer): Buffer =>
  seqOf(Buffer.from('020100', 'hex'), seqOf(Buffer.from(`06096086480165030403${oidByte.toString(16)}`, 'hex')), octet(inner))
const pemOf = (label: string, der: Buffer): string => `-----BEGIN ${label}-----\n${der.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END ${label}-----\n`

t.test('known answers: OpenSSL 3.5 keys load, our deterministic signatures are the recorded ones', async (t) => {
  const message = Buffer.from(KAT.message, 'utf8')
  for (const v of KAT.vectors) {
    const spki = Buffer.from(v.spki, 'hex')
    const seed = Buffer.from(v.seed, 'hex')
    t.equal(
      Buffer.from(NOBLE[v.level].keygen(seed).publicKey).toString('hex'),
      spkiKeyBits(spki).toString('hex'),
      `ML-DSA-${v.level}: the library derives OpenSSL's public key from the seed`,
    )
    const key = await parseMlDsaPkcs8(Buffer.from(v.opensslPkcs8, 'hex'), 'kat')
    t.ok(key.matches(spki), `ML-DSA-${v.level}: OpenSSL's seed-form key recognises its public key`)
    t.notOk(key.matches(Buffer.from(KAT.vectors.find((o) => o.level !== v.level)!.spki, 'hex')), 'and no other')
    const sig = await mlDsaSigner(key).sign(message)
    t.equal(sig.toString('hex'), v.deterministicSignature, `ML-DSA-${v.level}: deterministic signature as recorded (OpenSSL verified it)`)
    // the same key in the expanded and both forms (no key generation on those paths)
    const expanded = Buffer.from(NOBLE[v.level].keygen(seed).secretKey)
    const oidByte = { 44: 0x11, 65: 0x12, 87: 0x13 }[v.level]
    const pkcs8 = (inner: Buffer): Buffer => wrapPkcs8(oidByte, inner)
    for (const [form, inner] of [
      ['expanded', octet(expanded)],
      ['both', seqOf(octet(seed), octet(expanded))],
    ] as const) {
      const k = await parseMlDsaPkcs8(pkcs8(inner), form)
      t.ok(k.matches(spki), `ML-DSA-${v.level} ${form}: recognises its public key through tr`)
      t.equal((await mlDsaSigner(k).sign(message)).toString('hex'), v.deterministicSignature, `ML-DSA-${v.level} ${form}: the same signature`)
    }
    const certKey = { type: 'ml-dsa' as const, level: v.level, spki: Buffer.from(v.spki, 'hex'), bits: spkiKeyBits(Buffer.from(v.spki, 'hex')) }
    t.ok(verifyWithCertKey(certKey, message, Buffer.from(v.opensslSignature, 'hex')), `ML-DSA-${v.level}: the fake endpoint accepts OpenSSL's signature`)
    const tampered = Buffer.from(v.opensslSignature, 'hex')
    tampered[100] = tampered[100]! ^ 1
    t.notOk(verifyWithCertKey(certKey, message, tampered), `ML-DSA-${v.level}: and refuses it with one bit flipped`)
    t.notOk(verifyWithCertKey(certKey, Buffer.concat([message, Buffer.from('x')]), sig), `ML-DSA-${v.level}: or over another message`)
  }
})

t.test('round trips: RSA CA and ML-DSA CAs, every level and key form, encrypted keys', async (t) => {
  const rsaRoot = await createCa({ name: 'rsa root', key: 'rsa2048' })
  const mlRoot = await createMlDsaCertificate({ name: 'ml-dsa root', level: 87, ca: true })
  const mlInt = await createMlDsaCertificate({ name: 'ml-dsa intermediate', level: 65, ca: true, issuer: mlRoot })
  const fake = await startFakeEndpoint({
    trustAnchors: [rsaRoot.certPem, mlRoot.certPem],
    region: REGION,
    trustAnchorArns: [TRUST_ANCHOR_ARN],
    profileArns: [PROFILE_ARN],
  })
  t.teardown(fake.close)
  const session = ['--trust-anchor-arn', TRUST_ANCHOR_ARN, '--profile-arn', PROFILE_ARN, '--role-arn', ROLE_ARN, '--endpoint', fake.url]
  for (const level of LEVELS) {
    const leaf = await createMlDsaCertificate({ name: `ml-dsa-${level} client`, level, issuer: rsaRoot })
    const cert = write(`leaf${level}.pem`, leaf.certPem)
    for (const form of FORMS) {
      const key = write(`key${level}-${form}.pem`, pemOf('PRIVATE KEY', leaf.pkcs8(form)))
      const r = await runCli(['credential-process', '--certificate', cert, '--private-key', key, ...session])
      t.equal(r.code, 0, `ML-DSA-${level} ${form}: ${r.stderr}`)
      t.equal(fake.calls.at(-1)?.status, 201)
    }
    const der = write(`key${level}.der`, leaf.pkcs8('seed'))
    t.equal((await runCli(['credential-process', '--certificate', cert, '--private-key', der, ...session])).code, 0, `ML-DSA-${level}: DER key file`)
    const enc = write(`enc${level}.pem`, leaf.encryptedPem(level === 65 ? 'both' : 'seed', 'pq-secret'))
    const e = await runCli(['credential-process', '--certificate', cert, '--private-key', enc, '--pkcs8-password', 'pq-secret', ...session])
    t.equal(e.code, 0, `ML-DSA-${level}: encrypted PKCS#8 ${e.stderr}`)
    const wrong = await runCli(['credential-process', '--certificate', cert, '--private-key', enc, '--pkcs8-password', 'nope', ...session])
    t.match([wrong.code, wrong.stderr], [3, /KEY_PASSWORD_WRONG/], `ML-DSA-${level}: wrong password`)
    t.notMatch(wrong.stderr, /nope|pq-secret/, 'no password in the message')
  }
  // an ML-DSA-87 root, an ML-DSA-65 intermediate, an ML-DSA-44 leaf; the chain is built and sent
  const leaf = await createMlDsaCertificate({ name: 'pq all the way', level: 44, issuer: mlInt })
  const combined = write('pq-chain.pem', mlRoot.certPem + leaf.certPem + mlInt.certPem)
  const r = await runCli(['credential-process', '--certificate', combined, '--private-key', write('pq-key.pem', leaf.keyPem), ...session])
  t.equal(r.code, 0, `ML-DSA chain: ${r.stderr}`)
  t.equal(fake.calls.at(-1)?.chainLength, 2, 'the chain through the ML-DSA intermediate to the root is built and sent')
  // an RSA CA's leaf presented to an endpoint that only trusts the ML-DSA root
  const only = await startFakeEndpoint({ trustAnchors: [mlRoot.certPem], region: REGION })
  t.teardown(only.close)
  const stranger = await createMlDsaCertificate({ name: 'stranger', level: 65, issuer: rsaRoot })
  const s = await runCli([
    'credential-process',
    '--certificate',
    write('stranger.pem', stranger.certPem),
    '--private-key',
    write('stranger.key', stranger.keyPem),
    ...session.slice(0, -1),
    only.url,
  ])
  t.match([s.code, s.stderr], [4, /Untrusted Signing Certificate/])
})

t.test('the fake endpoint refuses tampered and mislabelled ML-DSA signatures', async (t) => {
  const root = await createMlDsaCertificate({ name: 'root', level: 65, ca: true })
  const leaf = await createMlDsaCertificate({ name: 'leaf', level: 65, issuer: root })
  const fake = await startFakeEndpoint({ trustAnchors: [root.certPem], region: REGION })
  t.teardown(fake.close)
  const key = await parseMlDsaPkcs8(leaf.pkcs8('seed'), 'leaf')
  const real = mlDsaSigner(key)
  const deps = {
    transport: createTransport({ timeoutMs: 5000, verifyTls: true }),
    now: () => new Date(),
    sleep: async () => {},
    random: () => 0,
    userAgent: 'iamra-test',
  }
  const req = { trustAnchorArn: TRUST_ANCHOR_ARN, profileArn: PROFILE_ARN, roleArn: ROLE_ARN, durationSeconds: 900 }
  const call = (signer: Signer) =>
    createSession(
      req,
      assembleWithSigner([{ cert: leaf.cert, der: leaf.der, source: 'leaf' }], { matches: key.matches, signer, source: 'key' }, new Date()),
      resolveEndpoint({ region: REGION, endpoint: fake.url, env: {} }),
      deps,
    )
  await call(real)
  t.equal(fake.calls.at(-1)?.status, 201, 'the genuine signature passes')
  const flipped: Signer = {
    family: 'ML-DSA',
    sign: async (d) => {
      const s = await real.sign(d)
      s[7] = s[7]! ^ 0x10
      return s
    },
  }
  await t.rejects(call(flipped), { code: 'UPSTREAM_DENIED' })
  t.equal(fake.calls.at(-1)?.errorMessage, 'Invalid signature')
  const truncated: Signer = { family: 'ML-DSA', sign: async (d) => (await real.sign(d)).subarray(0, 100) }
  await t.rejects(call(truncated), { code: 'UPSTREAM_DENIED' })
  const mislabelled: Signer = { family: 'EC', sign: real.sign }
  await t.rejects(call(mislabelled), { code: 'UPSTREAM_DENIED' })
  t.match(fake.calls.at(-1)?.errorMessage, /does not match the certificate key type ml-dsa/)
})

t.test('sign-string, read-certificate-data, --debug, and refusals', async (t) => {
  const ca = await createCa({ name: 'ca', key: 'p256' })
  const leaf = await createMlDsaCertificate({ name: 'cli', level: 65, issuer: ca })
  const cert = write('cli.pem', leaf.certPem)
  const key = write('cli.key', pemOf('PRIVATE KEY', leaf.pkcs8('expanded')))
  const s = await runCli(['sign-string', '--private-key', key, '--format', 'text'])
  t.equal(s.code, 0, s.stderr)
  t.ok(NOBLE[65].verify(Buffer.from(s.stdout, 'hex'), Buffer.from(PREFIX), leaf.publicKey), 'signs the bare test string (no public-key digest), pure ML-DSA')
  t.equal(s.stdout, Buffer.from(NOBLE[65].sign(Buffer.from(PREFIX), leaf.secretKey, { extraEntropy: false })).toString('hex'), 'deterministically')
  const j = await runCli(['sign-string', '--private-key', key])
  t.equal(j.stdout, JSON.stringify(s.stdout), 'json by default')
  const rcd = await runCli(['read-certificate-data', '--certificate', cert])
  const data = JSON.parse(rcd.stdout) as Record<string, unknown>
  t.same([data.keyType, data.serialNumber, data.supportedAlgorithms], ['ML-DSA-65', BigInt(`0x${leaf.cert.serialNumber}`).toString(10), ['ML-DSA-65']])
  t.equal(data.certificateData, leaf.der.toString('base64'))
  const fake = await startFakeEndpoint({ trustAnchors: [ca.certPem], region: REGION })
  t.teardown(fake.close)
  const session = ['--trust-anchor-arn', TRUST_ANCHOR_ARN, '--profile-arn', PROFILE_ARN, '--role-arn', ROLE_ARN, '--endpoint', fake.url]
  const d = await runCli(['credential-process', '--certificate', cert, '--private-key', key, '--debug', ...session])
  t.equal(d.code, 0, d.stderr)
  t.match(d.stderr, /key: ML-DSA-65, algorithm AWS4-X509-MLDSA/)
  t.match(d.stderr, /string to sign:\nAWS4-X509-MLDSA\n/)
  t.notMatch(d.stderr, new RegExp(leaf.seed.toString('hex').slice(0, 16)), 'no key material in the debug output')
  const other = await createMlDsaCertificate({ name: 'other', level: 65, issuer: ca })
  const mismatch = await runCli(['credential-process', '--certificate', cert, '--private-key', write('other.key', other.keyPem), ...session])
  t.match([mismatch.code, mismatch.stderr], [3, /KEY_CERT_MISMATCH/])
  const otherLevel = await createMlDsaCertificate({ name: 'l44', level: 44, issuer: ca })
  const mixedDer = Buffer.from(leaf.pkcs8('both'))
  const mixed = write(
    'mixed.key',
    pemOf('PRIVATE KEY', Buffer.from(mixedDer.toString('hex').replace(leaf.seed.toString('hex'), otherLevel.seed.toString('hex')), 'hex')),
  )
  const m = await runCli(['credential-process', '--certificate', cert, '--private-key', mixed, ...session])
  t.match([m.code, m.stderr], [3, /do not belong together \[KEY_MALFORMED\]/])
  const short = write('short.key', pemOf('PRIVATE KEY', Buffer.from(leaf.pkcs8('seed').toString('hex').replace('04228020', '04218020').slice(0, -2), 'hex')))
  t.match((await runCli(['sign-string', '--private-key', short])).stderr, /KEY_MALFORMED/)
})

t.test('bind and serve with an ML-DSA key', async (t) => {
  const ca = await createCa({ name: 'bind ca', key: 'rsa2048' })
  const leaf = await createMlDsaCertificate({ name: 'bound', level: 87, issuer: ca })
  const fake = await startFakeEndpoint({ trustAnchors: [ca.certPem], region: REGION })
  t.teardown(fake.close)
  const run = join(dir, 'run')
  const b = await runCli([
    'bind',
    'pq',
    '--configuration-directory',
    run,
    '--certificate',
    write('bound.pem', leaf.certPem),
    '--private-key',
    write('bound.key', leaf.keyPem),
    '--trust-anchor-arn',
    TRUST_ANCHOR_ARN,
    '--profile-arn',
    PROFILE_ARN,
    '--role-arn',
    ROLE_ARN,
    '--endpoint',
    fake.url,
  ])
  t.equal(b.code, 0, b.stderr)
  const token = /AWS_CONTAINER_AUTHORIZATION_TOKEN=(\S+)/.exec(readFileSync(join(run, 'env/pq'), 'utf8'))?.[1] ?? ''
  const app = await buildApp({
    configurationDirectory: run,
    resolveCredentials: bindingCredentials({ env: {}, keys: new KeyBackends(), now: () => new Date(), random: Math.random }),
  })
  t.teardown(() => app.fastify.close())
  const res = await app.fastify.inject({ method: 'GET', url: '/ecs/credentials', headers: { authorization: token } })
  t.equal(res.statusCode, 200, res.body)
  t.same(
    fake.calls.map((c) => c.status),
    [201, 201],
    'validation at bind, then the server, both signed with ML-DSA-87',
  )
})

t.test('cross-check: python cryptography (OpenSSL 4) keys and verification', async (t) => {
  const probe = spawnSync('python3', ['-c', 'from cryptography.hazmat.primitives.asymmetric import mldsa; mldsa.MLDSA65PrivateKey'], { encoding: 'utf8' })
  if (probe.status !== 0) {
    t.pass('skipped: python3 with cryptography >= 48 (ML-DSA) is not installed', { skip: true })
    return
  }
  const script = `
import sys
from cryptography.hazmat.primitives import serialization as s
from cryptography.hazmat.primitives.asymmetric import mldsa
k = mldsa.MLDSA65PrivateKey.generate()
open(sys.argv[1] + '/py.key', 'wb').write(k.private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8, s.NoEncryption()))
open(sys.argv[1] + '/py-enc.key', 'wb').write(k.private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8, s.BestAvailableEncryption(b'py-pass')))
open(sys.argv[1] + '/py.pub', 'wb').write(k.public_key().public_bytes(s.Encoding.DER, s.PublicFormat.SubjectPublicKeyInfo))
`
  const gen = spawnSync('python3', ['-c', script, dir], { encoding: 'utf8' })
  t.equal(gen.status, 0, gen.stderr)
  const pub = readFileSync(join(dir, 'py.pub'))
  for (const [file, extra] of [
    ['py.key', []],
    ['py-enc.key', ['--pkcs8-password', 'py-pass']],
  ] as const) {
    const r = await runCli(['sign-string', '--private-key', join(dir, file), '--format', 'text', ...extra])
    t.equal(r.code, 0, `${file}: ${r.stderr}`)
    const check = spawnSync(
      'python3',
      [
        '-c',
        `
import sys
from cryptography.hazmat.primitives.serialization import load_der_public_key
load_der_public_key(open(sys.argv[1], 'rb').read()).verify(bytes.fromhex(sys.argv[2]), b'${PREFIX}')
print('ok')`,
        join(dir, 'py.pub'),
        r.stdout,
      ],
      { encoding: 'utf8' },
    )
    t.equal(check.stdout.trim(), 'ok', `${file}: pyca verifies iamra's signature ${check.stderr}`)
  }
  const key = await parseMlDsaPkcs8(Buffer.from(readFileSync(join(dir, 'py.key'), 'utf8').replace(/-----[^-]+-----|\s/g, ''), 'base64'), 'py')
  t.ok(key.matches(pub), 'the key recognises the public key pyca writes')
})

t.test('cross-check: a runtime with native ML-DSA (Node 24) verifies our signatures', async (t) => {
  let node: string | undefined = process.env.IAMRA_TEST_NODE24
  try {
    generateKeyPairSync('ml-dsa-44' as 'ed25519')
    node = process.execPath
  } catch {
    // this runtime has no ML-DSA
  }
  if (node === undefined) {
    t.pass('skipped: this Node has no ML-DSA; set IAMRA_TEST_NODE24 to a Node >= 24.6 binary to run this cross-check', { skip: true })
    return
  }
  for (const level of LEVELS) {
    const leaf: MlDsaTestCert = await createMlDsaCertificate({ name: 'n', level })
    const key = await parseMlDsaPkcs8(leaf.pkcs8('both'), 'n')
    const sig = await mlDsaSigner(key).sign(Buffer.from('hello'))
    const script =
      `const c=require('node:crypto');const k=c.createPublicKey({key:Buffer.from(process.argv[1],'hex'),format:'der',type:'spki'});` +
      `const x=new c.X509Certificate(Buffer.from(process.argv[3],'hex'));` +
      `process.stdout.write(String(c.verify(null,Buffer.from('hello'),k,Buffer.from(process.argv[2],'hex'))&&x.verify(x.publicKey)))`
    const out = await new Promise<string>((resolve) =>
      execFile(node!, ['-e', script, certificateFields(leaf.der).spki.toString('hex'), sig.toString('hex'), leaf.der.toString('hex')], (_e, so) => resolve(so)),
    )
    t.equal(out, 'true', `ML-DSA-${level}: OpenSSL verifies the signature and our self-signed certificate`)
  }
})
