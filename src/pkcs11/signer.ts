/**
 * A Signer over a token key: CKM_SHA256_RSA_PKCS for RSA; for EC a software SHA-256 digest signed
 * with CKM_ECDSA and the raw r||s re-encoded as DER. Keys with CKA_ALWAYS_AUTHENTICATE get a
 * context-specific login before each signature (the user PIN with --reuse-pin, else a prompt).
 */
import { createHash } from 'node:crypto'
import { IamraError } from '../errors.js'
import type { KeyFamily, Signer } from '../signing/signer.js'
import type { Handle } from './module.js'
import { findObjects, type TokenKey } from './objects.js'
import type { PinSource, SessionContext, TokenSession } from './session.js'

export type DigestName = 'sha256' | 'sha384' | 'sha512'

export interface Pkcs11SignerInit {
  readonly session: TokenSession
  readonly key: TokenKey
  /** The session generation the key handle was found in. */
  readonly generation: number
  readonly family: KeyFamily
  /** The user PIN, for logging in again after a lost session. */
  readonly pin: PinSource
  readonly reusePin: boolean
  /** Asks for the context-specific PIN of an always-authenticate key; undefined answer = none. */
  readonly prompt?: ((message: string) => Promise<string | undefined>) | undefined
  /** The key's URI, for prompts and messages. */
  readonly uri: string
}

export class Pkcs11Signer implements Signer {
  readonly family: KeyFamily
  private handle: Handle
  private generation: number

  constructor(private readonly init: Pkcs11SignerInit) {
    this.family = init.family
    this.handle = init.key.handle
    this.generation = init.generation
  }

  sign(data: Buffer): Promise<Buffer> {
    return this.signWith('sha256', data)
  }

  /** Signs with the given digest inside the scheme (sign-string --digest). */
  async signWith(digest: DigestName, data: Buffer): Promise<Buffer> {
    const { session, key } = this.init
    let contextPin: string | undefined
    if (key.alwaysAuthenticate && !this.init.reusePin) contextPin = await this.askContextPin()
    return session.run(this.init.pin, `signing with ${this.init.uri}`, (ctx) => {
      const { lib, js } = ctx.mod
      const handle = this.keyHandle(ctx)
      const rsa = this.family === 'RSA'
      const mechanism = rsa ? { sha256: js.CKM_SHA256_RSA_PKCS, sha384: js.CKM_SHA384_RSA_PKCS, sha512: js.CKM_SHA512_RSA_PKCS }[digest] : js.CKM_ECDSA
      const pin = key.alwaysAuthenticate ? (contextPin ?? ctx.pin) : undefined
      if (key.alwaysAuthenticate && pin === undefined)
        throw new IamraError(
          'HSM_PIN_REQUIRED',
          (name) => `${this.init.uri} needs a PIN for every signature (CKA_ALWAYS_AUTHENTICATE); set ${name('reusePin')}`,
          { field: 'reusePin' },
        )
      lib.C_SignInit(ctx.handle, { mechanism }, handle)
      if (pin !== undefined) lib.C_Login(ctx.handle, js.CKU_CONTEXT_SPECIFIC, pin)
      const input = rsa ? data : createHash(digest).update(data).digest()
      const out = lib.C_Sign(ctx.handle, input, Buffer.alloc(1024))
      return rsa ? Buffer.from(out) : rawToDer(out)
    })
  }

  private async askContextPin(): Promise<string> {
    const pin = await this.init.prompt?.(`PIN for the always-authenticate key ${this.init.uri}: `)
    if (pin === undefined) {
      throw new IamraError(
        'HSM_PIN_REQUIRED',
        (name) =>
          `${this.init.uri} needs a PIN for every signature (CKA_ALWAYS_AUTHENTICATE): set ${name('reusePin')} to use the user PIN, or run on a terminal`,
        { field: 'reusePin' },
      )
    }
    return pin
  }

  /** The key's handle in the current session generation; looked up again after a reopen. */
  private keyHandle(ctx: SessionContext): Handle {
    if (this.generation === ctx.generation) return this.handle
    const { key } = this.init
    const found = findObjects(ctx, ctx.mod.js.CKO_PRIVATE_KEY, { id: key.id, ...(key.label === '' ? {} : { object: key.label }) })
    if (found.length !== 1) {
      throw new IamraError(
        'HSM_KEY_NOT_FOUND',
        `the key ${this.init.uri} is no longer on token ${this.init.session.name} (found ${found.length} after reopening the session)`,
      )
    }
    this.handle = found[0]!
    this.generation = ctx.generation
    return this.handle
  }
}

/** Raw ECDSA r||s (as PKCS#11 returns it) to DER SEQUENCE { INTEGER r, INTEGER s }. */
export function rawToDer(raw: Buffer): Buffer {
  if (raw.length === 0 || raw.length % 2 !== 0) throw new IamraError('HSM_FAILED', `PKCS#11: unexpected ECDSA signature length ${raw.length}`)
  const half = raw.length / 2
  const int = (b: Buffer): Buffer => {
    let i = 0
    while (i < b.length - 1 && b[i] === 0) i++
    const v = b[i]! & 0x80 ? Buffer.concat([Buffer.from([0]), b.subarray(i)]) : b.subarray(i)
    return Buffer.concat([Buffer.from([0x02]), derLength(v.length), v])
  }
  const body = Buffer.concat([int(raw.subarray(0, half)), int(raw.subarray(half))])
  return Buffer.concat([Buffer.from([0x30]), derLength(body.length), body])
}

function derLength(n: number): Buffer {
  return n < 0x80 ? Buffer.from([n]) : Buffer.from([0x81, n])
}
