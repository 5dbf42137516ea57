/**
 * A key in a TPM 2.0, from a TSS2 PRIVATE KEY file or a persistent `handle:0x81…`: its public key
 * (read from the file, or from the TPM for a handle) and a Signer. Each signature opens the TPM,
 * recreates the parent (the official helper's SRK template) or uses the persistent one, loads the
 * key, signs the digest and flushes what it loaded, so no state outlives a call.
 */
import { createHash, type KeyObject } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { IamraError, fail } from '../errors.js'
import { seq, uint } from '../identity/der.js'
import type { KeyFamily, Signer } from '../signing/signer.js'
import { TpmClient, TpmError, type SignatureParts } from './client.js'
import { ALG, RC, RH } from './constants.js'
import { parseTpmKeyFile, type TpmKeyFile } from './key-file.js'
import { checkUsable, parsePublicArea, srkTemplate, type PublicArea } from './public-area.js'
import { describeDevice, openTransport, resolveDevice, type TpmDevice, type TpmTransport } from './transport.js'

export type DigestName = 'sha256' | 'sha384' | 'sha512'
const HASH_ALG: Record<DigestName, number> = { sha256: ALG.SHA256, sha384: ALG.SHA384, sha512: ALG.SHA512 }

export interface TpmKeyInit {
  /** The --private-key value: a file path or `handle:0x81…`. */
  readonly reference: string
  /** The file's bytes (a file reference). */
  readonly bytes?: Buffer | undefined
  /** --tpm-key-password. */
  readonly password?: string | undefined
  /** --no-tpm-key-password. */
  readonly noPassword?: boolean | undefined
  /** A file holding the password (bindings: the server cannot ask). */
  readonly passwordFile?: string | undefined
  readonly prompt?: ((message: string) => Promise<string | undefined>) | undefined
  /** The TPM, in TPM_DEVICE syntax, as the entry point names it; default /dev/tpmrm0, then /dev/tpm0. */
  readonly device?: string | undefined
  /** Opens a connection to the device (default: the character device or swtpm's TCP port). */
  readonly openTransport?: ((device: TpmDevice) => Promise<TpmTransport>) | undefined
}

export interface TpmKey {
  readonly publicKey: KeyObject
  readonly spki: Buffer
  readonly signer: TpmSigner
  readonly source: string
}

const isPersistent = (h: number): boolean => h >>> 24 === 0x81
const HIERARCHIES = new Set<number>([RH.OWNER, RH.ENDORSEMENT, RH.PLATFORM, RH.NULL])

/** Parses `handle:0x81000001` (hex, or decimal). */
export function parseHandle(reference: string): number {
  const text = reference.replace(/^handle:/i, '')
  const n = /^0x[0-9a-f]{1,8}$/i.test(text) ? parseInt(text.slice(2), 16) : /^\d+$/.test(text) ? Number(text) : NaN
  if (!Number.isInteger(n) || !isPersistent(n))
    fail('USAGE', (name) => `${name('privateKey')} ${reference}: a TPM handle must be a persistent handle, handle:0x81000000 to handle:0x81ffffff`, {
      field: 'privateKey',
    })
  return n
}

export async function loadTpmKey(init: TpmKeyInit): Promise<TpmKey> {
  const device = await resolveDevice(init.device)
  const open = init.openTransport ?? openTransport
  const source = init.reference
  let file: TpmKeyFile | undefined
  let handle: number | undefined
  let area: PublicArea
  if (/^handle:/i.test(init.reference)) {
    handle = parseHandle(init.reference)
    const transport = await open(device)
    try {
      area = parsePublicArea(await new TpmClient(transport).readPublic(handle), source)
    } catch (e) {
      throw mapError(e, source, device)
    } finally {
      await transport.close()
    }
  } else {
    file = parseTpmKeyFile(init.bytes ?? Buffer.alloc(0), source)
    if (!isPersistent(file.parent) && !HIERARCHIES.has(file.parent))
      fail('KEY_UNSUPPORTED', `${source}: parent 0x${file.parent.toString(16)} is neither a hierarchy nor a persistent key`)
    area = parsePublicArea(file.pub.subarray(2), source)
  }
  checkUsable(area, source)
  const wanted = area.type === 'RSA' ? ALG.RSASSA : ALG.ECDSA
  if (area.scheme !== ALG.NULL && area.scheme !== wanted)
    fail(
      'KEY_UNSUPPORTED',
      `${source}: the TPM key is bound to signing scheme 0x${area.scheme.toString(16)}; Roles Anywhere needs ${area.type === 'RSA' ? 'RSASSA (PKCS#1 v1.5)' : 'ECDSA'}`,
    )
  const bits = area.publicKey.asymmetricKeyDetails?.modulusLength
  if (area.type === 'RSA' && bits !== undefined && bits < 2048) fail('KEY_UNSUPPORTED', `${source}: RSA key of ${bits} bits; use at least 2048 bits`)
  const password = passwordSource(init, file?.emptyAuth === true, source)
  const signer = new TpmSigner({ device, open, file, handle, area, password, source })
  return { publicKey: area.publicKey, spki: area.publicKey.export({ type: 'spki', format: 'der' }), signer, source }
}

/** Where the key's password comes from, asked once; `emptyAuth` keys need none. */
function passwordSource(init: TpmKeyInit, emptyAuth: boolean, source: string): () => Promise<Buffer> {
  let cached: Promise<Buffer> | undefined
  const resolve = async (): Promise<Buffer> => {
    if (emptyAuth || init.noPassword === true) return Buffer.alloc(0)
    if (init.password !== undefined) return Buffer.from(init.password, 'utf8')
    if (init.passwordFile !== undefined) {
      try {
        return Buffer.from((await readFile(init.passwordFile, 'utf8')).replace(/\r?\n$/, ''), 'utf8')
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code
        throw new IamraError(
          'FILE_UNREADABLE',
          `cannot read the TPM key password file ${init.passwordFile}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (code ?? (e as Error).message)}`,
          { cause: e, field: 'tpmKeyPassword' },
        )
      }
    }
    const typed = await init.prompt?.(`Password for the TPM key ${source}: `)
    if (typed === undefined)
      fail('KEY_PASSWORD_REQUIRED', (name) => `${source} needs its TPM key password: set ${name('tpmKeyPassword')}`, { field: 'tpmKeyPassword' })
    return Buffer.from(typed, 'utf8')
  }
  return () => (cached ??= resolve())
}

interface SignerState {
  readonly device: TpmDevice
  readonly open: (device: TpmDevice) => Promise<TpmTransport>
  readonly file: TpmKeyFile | undefined
  readonly handle: number | undefined
  readonly area: PublicArea
  readonly password: () => Promise<Buffer>
  readonly source: string
}

export class TpmSigner implements Signer {
  readonly family: KeyFamily
  constructor(private readonly s: SignerState) {
    this.family = s.area.type
  }

  sign(data: Buffer): Promise<Buffer> {
    return this.signWith('sha256', data)
  }

  /** Signs with the given digest inside the scheme (sign-string --digest). */
  async signWith(digest: DigestName, data: Buffer): Promise<Buffer> {
    const { area, file, source, device, open } = this.s
    if (area.schemeHash !== undefined && area.schemeHash !== HASH_ALG[digest]) {
      fail('KEY_UNSUPPORTED', `${source}: the TPM key only signs with hash 0x${area.schemeHash.toString(16)}, not ${digest.toUpperCase()}`)
    }
    const password = await this.s.password()
    const transport = await open(device)
    const client = new TpmClient(transport)
    const loaded: number[] = []
    try {
      let key = this.s.handle
      if (key === undefined && file !== undefined) {
        let parent = file.parent
        if (!isPersistent(parent)) {
          parent = await client.createPrimary(parent, srkTemplate(file.rsaParent))
          loaded.push(parent)
        }
        key = await client.load(parent, file.priv, file.pub)
        loaded.push(key)
      }
      const parts = await client.sign(key!, password, createHash(digest).update(data).digest(), area.type === 'RSA' ? ALG.RSASSA : ALG.ECDSA, HASH_ALG[digest])
      return toSignature(parts)
    } catch (e) {
      throw mapError(e, source, device)
    } finally {
      for (const h of loaded.reverse()) await client.flush(h)
      await transport.close()
    }
  }
}

/** RSA as returned; ECDSA r, s as DER SEQUENCE { INTEGER r, INTEGER s }. */
function toSignature(p: SignatureParts): Buffer {
  if (p.rsa !== undefined) return Buffer.from(p.rsa)
  return seq(uint(Buffer.from(p.r!)), uint(Buffer.from(p.s!)))
}

/** TPM response codes as iamra errors; a wrong password is reported, never retried. */
function mapError(e: unknown, source: string, device: TpmDevice): unknown {
  if (!(e instanceof TpmError)) return e
  const opts = { cause: e }
  if (e.is(RC.AUTH_FAIL) || e.is(RC.BAD_AUTH)) {
    return new IamraError(
      'KEY_PASSWORD_WRONG',
      `the TPM refused the password for ${source} (${e.message}); iamra does not retry it, as repeated failures lock the TPM (dictionary-attack protection)`,
      opts,
    )
  }
  if (e.rc === RC.LOCKOUT)
    return new IamraError(
      'TPM_LOCKOUT',
      `the TPM is in dictionary-attack lockout after too many wrong passwords (${e.message}); wait for the lockout to expire or reset it with the lockout authorization (tpm2_dictionarylockout --clear-lockout)`,
      opts,
    )
  if (e.is(RC.HANDLE) || e.rc === RC.REFERENCE_H0)
    return new IamraError('TPM_KEY_NOT_FOUND', `${source}: the key or its parent handle is not in the TPM at ${describeDevice(device)} (${e.message})`, opts)
  if (e.is(RC.POLICY_FAIL))
    return new IamraError('KEY_UNSUPPORTED', `${source}: the TPM key requires a policy (${e.message}); TPM policies are not supported`, opts)
  if (e.is(RC.INTEGRITY) || (e.command === 'TPM2_Load' && (e.is(RC.VALUE) || e.is(RC.KEY)))) {
    return new IamraError(
      'TPM_FAILED',
      `${source}: the TPM at ${describeDevice(device)} cannot load this key (${e.message}); the file was made by another TPM or under another parent`,
      opts,
    )
  }
  return new IamraError('TPM_FAILED', `${source}: ${e.message} from the TPM at ${describeDevice(device)}`, opts)
}
