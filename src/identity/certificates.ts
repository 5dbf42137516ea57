/** Certificates from PEM bundles (any order, text between blocks ignored) or DER files. */
import { X509Certificate } from 'node:crypto'
import { IamraError, fail } from '../errors.js'
import { mlDsaIssues } from './mldsa-certificate.js'
import { mlDsaLevel } from '../mldsa/params.js'
import { certificateFields, type CertificateFields } from './certificate-fields.js'
import { readIdentityFile, type IdentityFileReader } from './files.js'
import { looksLikePem, splitPem } from './pem.js'

export interface LoadedCertificate {
  readonly cert: X509Certificate
  readonly der: Buffer
  /** The file it came from, for messages. */
  readonly source: string
}

export async function loadCertificates(path: string, read: IdentityFileReader = readIdentityFile): Promise<LoadedCertificate[]> {
  const bytes = await read(path, 'CERT_UNREADABLE', 'certificate file')
  return parseCertificates(bytes, path)
}

export function parseCertificates(bytes: Buffer, source: string): LoadedCertificate[] {
  if (!looksLikePem(bytes)) {
    if (bytes.length === 0) fail('CERT_MALFORMED', `${source}: the file is empty`)
    return [parseOne(bytes, source)]
  }
  const blocks = splitPem(bytes.toString('utf8')).filter((b) => b.label === 'CERTIFICATE' || b.label === 'TRUSTED CERTIFICATE')
  if (blocks.length === 0) fail('CERT_MALFORMED', `${source}: no CERTIFICATE block found`)
  return blocks.map((b, i) => parseOne(b.der ?? Buffer.alloc(0), blocks.length > 1 ? `${source} (certificate ${i + 1})` : source))
}

function parseOne(der: Buffer, source: string): LoadedCertificate {
  try {
    return { cert: new X509Certificate(der), der: Buffer.from(der), source }
  } catch (e) {
    throw new IamraError('CERT_MALFORMED', `${source}: not a valid X.509 certificate (${(e as Error).message})`, { cause: e })
  }
}

/** Decimal serial number, as Roles Anywhere expects in `Credential=`. */
export function decimalSerial(cert: X509Certificate): string {
  // A (malformed, but seen) negative serial comes as "-3039"; Go prints it signed, so do we.
  const hex = cert.serialNumber
  return hex.startsWith('-') ? (-BigInt(`0x${hex.slice(1)}`)).toString(10) : BigInt(`0x${hex}`).toString(10)
}

export function validity(cert: X509Certificate): { notBefore: Date; notAfter: Date } {
  return { notBefore: new Date(cert.validFrom), notAfter: new Date(cert.validTo) }
}

/** The certificate's DER fields (SPKI, names, signature), or undefined when they cannot be read. */
export function fieldsOf(cert: X509Certificate): CertificateFields | undefined {
  try {
    return certificateFields(cert.raw)
  } catch {
    return undefined
  }
}

/** The ML-DSA level of the certificate's key, or undefined for other keys. */
export function certificateMlDsaLevel(cert: X509Certificate): 44 | 65 | 87 | undefined {
  const f = fieldsOf(cert)
  return f === undefined ? undefined : mlDsaLevel(f.keyAlgorithm)
}

/** Human name of the certificate's key, e.g. `RSA 2048`, `EC P-384` or `ML-DSA-65`. */
export function describeCertificateKey(cert: X509Certificate): string {
  const level = certificateMlDsaLevel(cert)
  if (level !== undefined) return `ML-DSA-${level}`
  const key = cert.publicKey
  if (key.asymmetricKeyType === 'rsa') return `RSA ${key.asymmetricKeyDetails?.modulusLength ?? '?'}`
  const curve = key.asymmetricKeyDetails?.namedCurve ?? '?'
  return `EC ${({ prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' } as Record<string, string>)[curve] ?? curve}`
}

/**
 * True when `issuer` issued `subject` (names match and the signature verifies). ML-DSA issuers
 * are checked from the DER (node:crypto on Node 20 cannot), once `loadMlDsa()` has run.
 */
export function issues(issuer: X509Certificate, subject: X509Certificate): boolean {
  try {
    const fi = certificateMlDsaLevel(issuer) === undefined ? undefined : fieldsOf(issuer)
    const fs = fi === undefined ? undefined : fieldsOf(subject)
    if (fi !== undefined) return fs !== undefined && mlDsaIssues(fi, fs)
    return subject.checkIssued(issuer) && subject.verify(issuer.publicKey)
  } catch {
    return false
  }
}
