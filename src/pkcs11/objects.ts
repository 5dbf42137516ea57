/**
 * Object lookup on a token: certificates (read without login when public), private keys and
 * their public halves (RSA modulus/exponent, or EC parameters plus the point of the matching
 * public-key object, DER OCTET STRING unwrapped), so keys can be paired with certificates. Keys
 * whose public half the token hides are paired by a test signature instead (select.ts).
 */
import { createPublicKey, X509Certificate, type KeyObject } from 'node:crypto'
import type { Handle } from './module.js'
import type { SessionContext } from './session.js'
import type { Pkcs11Uri } from './uri.js'

export interface TokenObject {
  readonly handle: Handle
  readonly id: Buffer
  readonly label: string
}

export interface TokenCertificate extends TokenObject {
  readonly der: Buffer
  readonly cert: X509Certificate
}

export interface TokenKey extends TokenObject {
  readonly keyType: 'RSA' | 'EC' | 'other'
  readonly alwaysAuthenticate: boolean
  /** Undefined when the token exposes neither the key's public attributes nor a public-key object. */
  readonly publicKey: KeyObject | undefined
}

const CURVES: Record<string, string> = { '06082a8648ce3d030107': 'P-256', '06052b81040022': 'P-384', '06052b81040023': 'P-521' }
const FIELD_BYTES: Record<string, number> = { 'P-256': 32, 'P-384': 48, 'P-521': 66 }

/** Handles of the objects of `cls` matching the URI's object= and id= (or an explicit id). */
export function findObjects(ctx: SessionContext, cls: number, uri: Pick<Pkcs11Uri, 'object' | 'id'> | undefined): Handle[] {
  const { lib, js } = ctx.mod
  const template: Array<{ type: number; value: number | string | Buffer }> = [{ type: js.CKA_CLASS, value: cls }]
  if (uri?.object !== undefined) template.push({ type: js.CKA_LABEL, value: uri.object })
  if (uri?.id !== undefined) template.push({ type: js.CKA_ID, value: uri.id })
  lib.C_FindObjectsInit(ctx.handle, template)
  const found: Handle[] = []
  try {
    for (;;) {
      const batch = lib.C_FindObjects(ctx.handle, 100)
      found.push(...batch)
      if (batch.length < 100) break
    }
  } finally {
    lib.C_FindObjectsFinal(ctx.handle)
  }
  return found
}

/** One attribute's bytes, or undefined when the token refuses or lacks it. */
export function attribute(ctx: SessionContext, handle: Handle, type: number): Buffer | undefined {
  try {
    return ctx.mod.lib.C_GetAttributeValue(ctx.handle, handle, [{ type }])[0]?.value
  } catch (e) {
    if (/CKR_ATTRIBUTE_(TYPE_INVALID|SENSITIVE)/.test((e as Error).message)) return undefined
    throw e
  }
}

function identify(ctx: SessionContext, handle: Handle): TokenObject {
  const { js } = ctx.mod
  return { handle, id: attribute(ctx, handle, js.CKA_ID) ?? Buffer.alloc(0), label: (attribute(ctx, handle, js.CKA_LABEL) ?? Buffer.alloc(0)).toString('utf8') }
}

/** X.509 certificates matching the URI; objects that do not parse are skipped. */
export function readCertificates(ctx: SessionContext, uri: Pick<Pkcs11Uri, 'object' | 'id'> | undefined): TokenCertificate[] {
  const { js } = ctx.mod
  const out: TokenCertificate[] = []
  for (const handle of findObjects(ctx, js.CKO_CERTIFICATE, uri)) {
    const der = attribute(ctx, handle, js.CKA_VALUE)
    if (der === undefined) continue
    try {
      out.push({ ...identify(ctx, handle), der: Buffer.from(der), cert: new X509Certificate(der) })
    } catch {
      // not an X.509 certificate (attribute certificates, WTLS): not ours
    }
  }
  return out
}

const ulong = (b: Buffer | undefined): number | undefined =>
  b === undefined || b.length === 0 ? undefined : Number(b.length >= 8 ? b.readBigUInt64LE(0) : b.readUIntLE(0, Math.min(b.length, 6)))

/** Private keys matching the template, with type, always-authenticate flag and public key. */
export function readPrivateKeys(ctx: SessionContext, uri: Pick<Pkcs11Uri, 'object' | 'id'> | undefined): TokenKey[] {
  const { js } = ctx.mod
  return findObjects(ctx, js.CKO_PRIVATE_KEY, uri).map((handle) => {
    const type = ulong(attribute(ctx, handle, js.CKA_KEY_TYPE))
    const keyType = type === js.CKK_RSA ? 'RSA' : type === js.CKK_EC ? 'EC' : 'other'
    const always = attribute(ctx, handle, js.CKA_ALWAYS_AUTHENTICATE)
    const obj = identify(ctx, handle)
    return { ...obj, keyType, alwaysAuthenticate: always !== undefined && always[0] === 1, publicKey: publicKeyOf(ctx, obj, keyType) }
  })
}

function publicKeyOf(ctx: SessionContext, key: TokenObject, keyType: TokenKey['keyType']): KeyObject | undefined {
  const { js } = ctx.mod
  const b64 = (b: Buffer): string => stripZeros(b).toString('base64url')
  const publicObjects = (): Handle[] => (key.id.length > 0 ? findObjects(ctx, js.CKO_PUBLIC_KEY, { id: key.id }) : [])
  try {
    if (keyType === 'RSA') {
      for (const h of [key.handle, ...publicObjects()]) {
        const n = attribute(ctx, h, js.CKA_MODULUS)
        const e = attribute(ctx, h, js.CKA_PUBLIC_EXPONENT)
        if (n !== undefined && e !== undefined && n.length > 0) return createPublicKey({ key: { kty: 'RSA', n: b64(n), e: b64(e) }, format: 'jwk' })
      }
    } else if (keyType === 'EC') {
      const params = attribute(ctx, key.handle, js.CKA_EC_PARAMS)
      const crv = params === undefined ? undefined : CURVES[params.toString('hex')]
      for (const h of [key.handle, ...publicObjects()]) {
        const point = attribute(ctx, h, js.CKA_EC_POINT)
        if (crv !== undefined && point !== undefined) return ecPublicKey(crv, point)
      }
    }
  } catch {
    // attributes the token will not give: select.ts pairs the key by a test signature instead
  }
  return undefined
}

/** EC public key from a curve name and CKA_EC_POINT (DER OCTET STRING around 04||X||Y, or bare). */
export function ecPublicKey(crv: string, point: Buffer): KeyObject {
  const size = FIELD_BYTES[crv] ?? 0
  let raw = point
  if (raw.length !== 1 + 2 * size && raw[0] === 0x04) raw = raw.subarray(raw[1]! < 0x80 ? 2 : 2 + (raw[1]! & 0x7f)) // unwrap the OCTET STRING
  if (raw.length !== 1 + 2 * size || raw[0] !== 0x04) throw new Error(`unexpected CKA_EC_POINT for ${crv}`)
  return createPublicKey({
    key: { kty: 'EC', crv, x: raw.subarray(1, 1 + size).toString('base64url'), y: raw.subarray(1 + size).toString('base64url') },
    format: 'jwk',
  })
}

function stripZeros(b: Buffer): Buffer {
  let i = 0
  while (i < b.length - 1 && b[i] === 0) i++
  return b.subarray(i)
}
