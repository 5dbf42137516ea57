/**
 * The parts of an X.509 certificate that node:crypto cannot give for every key type: on Node 20
 * `X509Certificate.publicKey` and `.verify()` throw for ML-DSA keys, so the SubjectPublicKeyInfo,
 * the names and the signature are read from the DER directly.
 */
import { children, DerError, oidString, parseOne, TAG } from './der.js'

export interface CertificateFields {
  /** The signed part (TBSCertificate), as encoded. */
  readonly tbs: Buffer
  readonly signatureAlgorithm: string
  /** Signature bits (the BIT STRING without its unused-bits byte). */
  readonly signature: Buffer
  /** Issuer and subject Name, as encoded. */
  readonly issuer: Buffer
  readonly subject: Buffer
  /** SubjectPublicKeyInfo, as encoded. */
  readonly spki: Buffer
  /** The key algorithm OID of the SubjectPublicKeyInfo. */
  readonly keyAlgorithm: string
}

export function certificateFields(der: Buffer): CertificateFields {
  const [tbs, sigAlg, sig] = children(parseOne(der, TAG.SEQUENCE))
  if (tbs === undefined || sigAlg === undefined || sig?.tag !== TAG.BIT_STRING) throw new DerError('not an X.509 certificate')
  const fields = children(tbs)
  const at = fields[0]?.tag === 0xa0 ? 1 : 0 // explicit [0] version
  const [, , issuer, , subject, spki] = fields.slice(at)
  if (issuer === undefined || subject === undefined || spki === undefined) throw new DerError('truncated TBSCertificate')
  return {
    tbs: tbs.raw,
    signatureAlgorithm: algorithmOf(sigAlg.raw),
    signature: sig.value.subarray(1),
    issuer: issuer.raw,
    subject: subject.raw,
    spki: spki.raw,
    keyAlgorithm: spkiAlgorithm(spki.raw),
  }
}

/** The OID of an AlgorithmIdentifier. */
export function algorithmOf(algId: Buffer): string {
  const first = children(parseOne(algId, TAG.SEQUENCE))[0]
  if (first === undefined) throw new DerError('empty AlgorithmIdentifier')
  return oidString(first)
}

/** The key algorithm OID of a SubjectPublicKeyInfo. */
export function spkiAlgorithm(spki: Buffer): string {
  const alg = children(parseOne(spki, TAG.SEQUENCE))[0]
  if (alg === undefined) throw new DerError('empty SubjectPublicKeyInfo')
  return algorithmOf(alg.raw)
}

/** The public key bits of a SubjectPublicKeyInfo. */
export function spkiKeyBits(spki: Buffer): Buffer {
  const bits = children(parseOne(spki, TAG.SEQUENCE))[1]
  if (bits?.tag !== TAG.BIT_STRING || bits.value[0] !== 0) throw new DerError('bad subjectPublicKey')
  return bits.value.subarray(1)
}
