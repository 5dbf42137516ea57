/**
 * One long-lived session per token, shared by every identity on it: operations run one at a
 * time; after a lost session, logout or removed token the session is reopened (the token found
 * again by label and serial, as slot ids change), logged in again with the PIN that worked, and
 * the operation retried once. A PIN the token rejected is never sent again.
 */
import { IamraError } from '../errors.js'
import { isSessionLost, pkcs11Error } from './errors.js'
import { describeToken, listTokens, reinitialize, type Handle, type Pkcs11Module, type TokenSlot } from './module.js'

/** Produces the user PIN when a login is needed (URI, PIN file or prompt). */
export type PinSource = () => Promise<string>

export interface SessionContext {
  readonly mod: Pkcs11Module
  readonly handle: Handle
  /** Bumped on every reopen: object handles from an older generation must be looked up again. */
  readonly generation: number
  /** The PIN of the current login, for a context-specific login with --reuse-pin. */
  readonly pin: string | undefined
}

export class TokenSession {
  readonly token: TokenSlot
  private slot: Handle
  private handle: Handle | undefined
  private loggedIn = false
  private pin: string | undefined
  private rejectedPin: string | undefined
  private generation = 0
  private queue: Promise<unknown> = Promise.resolve()

  constructor(
    readonly mod: Pkcs11Module,
    token: TokenSlot,
  ) {
    this.token = token
    this.slot = token.slot
  }

  get name(): string {
    return describeToken(this.token)
  }

  /** Runs `op` alone on this session, logged in when `pin` is given; retries once after a lost session. */
  run<T>(pin: PinSource | undefined, what: string, op: (ctx: SessionContext) => T | Promise<T>): Promise<T> {
    const next = this.queue.then(() => this.attempt(pin, what, op, true))
    this.queue = next.catch(() => undefined)
    return next
  }

  private async attempt<T>(pin: PinSource | undefined, what: string, op: (ctx: SessionContext) => T | Promise<T>, retry: boolean): Promise<T> {
    try {
      const handle = this.open()
      if (pin !== undefined) await this.login(handle, pin)
      return await op({ mod: this.mod, handle, generation: this.generation, pin: this.pin })
    } catch (e) {
      if (e instanceof IamraError) {
        this.reset(false) // never leave a half-done operation on the session
        throw e
      }
      if (retry && isSessionLost(e)) {
        this.reset(/CKR_CRYPTOKI_NOT_INITIALIZED/.test((e as Error).message))
        return this.attempt(pin, what, op, false)
      }
      this.reset(false) // never leave a half-done operation on the session
      throw pkcs11Error(e, `${what} on token ${this.name}`)
    }
  }

  private open(): Handle {
    if (this.handle !== undefined) return this.handle
    const { js, lib } = this.mod
    // Read-only: signing needs nothing more, and write-protected tokens refuse read-write sessions.
    this.handle = lib.C_OpenSession(this.slot, js.CKF_SERIAL_SESSION)
    this.loggedIn = false
    return this.handle
  }

  private async login(handle: Handle, source: PinSource): Promise<void> {
    if (this.loggedIn) return
    const pin = this.pin ?? (await source())
    if (pin === this.rejectedPin) {
      throw new IamraError('HSM_PIN_WRONG', `PKCS#11: token ${this.name} already rejected this PIN; it is not sent again (tokens lock after a few wrong PINs)`)
    }
    try {
      this.mod.lib.C_Login(handle, this.mod.js.CKU_USER, pin)
    } catch (e) {
      if (/CKR_USER_ALREADY_LOGGED_IN/.test((e as Error).message)) {
        this.loggedIn = true
        this.pin = pin
        return
      }
      if (/CKR_PIN_INCORRECT|CKR_PIN_INVALID|CKR_PIN_LEN_RANGE/.test((e as Error).message)) {
        this.rejectedPin = pin
        this.pin = undefined
      }
      throw pkcs11Error(e, `logging in to token ${this.name}`)
    }
    this.loggedIn = true
    this.pin = pin
  }

  /** Drops the session; after a device error, finds the token's slot again by label and serial. */
  private reset(reinit: boolean): void {
    if (this.handle !== undefined) {
      try {
        this.mod.lib.C_CloseSession(this.handle)
      } catch {
        // the session is already gone
      }
    }
    this.handle = undefined
    this.loggedIn = false
    this.generation++
    if (reinit) reinitialize(this.mod)
    const again = listTokens(this.mod).find((t) => t.attrs.token === this.token.attrs.token && t.attrs.serial === this.token.attrs.serial)
    if (again !== undefined) this.slot = again.slot
  }

  /** Closes the session (the token logs out when its last session closes). */
  close(): void {
    if (this.handle === undefined) return
    try {
      this.mod.lib.C_CloseSession(this.handle)
    } catch {
      // already closed
    }
    this.handle = undefined
    this.loggedIn = false
  }
}

/** The key under which a context keeps one session per token of a module. */
export function sessionKey(mod: Pkcs11Module, token: TokenSlot): string {
  return JSON.stringify([mod.path, token.attrs.token, token.attrs.serial, token.attrs.manufacturer, token.attrs.model])
}
