/**
 * A throw-away PKI for demos and tests: CAs, intermediates and client certificates with RSA or EC
 * keys, made in-process with @peculiar/x509 over WebCrypto. Never for production use.
 */
import 'reflect-metadata'
import { KeyObject, X509Certificate, webcrypto } from 'node:crypto'
import * as x509 from '@peculiar/x509'
import { kitRuntime, type KitRuntime } from './kit-runtime.js'

export type KeySpec = 'rsa2048' | 'rsa3072' | 'rsa4096' | 'p256' | 'p384' | 'p521'

export interface TestCert {
  readonly cert: X509Certificate
  readonly certPem: string
  readonly der: Buffer
  /** Private key; export it with `keyPem` or `key.export(...)` in other formats. */
  readonly key: KeyObject
  readonly keyPem: string
  readonly keySpec: KeySpec
  /** Subject DN in certificate (ASN.1) order, as @peculiar/x509 writes it. */
  readonly subject: string
  /** For issuing: the WebCrypto pair. */
  readonly cryptoKeys: webcrypto.CryptoKeyPair
}

export interface CertOptions {
  /** Common name. */
  readonly name: string
  readonly key?: KeySpec
  /** Signing CA; absent means self-signed. */
  readonly issuer?: TestCert
  readonly notBefore?: Date
  readonly notAfter?: Date
  /** Hex serial; random when absent. */
  readonly serialHex?: string
  /** For TLS server certificates: subject alternative names (IP addresses and DNS names). */
  readonly serverNames?: readonly string[]
  /** The clock (default validity is around now) and random serials; default: the real ones. */
  readonly runtime?: KitRuntime
}

const subtle = webcrypto.subtle as webcrypto.SubtleCrypto

function keyAlgorithm(spec: KeySpec): webcrypto.RsaHashedKeyGenParams | webcrypto.EcKeyGenParams {
  switch (spec) {
    case 'rsa2048':
    case 'rsa3072':
    case 'rsa4096':
      return { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', publicExponent: new Uint8Array([1, 0, 1]), modulusLength: Number(spec.slice(3)) }
    case 'p256':
      return { name: 'ECDSA', namedCurve: 'P-256' }
    case 'p384':
      return { name: 'ECDSA', namedCurve: 'P-384' }
    case 'p521':
      return { name: 'ECDSA', namedCurve: 'P-521' }
  }
}

function signingAlgorithm(spec: KeySpec): webcrypto.Algorithm | webcrypto.EcdsaParams {
  if (spec.startsWith('rsa')) return { name: 'RSASSA-PKCS1-v1_5' }
  return { name: 'ECDSA', hash: spec === 'p256' ? 'SHA-256' : spec === 'p384' ? 'SHA-384' : 'SHA-512' } as webcrypto.EcdsaParams
}

async function generate(spec: KeySpec): Promise<webcrypto.CryptoKeyPair> {
  return (await subtle.generateKey(keyAlgorithm(spec), true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair
}

function randomSerial(runtime: KitRuntime): string {
  // Positive, 16 bytes, first byte 0x01-0x7f so no sign padding is needed.
  const bytes = runtime.randomBytes(16)
  bytes[0] = ((bytes[0] ?? 1) & 0x7f) | 0x01
  return Buffer.from(bytes).toString('hex')
}

async function build(opts: CertOptions, isCa: boolean, publicKey?: webcrypto.CryptoKey): Promise<TestCert> {
  const spec = opts.key ?? 'p256'
  const keys = publicKey === undefined ? await generate(spec) : ({ publicKey, privateKey: publicKey } as webcrypto.CryptoKeyPair)
  const runtime = opts.runtime ?? kitRuntime
  const now = runtime.now().getTime()
  const notBefore = opts.notBefore ?? new Date(now - 60 * 60_000)
  const notAfter = opts.notAfter ?? new Date(now + (isCa ? 3650 : 30) * 86_400_000)
  const subject = `CN=${opts.name}, O=iamra test`
  const issuer = opts.issuer
  const extensions: x509.Extension[] = isCa
    ? [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      ]
    : [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([opts.serverNames ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth]),
      ]
  if (opts.serverNames !== undefined) {
    extensions.push(new x509.SubjectAlternativeNameExtension(opts.serverNames.map((n) => ({ type: /^[\d.]+$|:/.test(n) ? 'ip' : 'dns', value: n }) as const)))
  }
  extensions.push(await x509.SubjectKeyIdentifierExtension.create(keys.publicKey))
  if (issuer !== undefined) extensions.push(await x509.AuthorityKeyIdentifierExtension.create(issuer.cryptoKeys.publicKey))
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: opts.serialHex ?? randomSerial(runtime),
    subject,
    issuer: issuer === undefined ? subject : issuer.subject,
    notBefore,
    notAfter,
    signingAlgorithm: signingAlgorithm(issuer?.keySpec ?? spec),
    publicKey: keys.publicKey,
    signingKey: (issuer?.cryptoKeys ?? keys).privateKey,
    extensions,
  })
  const der = Buffer.from(cert.rawData)
  const key = KeyObject.from(keys.privateKey) // the public key when certifying someone else's key (certifyKey)
  return {
    cert: new X509Certificate(der),
    certPem: `${cert.toString('pem')}\n`,
    der,
    key,
    keyPem: publicKey === undefined ? key.export({ type: 'pkcs8', format: 'pem' }).toString() : '',
    keySpec: spec,
    subject,
    cryptoKeys: keys,
  }
}

export function createCa(opts: CertOptions): Promise<TestCert> {
  return build(opts, true)
}

export function createLeaf(opts: CertOptions & { readonly issuer: TestCert }): Promise<TestCert> {
  return build(opts, false)
}

/** The public part of a certificate issued for a key held elsewhere (a TPM, a token). */
export type IssuedCert = Pick<TestCert, 'cert' | 'certPem' | 'der' | 'subject'>

/** A client certificate for an existing public key (RSA or EC), issued by a test CA. */
export async function certifyKey(opts: Omit<CertOptions, 'key'> & { readonly issuer: TestCert; readonly publicKey: KeyObject }): Promise<IssuedCert> {
  const details = opts.publicKey.asymmetricKeyDetails
  const rsa = opts.publicKey.asymmetricKeyType === 'rsa'
  const curve = details?.namedCurve === 'secp384r1' ? 'P-384' : details?.namedCurve === 'secp521r1' ? 'P-521' : 'P-256'
  const alg = rsa ? { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } : { name: 'ECDSA', namedCurve: curve }
  const spki = opts.publicKey.export({ type: 'spki', format: 'der' })
  const imported = await subtle.importKey('spki', spki, alg, true, ['verify'])
  const { cert, certPem, der, subject } = await build(
    { ...opts, key: rsa ? 'rsa2048' : curve === 'P-384' ? 'p384' : curve === 'P-521' ? 'p521' : 'p256' },
    false,
    imported,
  )
  return { cert, certPem, der, subject }
}
