/**
 * ML-DSA private keys in PKCS#8 (RFC 9881): the inner privateKey is one of `seed [0]` (32 bytes),
 * `expandedKey` (OCTET STRING), or `both` SEQUENCE { seed, expandedKey }. All three load; for
 * `both` the expanded key must be the one the seed yields.
 */
import { IamraError, fail } from '../errors.js'
import { bitString, children, oid, oidString, parseOne, seq, TAG, type Tlv } from '../identity/der.js'
import { loadMlDsa } from './noble.js'
import { mlDsaLevel, oidOfLevel, SIZES, type MlDsaLevel } from './params.js'

/** An ML-DSA key held in memory; `secretKey` never leaves this object except to the signer. */
export interface MlDsaPrivateKey {
  readonly kind: 'ml-dsa'
  readonly level: MlDsaLevel
  readonly secretKey: Uint8Array
  readonly publicKey: Uint8Array
  /** SubjectPublicKeyInfo DER of the public key. */
  readonly spki: Buffer
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

/** SubjectPublicKeyInfo for an ML-DSA public key. */
export function mlDsaSpki(level: MlDsaLevel, publicKey: Uint8Array): Buffer {
  return seq(seq(oid(oidOfLevel(level))), bitString(publicKey))
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
  const scheme = (await loadMlDsa())[level]
  let secretKey: Uint8Array
  let publicKey: Uint8Array
  if (seed !== undefined) {
    ;({ secretKey, publicKey } = scheme.keygen(seed))
    if (expanded !== undefined && !Buffer.from(secretKey).equals(expanded)) {
      fail('KEY_MALFORMED', `${source}: the ML-DSA-${level} seed and expanded key in this file do not belong together`)
    }
  } else {
    secretKey = new Uint8Array(expanded!)
    publicKey = scheme.getPublicKey(secretKey)
  }
  return { kind: 'ml-dsa', level, secretKey, publicKey, spki: mlDsaSpki(level, publicKey) }
}
