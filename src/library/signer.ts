/**
 * A caller's {@link Signer} as the signing core's Signer: the algorithm must fit the leaf's key, and
 * every signature is verified with the leaf's public key before it is sent, so a signer holding
 * the wrong key fails here, with a clear error, rather than as "invalid signature" from AWS.
 */
import { verify, type X509Certificate } from 'node:crypto'
import type { Signer as CoreSigner } from '../signing/signer.js'
import { CredentialsProviderError } from './credentials-provider-error.js'
import type { Signer } from './types.js'

export function toInternalSigner(signer: Signer, leaf: X509Certificate): CoreSigner {
  const keyType = leaf.publicKey.asymmetricKeyType
  const family = signer.algorithm === 'AWS4-X509-RSA-SHA256' ? 'RSA' : 'EC'
  if ((family === 'RSA' && keyType !== 'rsa') || (family === 'EC' && keyType !== 'ec')) {
    throw new CredentialsProviderError(`the signer's algorithm ${signer.algorithm} does not fit the certificate's ${keyType ?? 'unknown'} key`, {
      code: 'KEY_CERT_MISMATCH',
      fields: ['signer', 'certificate'],
    })
  }
  return {
    family,
    sign: async (data) => {
      let out: unknown
      try {
        out = await signer.sign(new Uint8Array(data.buffer, data.byteOffset, data.byteLength))
      } catch (e) {
        throw new CredentialsProviderError(`the signer failed: ${(e as Error)?.message ?? String(e)}`, { code: 'SIGNER_FAILED', fields: ['signer'], cause: e })
      }
      if (!(out instanceof Uint8Array) || out.byteLength === 0) {
        throw new CredentialsProviderError('the signer returned no signature bytes (expected a Uint8Array)', { code: 'SIGNER_FAILED', fields: ['signer'] })
      }
      const signature = Buffer.from(out.buffer, out.byteOffset, out.byteLength)
      const key = family === 'EC' ? { key: leaf.publicKey, dsaEncoding: 'der' as const } : leaf.publicKey
      let ok = false
      try {
        ok = verify('sha256', data, key, signature)
      } catch {
        ok = false // e.g. an ECDSA signature in raw r||s form instead of DER
      }
      if (!ok) {
        throw new CredentialsProviderError(
          `the signer's signature does not verify with the certificate's public key: the signer's key is not the certificate's, or the signature is not ${family === 'EC' ? 'DER-encoded ECDSA over SHA-256' : 'PKCS#1 v1.5 over SHA-256'}`,
          { code: 'KEY_CERT_MISMATCH', fields: ['signer', 'certificate'] },
        )
      }
      return signature
    },
  }
}
