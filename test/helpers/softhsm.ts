// Throw-away SoftHSM2 tokens in a temp dir (a private SOFTHSM2_CONF, never the system store):
// keys generated on the token, certificates for them issued by the test PKI's intermediate.
import 'reflect-metadata'
import { execFileSync } from 'node:child_process'
import { createPublicKey, generateKeyPairSync, X509Certificate, webcrypto, type KeyObject } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as x509 from '@peculiar/x509'
import type * as P from 'pkcs11js'
import type { TestCert } from '../../src/testing/pki.js'

export const SOFTHSM_MODULE = '/usr/lib/softhsm/libsofthsm2.so'
export const SO_PIN = '12345678'

export interface KeySpecOnToken {
  readonly label: string
  readonly id: number
  readonly spec: 'rsa2048' | 'p256' | 'p384'
  readonly alwaysAuth?: boolean
  /** Made in software and written as a private-key object only (as `pkcs11-tool --write-object … --type privkey`): no public-key object, no CKA_EC_POINT. */
  readonly imported?: boolean
  /** Where its certificate goes: on the token (label `<label>-cert`), only in a file, or nowhere. */
  readonly cert: 'token' | 'file' | 'none'
}

export interface TokenSpec {
  readonly label: string
  readonly pin: string
  readonly keys: readonly KeySpecOnToken[]
  /** CA certificates to store on the token as well (label, id, cert). */
  readonly extraCerts?: ReadonlyArray<readonly [string, number, TestCert]>
}

export interface SoftHsm {
  readonly dir: string
  readonly conf: string
  /** Certificates issued for token keys, by key label: PEM file path and parsed cert. */
  readonly certs: ReadonlyMap<string, { readonly path: string; readonly cert: X509Certificate; readonly publicKey: KeyObject }>
  cleanup(): void
}

/** Why SoftHSM tests cannot run here, or undefined when they can. */
export function softHsmMissing(): string | undefined {
  try {
    execFileSync('softhsm2-util', ['--version'], { stdio: 'ignore' })
  } catch {
    return 'softhsm2 not installed'
  }
  return existsSync(SOFTHSM_MODULE) ? undefined : `${SOFTHSM_MODULE} missing`
}

const CURVE_OID: Record<string, string> = { p256: '06082a8648ce3d030107', p384: '06052b81040022' }

/** Builds the tokens; sets process.env.SOFTHSM2_CONF (SoftHSM reads it at C_Initialize). */
export async function makeSoftHsm(issuer: TestCert, tokens: readonly TokenSpec[]): Promise<SoftHsm> {
  const dir = mkdtempSync(join(tmpdir(), 'iamra-softhsm-'))
  mkdirSync(join(dir, 'tokens'))
  const conf = join(dir, 'softhsm2.conf')
  writeFileSync(conf, `directories.tokendir = ${dir}/tokens\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`)
  process.env.SOFTHSM2_CONF = conf
  for (const t of tokens) {
    execFileSync('softhsm2-util', ['--init-token', '--free', '--label', t.label, '--so-pin', SO_PIN, '--pin', t.pin], {
      stdio: 'ignore',
      env: { ...process.env, SOFTHSM2_CONF: conf },
    })
  }
  const js = createRequire(import.meta.url)('pkcs11js') as typeof P
  const lib = new js.PKCS11()
  lib.load(SOFTHSM_MODULE)
  lib.C_Initialize()
  const certs = new Map<string, { path: string; cert: X509Certificate; publicKey: KeyObject }>()
  try {
    for (const t of tokens) {
      const slot = lib.C_GetSlotList(true).find((s) => lib.C_GetTokenInfo(s).label.trim() === t.label)
      if (slot === undefined) throw new Error(`token ${t.label} not found after init`)
      const session = lib.C_OpenSession(slot, js.CKF_SERIAL_SESSION | js.CKF_RW_SESSION)
      lib.C_Login(session, js.CKU_USER, t.pin)
      const putCert = (label: string, id: number, cert: x509.X509Certificate): void => {
        lib.C_CreateObject(session, [
          { type: js.CKA_CLASS, value: js.CKO_CERTIFICATE },
          { type: js.CKA_CERTIFICATE_TYPE, value: js.CKC_X_509 },
          { type: js.CKA_TOKEN, value: true },
          { type: js.CKA_PRIVATE, value: false },
          { type: js.CKA_LABEL, value: label },
          { type: js.CKA_ID, value: Buffer.from([id]) },
          { type: js.CKA_VALUE, value: Buffer.from(cert.rawData) },
          { type: js.CKA_SUBJECT, value: Buffer.from(cert.subjectName.toArrayBuffer()) },
        ])
      }
      for (const k of t.keys) {
        const common = [
          { type: js.CKA_TOKEN, value: true },
          { type: js.CKA_ID, value: Buffer.from([k.id]) },
          { type: js.CKA_LABEL, value: k.label },
        ]
        const rsa = k.spec === 'rsa2048'
        if (k.imported === true) {
          const publicKey = importKey(lib, js, session, k)
          if (k.cert === 'none') continue
          const cert = await issue(issuer, publicKey, k)
          const path = join(dir, `${k.label}.pem`)
          writeFileSync(path, `${cert.toString('pem')}\n`)
          certs.set(k.label, { path, cert: new X509Certificate(Buffer.from(cert.rawData)), publicKey })
          if (k.cert === 'token') putCert(`${k.label}-cert`, k.id, cert)
          continue
        }
        const pair = lib.C_GenerateKeyPair(
          session,
          { mechanism: rsa ? js.CKM_RSA_PKCS_KEY_PAIR_GEN : js.CKM_EC_KEY_PAIR_GEN },
          [
            ...common,
            { type: js.CKA_VERIFY, value: true },
            ...(rsa
              ? [
                  { type: js.CKA_MODULUS_BITS, value: 2048 },
                  { type: js.CKA_PUBLIC_EXPONENT, value: Buffer.from([1, 0, 1]) },
                ]
              : [{ type: js.CKA_EC_PARAMS, value: Buffer.from(CURVE_OID[k.spec]!, 'hex') }]),
          ],
          [
            ...common,
            { type: js.CKA_SIGN, value: true },
            { type: js.CKA_PRIVATE, value: true },
            { type: js.CKA_SENSITIVE, value: true },
            ...(k.alwaysAuth === true ? [{ type: js.CKA_ALWAYS_AUTHENTICATE, value: true }] : []),
          ],
        )
        const publicKey = rsa
          ? createPublicKey({ key: { kty: 'RSA', n: attr(lib, session, pair.publicKey, js.CKA_MODULUS).toString('base64url'), e: 'AQAB' }, format: 'jwk' })
          : ecKey(k.spec, attr(lib, session, pair.publicKey, js.CKA_EC_POINT))
        if (k.cert === 'none') continue
        const cert = await issue(issuer, publicKey, k)
        const path = join(dir, `${k.label}.pem`)
        writeFileSync(path, `${cert.toString('pem')}\n`)
        certs.set(k.label, { path, cert: new X509Certificate(Buffer.from(cert.rawData)), publicKey })
        if (k.cert === 'token') putCert(`${k.label}-cert`, k.id, cert)
      }
      for (const [label, id, ca] of t.extraCerts ?? []) putCert(label, id, new x509.X509Certificate(ca.der))
      lib.C_Logout(session)
      lib.C_CloseSession(session)
    }
  } finally {
    lib.C_Finalize()
    lib.close()
  }
  return { dir, conf, certs, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

/** Writes a software-made key as a lone CKO_PRIVATE_KEY (RSA keeps CKA_PUBLIC_EXPONENT, SoftHSM cannot sign without it); returns its public key. */
function importKey(lib: P.PKCS11, js: typeof P, session: Buffer, k: KeySpecOnToken): KeyObject {
  const rsa = k.spec === 'rsa2048'
  const { privateKey, publicKey } = rsa
    ? generateKeyPairSync('rsa', { modulusLength: 2048 })
    : generateKeyPairSync('ec', { namedCurve: k.spec === 'p256' ? 'P-256' : 'P-384' })
  const jwk = privateKey.export({ format: 'jwk' })
  const b = (v: string | undefined): Buffer => Buffer.from(v ?? '', 'base64url')
  lib.C_CreateObject(session, [
    { type: js.CKA_CLASS, value: js.CKO_PRIVATE_KEY },
    { type: js.CKA_TOKEN, value: true },
    { type: js.CKA_ID, value: Buffer.from([k.id]) },
    { type: js.CKA_LABEL, value: k.label },
    { type: js.CKA_SIGN, value: true },
    { type: js.CKA_PRIVATE, value: true },
    { type: js.CKA_SENSITIVE, value: true },
    ...(k.alwaysAuth === true ? [{ type: js.CKA_ALWAYS_AUTHENTICATE, value: true }] : []),
    ...(rsa
      ? [
          { type: js.CKA_KEY_TYPE, value: js.CKK_RSA },
          { type: js.CKA_MODULUS, value: b(jwk.n) },
          { type: js.CKA_PUBLIC_EXPONENT, value: b(jwk.e) },
          { type: js.CKA_PRIVATE_EXPONENT, value: b(jwk.d) },
          { type: js.CKA_PRIME_1, value: b(jwk.p) },
          { type: js.CKA_PRIME_2, value: b(jwk.q) },
          { type: js.CKA_EXPONENT_1, value: b(jwk.dp) },
          { type: js.CKA_EXPONENT_2, value: b(jwk.dq) },
          { type: js.CKA_COEFFICIENT, value: b(jwk.qi) },
        ]
      : [
          { type: js.CKA_KEY_TYPE, value: js.CKK_EC },
          { type: js.CKA_EC_PARAMS, value: Buffer.from(CURVE_OID[k.spec]!, 'hex') },
          { type: js.CKA_VALUE, value: b(jwk.d) },
        ]),
  ])
  return publicKey
}

function attr(lib: P.PKCS11, session: Buffer, handle: Buffer, type: number): Buffer {
  const v = lib.C_GetAttributeValue(session, handle, [{ type }])[0]?.value
  if (v === undefined) throw new Error(`attribute ${type} missing`)
  return v
}

function ecKey(spec: string, point: Buffer): KeyObject {
  const raw = point.subarray(2) // DER OCTET STRING header (short form for P-256 and P-384)
  const size = (raw.length - 1) / 2
  const crv = spec === 'p256' ? 'P-256' : 'P-384'
  return createPublicKey({
    key: { kty: 'EC', crv, x: raw.subarray(1, 1 + size).toString('base64url'), y: raw.subarray(1 + size).toString('base64url') },
    format: 'jwk',
  })
}

async function issue(issuer: TestCert, publicKey: KeyObject, k: KeySpecOnToken): Promise<x509.X509Certificate> {
  const alg = k.spec === 'rsa2048' ? { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } : { name: 'ECDSA', namedCurve: k.spec === 'p256' ? 'P-256' : 'P-384' }
  const subtle = webcrypto.subtle as webcrypto.SubtleCrypto
  const pub = await subtle.importKey('spki', publicKey.export({ type: 'spki', format: 'der' }), alg, true, ['verify'])
  return x509.X509CertificateGenerator.create({
    serialNumber: `01${Buffer.from(webcrypto.getRandomValues(new Uint8Array(15))).toString('hex')}`,
    subject: `CN=${k.label}, O=iamra test`,
    issuer: issuer.subject,
    notBefore: new Date(Date.now() - 3_600_000),
    notAfter: new Date(Date.now() + 30 * 86_400_000),
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    publicKey: pub,
    signingKey: issuer.cryptoKeys.privateKey,
    extensions: [new x509.BasicConstraintsExtension(false, undefined, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true)],
  })
}
