/**
 * The fake endpoint's view of certificate keys, written apart from iamra's identity code so that a
 * shared mistake cannot pass both sides: RSA and EC through node:crypto, ML-DSA (which node 20's
 * X509Certificate cannot open) from the DER, checked natively where the runtime has ML-DSA
 * (Node 24.6+) and with @noble/post-quantum otherwise.
 */
import { createPublicKey, verify as cryptoVerify, type KeyObject, type X509Certificate } from 'node:crypto'
import { ml_dsa44, ml_dsa65, ml_dsa87 } from '@noble/post-quantum/ml-dsa.js'

export type CertKey =
  | { readonly type: 'rsa' | 'ec'; readonly key: KeyObject }
  | { readonly type: 'ml-dsa'; readonly level: 44 | 65 | 87; readonly spki: Buffer; readonly bits: Buffer }
  | { readonly type: 'other'; readonly name: string }

const MLDSA: Record<string, 44 | 65 | 87> = { '608648016503040311': 44, '608648016503040312': 65, '608648016503040313': 87 }
const NOBLE = { 44: ml_dsa44, 65: ml_dsa65, 87: ml_dsa87 } as const

interface Node {
  tag: number
  body: Buffer
  whole: Buffer
}

/** One DER element at `at` (definite lengths only). */
function element(b: Buffer, at = 0): Node {
  const tag = b[at]
  let len = b[at + 1]
  if (tag === undefined || len === undefined) throw new Error('truncated')
  let start = at + 2
  if (len >= 0x80) {
    const n = len - 0x80
    if (n === 0 || n > 4) throw new Error('unsupported DER length')
    len = b.subarray(start, start + n).reduce((v, x) => v * 256 + x, 0)
    start += n
  }
  if (start + len > b.length) throw new Error('truncated')
  return { tag, body: b.subarray(start, start + len), whole: b.subarray(at, start + len) }
}

function items(n: Node): Node[] {
  const out: Node[] = []
  for (let at = 0; at < n.body.length; at += out[out.length - 1]!.whole.length) out.push(element(n.body, at))
  return out
}

interface Parts {
  tbs: Buffer
  sigAlg: string
  sig: Buffer
  issuer: Buffer
  subject: Buffer
  spki: Buffer
  keyAlg: string
}

/** tbs, signature algorithm (hex of the OID contents), names, SPKI of a certificate. */
function parts(der: Buffer): Parts {
  const [tbs, alg, sig] = items(element(der))
  const f = items(tbs!)
  const o = f[0]!.tag === 0xa0 ? 1 : 0
  const spki = f[o + 5]!
  const keyAlg = items(items(spki)[0]!)[0]!.body.toString('hex')
  return {
    tbs: tbs!.whole,
    sigAlg: items(alg!)[0]!.body.toString('hex'),
    sig: sig!.body.subarray(1),
    issuer: f[o + 2]!.whole,
    subject: f[o + 4]!.whole,
    spki: spki.whole,
    keyAlg,
  }
}

export function certKey(cert: X509Certificate): CertKey {
  const p = parts(cert.raw)
  const level = MLDSA[p.keyAlg]
  if (level !== undefined) return { type: 'ml-dsa', level, spki: p.spki, bits: items(element(p.spki))[1]!.body.subarray(1) }
  const key = cert.publicKey
  const t = key.asymmetricKeyType
  return t === 'rsa' || t === 'ec' ? { type: t, key } : { type: 'other', name: t ?? 'unknown' }
}

/** Pure ML-DSA, empty context. */
function mlDsaVerify(key: Extract<CertKey, { type: 'ml-dsa' }>, data: Buffer, signature: Buffer): boolean {
  let native: KeyObject | undefined
  try {
    native = createPublicKey({ key: key.spki, format: 'der', type: 'spki' })
  } catch {
    native = undefined // this runtime has no ML-DSA
  }
  try {
    return native !== undefined ? cryptoVerify(null, data, native, signature) : NOBLE[key.level].verify(signature, data, key.bits)
  } catch {
    return false
  }
}

/** The request signature: RSA PKCS#1 v1.5 or DER ECDSA with SHA-256, or pure ML-DSA. */
export function verifyWithCertKey(key: CertKey, data: Buffer, signature: Buffer): boolean {
  if (key.type === 'ml-dsa') return mlDsaVerify(key, data, signature)
  if (key.type === 'other') return false
  try {
    return cryptoVerify('sha256', data, key.key, signature)
  } catch {
    return false
  }
}

/** True when `parent` (a CA) signed `child`. */
export function signedBy(child: X509Certificate, parent: X509Certificate): boolean {
  try {
    if (!parent.ca) return false
    const key = certKey(parent)
    if (key.type !== 'ml-dsa') return child.checkIssued(parent) && child.verify(parent.publicKey)
    const c = parts(child.raw)
    return c.issuer.equals(parts(parent.raw).subject) && MLDSA[c.sigAlg] === key.level && mlDsaVerify(key, c.tbs, c.sig)
  } catch {
    return false
  }
}
