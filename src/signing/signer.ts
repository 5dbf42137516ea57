/**
 * The private-key operation behind SigV4-X509, as a one-method interface so that file keys,
 * hardware tokens (PKCS#11), TPM keys and ML-DSA keys can sign the same requests.
 */
import { sign as cryptoSign, type KeyObject } from 'node:crypto'
import { fail } from '../errors.js'

export type KeyFamily = 'RSA' | 'EC' | 'ML-DSA'

export interface Signer {
  readonly family: KeyFamily
  /** Signs `data`: SHA-256 inside PKCS#1 v1.5 for RSA, DER ECDSA over SHA-256 for EC, pure ML-DSA. */
  sign(data: Buffer): Promise<Buffer>
}

export type SigningAlgorithm = 'AWS4-X509-RSA-SHA256' | 'AWS4-X509-ECDSA-SHA256' | 'AWS4-X509-MLDSA'

/** The SigV4-X509 algorithm name for a key family. */
export function algorithmFor(family: KeyFamily): SigningAlgorithm {
  return family === 'RSA' ? 'AWS4-X509-RSA-SHA256' : family === 'EC' ? 'AWS4-X509-ECDSA-SHA256' : 'AWS4-X509-MLDSA'
}

/** Key family of a node KeyObject, or a KEY_UNSUPPORTED error naming what was found. */
export function keyFamily(key: KeyObject, source: string): KeyFamily {
  const type = key.asymmetricKeyType
  if (type === 'rsa') return 'RSA'
  if (type === 'ec') return 'EC'
  return fail(
    'KEY_UNSUPPORTED',
    `${source}: unsupported key type ${type ?? 'unknown'}; IAM Roles Anywhere accepts RSA, EC (P-256, P-384, P-521) and ML-DSA keys`,
  )
}

/** A signer over an in-memory private key; the key never leaves the KeyObject. */
export function fromKeyObject(key: KeyObject, source = 'private key'): Signer {
  const family = keyFamily(key, source)
  return {
    family,
    sign: async (data) => cryptoSign('sha256', data, family === 'EC' ? { key, dsaEncoding: 'der' } : key),
  }
}
