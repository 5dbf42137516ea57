/**
 * ML-DSA private keys in PKCS#8 (RFC 9881): the inner privateKey is one of `seed [0]` (32 bytes),
 * `expandedKey` (OCTET STRING), or `both` SEQUENCE { seed, expandedKey }. All three load; for
 * `both` the expanded key must be the one the seed yields.
 *
 * Key generation in JavaScript costs more than the signature, so it runs only for seed-only keys:
 * an expanded key already holds tr = H(public key) (FIPS 204 skEncode: rho, K, tr, s1, s2, t0),
 * which is enough to recognise its certificate, and a seed is checked against it through rho and K.
 */
import { createHash } from 'node:crypto'
import { IamraError, fail } from '../errors.js'
import { children, oidString, parseOne, TAG, type Tlv } from './der.js'
import { loadMlDsa } from '../mldsa/noble.js'
import { mlDsaLevel, SIZES, type MlDsaLevel } from '../mldsa/params.js'

/** An ML-DSA key held in memory; `secretKey` never leaves this object except to the signer. */
export interface MlDsaPrivateKey {
  readonly kind: 'ml-dsa'
  readonly level: MlDsaLevel
  /** The expanded private key. */
  readonly secretKey: Uint8Array
  /** True when `spki` (SubjectPublicKeyInfo DER) is this key's public key. */
  matches(spki: Buffer): boolean
}

const DIMENSIONS: Record<MlDsaLevel, [number, number]> = { 44: [4, 4], 65: [6, 5], 87: [8, 7] }
const shake256 = (data: Buffer | Uint8Array, bytes: number): Buffer => createHash('shake256', { outputLength: bytes }).update(data).digest()

/** Does `spki` hold the public key whose hash tr the expanded key carries? */
function matcher(level: MlDsaLevel, secretKey: Uint8Array): (spki: Buffer) => boolean {
  const tr = Buffer.from(secretKey.subarray(64, 128))
  return (spki) => {
    try {
      const [alg, bits] = children(parseOne(spki, TAG.SEQUENCE))
      const algOid = alg === undefined ? undefined : children(alg)[0]
      if (algOid === undefined || mlDsaLevel(oidString(algOid)) !== level || bits?.tag !== TAG.BIT_STRING) return false
      return shake256(bits.value.subarray(1), 64).equals(tr)
    } catch {
      return false
    }
  }
}

/** The ML-DSA level of a PKCS#8 (OneAsymmetricKey) DER, or undefined for any other key. */
export function pkcs8MlDsaLevel(der: Buffer | undefined): MlDsaLevel | undefined {
  if (der === undefined) return undefined
  try {
    const alg = children(parseOne(der, TAG.SEQUENCE))[1]
    const algOid = alg === undefined ? undefined : children(alg)[0]
    return algOid === undefined ? undefined : mlDsaLevel(oidString(algOid))
  } catch {
    return undefined
  }
}

/** Reads an ML-DSA PKCS#8 key in any of the three forms. */
export async function parseMlDsaPkcs8(der: Buffer, source: string): Promise<MlDsaPrivateKey> {
  const level = pkcs8MlDsaLevel(der)
  if (level === undefined) return fail('KEY_MALFORMED', `${source}: not an ML-DSA PKCS#8 key`)
  let inner: Tlv
  try {
    const fields = children(parseOne(der, TAG.SEQUENCE))
    const octet = fields[2]
    if (octet?.tag !== TAG.OCTET_STRING) throw new Error('no privateKey OCTET STRING')
    inner = parseOne(octet.value)
  } catch (e) {
    throw new IamraError('KEY_MALFORMED', `${source}: malformed ML-DSA-${level} private key (${(e as Error).message})`, { cause: e })
  }
  let seed: Buffer | undefined
  let expanded: Buffer | undefined
  if (inner.tag === 0x80) seed = inner.value
  else if (inner.tag === TAG.OCTET_STRING) expanded = inner.value
  else if (inner.tag === TAG.SEQUENCE) {
    const [s, x] = children(inner)
    if (s?.tag !== TAG.OCTET_STRING || x?.tag !== TAG.OCTET_STRING) fail('KEY_MALFORMED', `${source}: malformed ML-DSA-${level} private key (both form)`)
    seed = s.value
    expanded = x.value
  } else fail('KEY_MALFORMED', `${source}: unknown ML-DSA-${level} private key form (tag 0x${inner.tag.toString(16)})`)
  if (seed !== undefined && seed.length !== 32) fail('KEY_MALFORMED', `${source}: ML-DSA seed of ${seed.length} bytes; it must be 32`)
  if (expanded !== undefined && expanded.length !== SIZES[level].secretKey) {
    fail('KEY_MALFORMED', `${source}: ML-DSA-${level} expanded key of ${expanded.length} bytes; it must be ${SIZES[level].secretKey}`)
  }
  let secretKey: Uint8Array
  if (expanded === undefined) {
    secretKey = (await loadMlDsa())[level].keygen(seed!).secretKey
  } else {
    secretKey = new Uint8Array(expanded)
    if (seed !== undefined) {
      // FIPS 204 KeyGen: (rho, rho', K) = H(seed || k || l, 128); the expanded key starts with rho, K
      const [k, l] = DIMENSIONS[level]
      const h = shake256(Buffer.concat([seed, Buffer.from([k, l])]), 128)
      if (!h.subarray(0, 32).equals(expanded.subarray(0, 32)) || !h.subarray(96, 128).equals(expanded.subarray(32, 64))) {
        fail('KEY_MALFORMED', `${source}: the ML-DSA-${level} seed and expanded key in this file do not belong together`)
      }
    }
  }
  return { kind: 'ml-dsa', level, secretKey, matches: matcher(level, secretKey) }
}
