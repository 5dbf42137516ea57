/** Certificates from PEM bundles (any order, text between blocks ignored) or DER files. */
import { X509Certificate } from 'node:crypto'
import { IamraError, fail } from '../errors.js'
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
  return hex.startsWith('-') ? (-BigInt('0x' + hex.slice(1))).toString(10) : BigInt('0x' + hex).toString(10)
}

export function validity(cert: X509Certificate): { notBefore: Date; notAfter: Date } {
  return { notBefore: new Date(cert.validFrom), notAfter: new Date(cert.validTo) }
}

/** True when `issuer` issued `subject` (names match and the signature verifies). */
export function issues(issuer: X509Certificate, subject: X509Certificate): boolean {
  try {
    return subject.checkIssued(issuer) && subject.verify(issuer.publicKey)
  } catch {
    return false
  }
}
