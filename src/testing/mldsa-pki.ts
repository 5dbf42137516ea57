/**
 * ML-DSA certificates for the throw-away test PKI: @peculiar/x509 signs through WebCrypto, which
 * has no ML-DSA on Node 20, so these are assembled here: an RSA or EC test CA issuing an ML-DSA
 * leaf, an ML-DSA CA, and ML-DSA keys in the three PKCS#8 forms, plain or encrypted (PBES2).
 * Never for production use.
 */
import 'reflect-metadata'
import { createCipheriv, createHash, pbkdf2Sync, sign, X509Certificate } from 'node:crypto'
import * as x509 from '@peculiar/x509'
import { ml_dsa44, ml_dsa65, ml_dsa87 } from '@noble/post-quantum/ml-dsa.js'
import { certificateFields, spkiKeyBits } from '../identity/certificate-fields.js'
import { bitString, octets, oid, seq, tlv, uint } from '../identity/der.js'
import type { TestCert } from './pki.js'
import { kitRuntime, type KitRuntime } from './kit-runtime.js'

export type MlDsaLevel = 44 | 65 | 87
export type MlDsaKeyForm = 'seed' | 'expanded' | 'both'

export interface MlDsaTestCert {
  readonly cert: X509Certificate
  readonly certPem: string
  readonly der: Buffer
  readonly subject: string
  readonly level: MlDsaLevel
  readonly seed: Buffer
  readonly secretKey: Uint8Array
  readonly publicKey: Uint8Array
  /** PKCS#8 PEM in the "both" form (what OpenSSL 3.5 writes by default). */
  readonly keyPem: string
  /** PKCS#8 DER in one of the three private-key forms. */
  pkcs8(form: MlDsaKeyForm): Buffer
  /** PEM of `pkcs8(form)`, encrypted with PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC). */
  encryptedPem(form: MlDsaKeyForm, password: string): string
}

export interface MlDsaCertOptions {
  readonly name: string
  readonly level: MlDsaLevel
  /** Signing CA (an RSA/EC test CA or an ML-DSA one); absent means self-signed. */
  readonly issuer?: TestCert | MlDsaTestCert
  readonly ca?: boolean
  /** 32-byte key seed; random when absent. */
  readonly seed?: Buffer
  readonly notBefore?: Date
  readonly notAfter?: Date
  /** The clock (default validity is around now) and randomness (seed, serial, key encryption); default: the real ones. */
  readonly runtime?: KitRuntime
}

const SCHEMES = { 44: ml_dsa44, 65: ml_dsa65, 87: ml_dsa87 } as const
const levelOid = (level: MlDsaLevel): string => `2.16.840.1.101.3.4.3.${level === 44 ? 17 : level === 65 ? 18 : 19}`
const pem = (label: string, der: Buffer): string =>
  `-----BEGIN ${label}-----\n${der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n')}-----END ${label}-----\n`

function time(d: Date): Buffer {
  const s = `${d.toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`
  return d.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(s.slice(2))) : tlv(0x18, Buffer.from(s))
}

const isMlDsa = (c: TestCert | MlDsaTestCert): c is MlDsaTestCert => 'level' in c

/** Signature AlgorithmIdentifier and signature of `tbs` by the issuer's key. */
function issuerSign(issuer: TestCert | MlDsaTestCert, tbsOf: (alg: Buffer) => Buffer): Buffer {
  if (isMlDsa(issuer)) {
    const alg = seq(oid(levelOid(issuer.level)))
    const tbs = tbsOf(alg)
    return seq(tbs, alg, bitString(SCHEMES[issuer.level].sign(tbs, issuer.secretKey)))
  }
  if (issuer.keySpec.startsWith('rsa')) {
    const alg = seq(oid('1.2.840.113549.1.1.11'), tlv(0x05))
    const tbs = tbsOf(alg)
    return seq(tbs, alg, bitString(sign('sha256', tbs, issuer.key)))
  }
  const hash = issuer.keySpec === 'p256' ? 'sha256' : issuer.keySpec === 'p384' ? 'sha384' : 'sha512'
  const alg = seq(oid(`1.2.840.10045.4.3.${hash === 'sha256' ? 2 : hash === 'sha384' ? 3 : 4}`))
  const tbs = tbsOf(alg)
  return seq(tbs, alg, bitString(sign(hash, tbs, { key: issuer.key, dsaEncoding: 'der' })))
}

export async function createMlDsaCertificate(opts: MlDsaCertOptions): Promise<MlDsaTestCert> {
  const runtime = opts.runtime ?? kitRuntime
  const seed = opts.seed ?? runtime.randomBytes(32)
  const { secretKey, publicKey } = SCHEMES[opts.level].keygen(seed)
  const subject = `CN=${opts.name}, O=iamra test`
  const spki = seq(seq(oid(levelOid(opts.level))), bitString(publicKey))
  const keyId = (bits: Uint8Array): string => createHash('sha1').update(bits).digest('hex')
  const issuerFields = opts.issuer === undefined ? undefined : certificateFields(opts.issuer.der)
  const subjectName = Buffer.from(new x509.Name(subject).toArrayBuffer())
  const isCa = opts.ca === true
  const now = runtime.now().getTime()
  const extensions = [
    new x509.BasicConstraintsExtension(isCa, undefined, true),
    new x509.KeyUsagesExtension(isCa ? x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign : x509.KeyUsageFlags.digitalSignature, true),
    ...(isCa ? [] : [new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth])]),
    new x509.SubjectKeyIdentifierExtension(keyId(publicKey)),
    ...(issuerFields === undefined ? [] : [new x509.AuthorityKeyIdentifierExtension(keyId(spkiKeyBits(issuerFields.spki)))]),
  ]
  const serial = runtime.randomBytes(16)
  serial[0] = (serial[0]! & 0x7f) | 0x01
  const tbsOf = (alg: Buffer): Buffer =>
    seq(
      tlv(0xa0, uint(2)),
      uint(serial),
      alg,
      issuerFields?.subject ?? subjectName,
      seq(time(opts.notBefore ?? new Date(now - 60 * 60_000)), time(opts.notAfter ?? new Date(now + (isCa ? 3650 : 30) * 86_400_000))),
      subjectName,
      spki,
      tlv(0xa3, seq(...extensions.map((e) => Buffer.from(e.rawData)))),
    )
  const self: Pick<MlDsaTestCert, 'level' | 'secretKey'> = { level: opts.level, secretKey }
  const der = issuerSign(opts.issuer ?? (self as MlDsaTestCert), tbsOf)
  const pkcs8 = (form: MlDsaKeyForm): Buffer => {
    const inner = form === 'seed' ? tlv(0x80, seed) : form === 'expanded' ? octets(secretKey) : seq(octets(seed), octets(secretKey))
    return seq(uint(0), seq(oid(levelOid(opts.level))), octets(inner))
  }
  return {
    cert: new X509Certificate(der),
    certPem: pem('CERTIFICATE', der),
    der,
    subject,
    level: opts.level,
    seed,
    secretKey,
    publicKey,
    keyPem: pem('PRIVATE KEY', pkcs8('both')),
    pkcs8,
    encryptedPem: (form, password) => pem('ENCRYPTED PRIVATE KEY', encryptPkcs8(pkcs8(form), password, runtime)),
  }
}

/** EncryptedPrivateKeyInfo with PBES2: PBKDF2-HMAC-SHA256 (10000 rounds) and AES-256-CBC. */
export function encryptPkcs8(der: Buffer, password: string, runtime: Pick<KitRuntime, 'randomBytes'> = kitRuntime): Buffer {
  const salt = runtime.randomBytes(16)
  const iv = runtime.randomBytes(16)
  const key = pbkdf2Sync(Buffer.from(password, 'utf8'), salt, 10_000, 32, 'sha256')
  const c = createCipheriv('aes-256-cbc', key, iv)
  const data = Buffer.concat([c.update(der), c.final()])
  const kdf = seq(oid('1.2.840.113549.1.5.12'), seq(octets(salt), uint(10_000), seq(oid('1.2.840.113549.2.9'), tlv(0x05))))
  return seq(seq(oid('1.2.840.113549.1.5.13'), seq(kdf, seq(oid('2.16.840.1.101.3.4.1.42'), octets(iv)))), octets(data))
}
