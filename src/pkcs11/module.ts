/**
 * PKCS#11 modules: loading and initializing one, finalizing it, listing and matching its tokens.
 * Which modules are open is a Pkcs11Context's business (context.ts), not this file's.
 */
import type * as P from 'pkcs11js'
import { IamraError, type FieldNamer } from '../errors.js'
import { pkcs11Error } from './errors.js'

export type Pkcs11Js = typeof P
export type Handle = Buffer

/** p11-kit's proxy: every module registered with p11-kit, as the official helper defaults to. */
export const DEFAULT_MODULE = '/usr/lib/x86_64-linux-gnu/p11-kit-proxy.so'

export interface Pkcs11Module {
  readonly path: string
  readonly js: Pkcs11Js
  readonly lib: P.PKCS11
}

/** One present token, with its attributes trimmed as URIs name them. */
export interface TokenSlot {
  readonly slot: Handle
  /** token, manufacturer, model, serial, slot-id, slot-description, slot-manufacturer. */
  readonly attrs: Readonly<Record<string, string>>
  readonly flags: number
}

/** Loads pkcs11js (the native addon) through `load`; an addon that fails to load is HSM_MODULE_NOT_FOUND. */
export function loadPkcs11js(load: () => unknown): Pkcs11Js {
  try {
    return load() as Pkcs11Js
  } catch (e) {
    throw new IamraError('HSM_MODULE_NOT_FOUND', `PKCS#11 support needs the pkcs11js addon, which failed to load: ${(e as Error).message}`, { cause: e })
  }
}

/** Loads and initializes the module at `path` (a module someone else initialized in this process is used as it is). */
export function loadModule(pk: Pkcs11Js, path: string): Pkcs11Module {
  const lib = new pk.PKCS11()
  try {
    lib.load(path)
  } catch (e) {
    const reason = (e as Error).message.split('\n')[0] ?? ''
    const hint = (name: FieldNamer): string =>
      path === DEFAULT_MODULE
        ? ` (install p11-kit-modules, or give the module with ${name('pkcs11Module')})`
        : `; check ${name('pkcs11Module')} or module-path=`
    throw new IamraError('HSM_MODULE_NOT_FOUND', (name) => `cannot load the PKCS#11 module ${path}: ${reason}${hint(name)}`, {
      cause: e,
      field: 'pkcs11Module',
    })
  }
  try {
    lib.C_Initialize()
  } catch (e) {
    if (!/CKR_CRYPTOKI_ALREADY_INITIALIZED/.test((e as Error).message)) {
      lib.close()
      const err = pkcs11Error(e, `initializing the module ${path}`)
      throw new IamraError('HSM_MODULE_NOT_FOUND', err.message, { cause: e })
    }
  }
  return { path, js: pk, lib }
}

/** Finalizes and unloads a module; its sessions must be closed first. */
export function unloadModule(m: Pkcs11Module): void {
  try {
    m.lib.C_Finalize()
  } catch {
    // already finalized
  }
  try {
    m.lib.close()
  } catch {
    // already closed
  }
}

/** Re-initializes a module after CKR_CRYPTOKI_NOT_INITIALIZED (someone finalized it). */
export function reinitialize(mod: Pkcs11Module): void {
  try {
    mod.lib.C_Initialize()
  } catch (e) {
    if (!/CKR_CRYPTOKI_ALREADY_INITIALIZED/.test((e as Error).message)) throw pkcs11Error(e, `initializing the module ${mod.path}`)
  }
}

const trim = (s: string): string => s.replace(/[\s\0]+$/, '')

/** Every slot with an initialized token, with its URI attributes. */
export function listTokens(mod: Pkcs11Module): TokenSlot[] {
  let slots: Handle[]
  try {
    slots = mod.lib.C_GetSlotList(true)
  } catch (e) {
    throw pkcs11Error(e, `listing the slots of ${mod.path}`)
  }
  const out: TokenSlot[] = []
  for (const slot of slots) {
    try {
      const t = mod.lib.C_GetTokenInfo(slot)
      if ((t.flags & mod.js.CKF_TOKEN_INITIALIZED) === 0) continue // a free SoftHSM slot, a blank card
      const s = mod.lib.C_GetSlotInfo(slot)
      out.push({
        slot,
        flags: t.flags,
        attrs: {
          token: trim(t.label),
          manufacturer: trim(t.manufacturerID),
          model: trim(t.model),
          serial: trim(t.serialNumber),
          'slot-id': slotNumber(slot).toString(),
          'slot-description': trim(s.slotDescription),
          'slot-manufacturer': trim(s.manufacturerID),
        },
      })
    } catch {
      // a slot whose token vanished meanwhile: skip it, as the official helper does
    }
  }
  return out
}

export function slotNumber(slot: Handle): bigint {
  return slot.length >= 8 ? slot.readBigUInt64LE(0) : BigInt(slot.readUIntLE(0, Math.min(slot.length, 6)))
}

/** The tokens whose attributes match every token attribute of a URI. */
export function matchTokens(tokens: readonly TokenSlot[], want: Readonly<Record<string, string>>): TokenSlot[] {
  return tokens.filter((t) => Object.entries(want).every(([k, v]) => (k === 'slot-id' ? BigInt(v) === BigInt(t.attrs[k] ?? '-1') : t.attrs[k] === v)))
}

/** `"label" (serial S)` for messages. */
export function describeToken(t: TokenSlot): string {
  return `"${t.attrs.token ?? ''}" (serial ${t.attrs.serial ?? '?'}, ${t.attrs.manufacturer ?? '?'} ${t.attrs.model ?? ''})`.replace(/ \)$/, ')')
}
