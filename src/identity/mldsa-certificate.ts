/**
 * Certificate links signed with ML-DSA, which node:crypto on Node 20 cannot check: the issuer's
 * name must be the subject's issuer name (byte for byte) and its ML-DSA key must verify the
 * TBSCertificate. Needs `loadMlDsa()` to have completed; answers false otherwise.
 */
import type { CertificateFields } from './certificate-fields.js'
import { spkiKeyBits } from './certificate-fields.js'
import { loadedMlDsa } from '../mldsa/noble.js'
import { mlDsaLevel } from '../mldsa/params.js'

export function mlDsaIssues(issuer: CertificateFields, subject: CertificateFields): boolean {
  const level = mlDsaLevel(issuer.keyAlgorithm)
  const schemes = loadedMlDsa()
  if (level === undefined || schemes === undefined) return false
  if (!issuer.subject.equals(subject.issuer) || mlDsaLevel(subject.signatureAlgorithm) !== level) return false
  try {
    return schemes[level].verify(subject.signature, subject.tbs, spkiKeyBits(issuer.spki))
  } catch {
    return false
  }
}
