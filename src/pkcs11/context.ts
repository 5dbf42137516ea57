/**
 * What one process has open on PKCS#11: the pkcs11js addon, each module loaded and initialized
 * once, and one long-lived session per token (shared by every identity on it, so a server signs
 * many requests on one login). An entry point creates one context, hands it down, and disposes of
 * it in one place: sessions are closed, then modules finalized and unloaded.
 */
import { requirePkcs11js } from './addon.js'
import { loadModule, loadPkcs11js, unloadModule, type Pkcs11Js, type Pkcs11Module, type TokenSlot } from './module.js'
import { sessionKey, TokenSession } from './session.js'

export class Pkcs11Context {
  private js: Pkcs11Js | undefined
  private readonly modules = new Map<string, Pkcs11Module>()
  private readonly sessions = new Map<string, TokenSession>()

  /** `addon` loads pkcs11js (default: from node_modules, or beside the single executable). */
  constructor(private readonly addon: () => unknown = requirePkcs11js) {}

  /** The initialized module at `path`: the same object on every call until dispose(). */
  openModule(path: string): Pkcs11Module {
    const known = this.modules.get(path)
    if (known !== undefined) return known
    this.js ??= loadPkcs11js(this.addon)
    const mod = loadModule(this.js, path)
    this.modules.set(path, mod)
    return mod
  }

  /** The shared session for a token of a module (opened on its first operation). */
  tokenSession(mod: Pkcs11Module, token: TokenSlot): TokenSession {
    const key = sessionKey(mod, token)
    let s = this.sessions.get(key)
    if (s === undefined) {
      s = new TokenSession(mod, token)
      this.sessions.set(key, s)
    }
    return s
  }

  /** How many modules are loaded and sessions known (tests; status). */
  get size(): { readonly modules: number; readonly sessions: number } {
    return { modules: this.modules.size, sessions: this.sessions.size }
  }

  /** Closes every session, then finalizes and unloads every module. Safe to call again. */
  dispose(): void {
    for (const s of this.sessions.values()) s.close()
    this.sessions.clear()
    for (const m of this.modules.values()) unloadModule(m)
    this.modules.clear()
  }
}
