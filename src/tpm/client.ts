/**
 * The TPM 2.0 commands iamra needs (CreatePrimary, Load, ReadPublic, Sign, FlushContext), each
 * with a password session when it needs authorization. TPM_RC_RETRY, _YIELDED and _TESTING are
 * retried a bounded number of times; nothing else is (a wrong password must never be sent twice,
 * or dictionary-attack protection locks the TPM).
 */
import { IamraError } from '../errors.js'
import { ALG, CC, RC, RH, ST, baseCode, rcName } from './constants.js'
import { Reader, tpm2b, u16, u32, u8 } from './marshal.js'
import type { TpmTransport } from './transport.js'

/** A TPM response code other than success, with the command it answered. */
export class TpmError extends Error {
  constructor(
    readonly rc: number,
    readonly command: string,
  ) {
    super(`${command}: ${rcName(rc)}`)
  }
  is(code: number): boolean {
    return baseCode(this.rc) === code
  }
}

const RETRIES = 50
const RETRY_DELAY_MS = 20

/** Authorization with a plain password (TPM_RS_PW): the value goes in the session's hmac field. */
function passwordSession(password: Buffer): Buffer {
  const session = Buffer.concat([u32(RH.PW), tpm2b(), u8(0), tpm2b(password)])
  return Buffer.concat([u32(session.length), session])
}

export interface SignatureParts {
  readonly alg: number
  /** RSA: the signature; ECDSA: r and s as the TPM returned them. */
  readonly rsa?: Buffer
  readonly r?: Buffer
  readonly s?: Buffer
}

export class TpmClient {
  constructor(
    private readonly transport: TpmTransport,
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
  ) {}

  /** Sends one command and returns the response after the header (handles, then parameters). */
  private async run(name: string, cc: number, handles: readonly number[], auth: Buffer | undefined, params: Buffer): Promise<Reader> {
    const body = Buffer.concat([...handles.map(u32), auth ?? Buffer.alloc(0), params])
    const command = Buffer.concat([u16(auth === undefined ? ST.NO_SESSIONS : ST.SESSIONS), u32(10 + body.length), u32(cc), body])
    for (let attempt = 1; ; attempt++) {
      const res = await this.transport.send(command)
      if (res.length < 10) throw new IamraError('TPM_FAILED', `${name}: the TPM sent a truncated response (${res.length} bytes)`)
      const rc = res.readUInt32BE(6)
      if (rc === RC.SUCCESS) return new Reader(res.subarray(10))
      if ((rc === RC.RETRY || rc === RC.YIELDED || rc === RC.TESTING) && attempt < RETRIES) {
        await this.sleep(RETRY_DELAY_MS)
        continue
      }
      throw new TpmError(rc, name)
    }
  }

  /** A primary key under `hierarchy` from `template` (a TPMT_PUBLIC); returns its transient handle. */
  async createPrimary(hierarchy: number, template: Buffer): Promise<number> {
    const sensitive = tpm2b(Buffer.concat([tpm2b(), tpm2b()]))
    const r = await this.run(
      'TPM2_CreatePrimary',
      CC.CreatePrimary,
      [hierarchy],
      passwordSession(Buffer.alloc(0)),
      Buffer.concat([sensitive, tpm2b(template), tpm2b(), u32(0)]),
    )
    return r.u32()
  }

  /** Loads a key below `parent`; `priv` and `pub` are TPM2B_PRIVATE and TPM2B_PUBLIC, size included. */
  async load(parent: number, priv: Buffer, pub: Buffer): Promise<number> {
    const r = await this.run('TPM2_Load', CC.Load, [parent], passwordSession(Buffer.alloc(0)), Buffer.concat([priv, pub]))
    return r.u32()
  }

  /** The TPMT_PUBLIC of a loaded or persistent object. */
  async readPublic(handle: number): Promise<Buffer> {
    const r = await this.run('TPM2_ReadPublic', CC.ReadPublic, [handle], undefined, Buffer.alloc(0))
    return r.tpm2b()
  }

  /** Signs a digest with an explicit scheme (RSASSA or ECDSA) and hash; the key's password authorizes. */
  async sign(key: number, password: Buffer, digest: Buffer, scheme: number, hashAlg: number): Promise<SignatureParts> {
    const ticket = Buffer.concat([u16(ST.HASHCHECK), u32(RH.NULL), tpm2b()])
    const r = await this.run('TPM2_Sign', CC.Sign, [key], passwordSession(password), Buffer.concat([tpm2b(digest), u16(scheme), u16(hashAlg), ticket]))
    r.u32() // parameterSize
    const alg = r.u16()
    r.u16() // hash
    if (alg === ALG.RSASSA) return { alg, rsa: r.tpm2b() }
    if (alg === ALG.ECDSA) return { alg, r: r.tpm2b(), s: r.tpm2b() }
    throw new IamraError('TPM_FAILED', `TPM2_Sign: unexpected signature algorithm 0x${alg.toString(16)}`)
  }

  /** Frees a transient object; errors are ignored (the resource manager flushes on close anyway). */
  async flush(handle: number): Promise<void> {
    try {
      await this.run('TPM2_FlushContext', CC.FlushContext, [], undefined, u32(handle))
    } catch {
      // nothing more to do
    }
  }
}
