/**
 * @noble/post-quantum's ML-DSA, loaded on first use only: RSA and ECDSA start-up never pays for
 * it. After `loadMlDsa()` resolved, `loadedMlDsa()` gives it synchronously (certificate checks).
 */
import type { MlDsaLevel } from './params.js'

/** The three parameter sets, with the calls iamra uses. */
export interface MlDsaSchemes {
  readonly [level: number]: MlDsaScheme
}

export interface MlDsaScheme {
  keygen(seed: Uint8Array): { secretKey: Uint8Array; publicKey: Uint8Array }
  sign(msg: Uint8Array, secretKey: Uint8Array, opts: { extraEntropy: false }): Uint8Array
  verify(sig: Uint8Array, msg: Uint8Array, publicKey: Uint8Array): boolean
}

let loaded: Readonly<Record<MlDsaLevel, MlDsaScheme>> | undefined
let loading: Promise<Readonly<Record<MlDsaLevel, MlDsaScheme>>> | undefined

export function loadMlDsa(): Promise<Readonly<Record<MlDsaLevel, MlDsaScheme>>> {
  loading ??= import('@noble/post-quantum/ml-dsa.js').then((m) => {
    loaded = { 44: m.ml_dsa44, 65: m.ml_dsa65, 87: m.ml_dsa87 }
    return loaded
  })
  return loading
}

/** The library if `loadMlDsa()` has completed, else undefined. */
export function loadedMlDsa(): Readonly<Record<MlDsaLevel, MlDsaScheme>> | undefined {
  return loaded
}
