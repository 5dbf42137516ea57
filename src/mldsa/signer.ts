/**
 * The AWS4-X509-MLDSA signer: pure ML-DSA (FIPS 204) over the raw string to sign, empty context,
 * deterministic (as the official helper signs), returning the raw signature bytes.
 */
import type { Signer } from '../signing/signer.js'
import { loadMlDsa } from './noble.js'
import type { MlDsaLevel } from './params.js'

/** What signing needs of an ML-DSA key: its parameter set and expanded private key. */
export interface MlDsaSigningKey {
  readonly level: MlDsaLevel
  readonly secretKey: Uint8Array
}

export function mlDsaSigner(key: MlDsaSigningKey): Signer {
  return {
    family: 'ML-DSA',
    sign: async (data) => Buffer.from((await loadMlDsa())[key.level].sign(data, key.secretKey, { extraEntropy: false })),
  }
}
