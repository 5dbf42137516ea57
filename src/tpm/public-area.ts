/**
 * TPMT_PUBLIC, the TPM's description of a key: type, attributes, scheme, and the public key
 * itself, turned into a node KeyObject for matching against certificates.
 */
import { createPublicKey, type KeyObject } from 'node:crypto'
import { fail } from '../errors.js'
import { ALG, ATTR, ECC_CURVES } from './constants.js'
import { Reader, tpm2b, u16, u32 } from './marshal.js'

export interface PublicArea {
  readonly type: 'RSA' | 'EC'
  readonly attributes: number
  readonly authPolicy: Buffer
  /** The key's own signing scheme (ALG.NULL when it leaves the choice to TPM2_Sign). */
  readonly scheme: number
  readonly schemeHash: number | undefined
  /** Curve byte size for EC keys. */
  readonly curveBytes: number
  readonly publicKey: KeyObject
}

function readSymmetric(r: Reader): void {
  if (r.u16() !== ALG.NULL) r.u32() // keyBits, mode
}

function readScheme(r: Reader): { scheme: number; hash: number | undefined } {
  const scheme = r.u16()
  if (scheme === ALG.NULL || scheme === 0x0015 /* RSAES: no details */) return { scheme, hash: undefined }
  const hash = r.u16()
  if (scheme === 0x001a) r.u16() // ECDAA: count
  return { scheme, hash }
}

/** Parses a TPMT_PUBLIC (without the TPM2B size). */
export function parsePublicArea(area: Buffer, source: string): PublicArea {
  try {
    const r = new Reader(area)
    const type = r.u16()
    r.u16() // nameAlg
    const attributes = r.u32()
    const authPolicy = r.tpm2b()
    readSymmetric(r)
    const { scheme, hash } = readScheme(r)
    if (type === ALG.RSA) {
      r.u16() // keyBits
      const exponent = r.u32() || 65537
      const n = r.tpm2b()
      const e = Buffer.alloc(4)
      e.writeUInt32BE(exponent)
      const jwk = { kty: 'RSA', n: n.toString('base64url'), e: e.subarray(e.findIndex((b) => b !== 0)).toString('base64url') }
      return { type: 'RSA', attributes, authPolicy, scheme, schemeHash: hash, curveBytes: 0, publicKey: createPublicKey({ key: jwk, format: 'jwk' }) }
    }
    if (type === ALG.ECC) {
      const curve = ECC_CURVES[r.u16()]
      readScheme(r) // kdf
      if (curve === undefined) return fail('KEY_UNSUPPORTED', `${source}: the TPM key's curve is not P-256, P-384 or P-521`)
      const pad = (b: Buffer): Buffer => Buffer.concat([Buffer.alloc(Math.max(0, curve.bytes - b.length)), b])
      const jwk = { kty: 'EC', crv: curve.name, x: pad(r.tpm2b()).toString('base64url'), y: pad(r.tpm2b()).toString('base64url') }
      return { type: 'EC', attributes, authPolicy, scheme, schemeHash: hash, curveBytes: curve.bytes, publicKey: createPublicKey({ key: jwk, format: 'jwk' }) }
    }
    return fail('KEY_UNSUPPORTED', `${source}: TPM key type 0x${type.toString(16)}; only RSA and ECC keys can sign for Roles Anywhere`)
  } catch (e) {
    if ((e as { code?: string }).code === 'KEY_UNSUPPORTED') throw e
    return fail('KEY_MALFORMED', `${source}: cannot read the TPM public key (${(e as Error).message})`)
  }
}

/** Refuses keys that cannot sign Roles Anywhere requests with a password (or no) authorization. */
export function checkUsable(p: PublicArea, source: string): void {
  if ((p.attributes & ATTR.sign) === 0) fail('KEY_UNSUPPORTED', `${source}: the TPM key is not a signing key (its sign attribute is clear)`)
  if ((p.attributes & ATTR.restricted) !== 0)
    fail('KEY_UNSUPPORTED', `${source}: the TPM key is restricted (it only signs TPM-generated data, such as attestations)`)
  if ((p.attributes & ATTR.userWithAuth) === 0) {
    fail(
      'KEY_UNSUPPORTED',
      `${source}: the TPM key can only be used through a policy session (userWithAuth is clear); policy-protected TPM keys are not supported`,
    )
  }
}

/** The SRK templates the official helper (and tpm2-openssl) create the owner-hierarchy parent from. */
export function srkTemplate(rsa: boolean): Buffer {
  const attributes = ATTR.fixedTPM | ATTR.fixedParent | ATTR.sensitiveDataOrigin | ATTR.userWithAuth | ATTR.noDA | ATTR.restricted | ATTR.decrypt
  const symmetric = Buffer.concat([u16(ALG.AES), u16(128), u16(ALG.CFB)])
  const head = Buffer.concat([u16(rsa ? ALG.RSA : ALG.ECC), u16(ALG.SHA256), u32(attributes), tpm2b()])
  return rsa
    ? Buffer.concat([head, symmetric, u16(ALG.NULL), u16(2048), u32(0), tpm2b()])
    : Buffer.concat([head, symmetric, u16(ALG.NULL), u16(0x0003), u16(ALG.NULL), tpm2b(), tpm2b()])
}
