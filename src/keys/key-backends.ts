/**
 * Where private keys that live outside the process are reached: PKCS#11 tokens (one Pkcs11Context:
 * loaded modules and open sessions) and the TPM (the device the entry point names). An entry point
 * creates one KeyBackends, hands it down to everything that loads identities, and disposes of it in
 * one place. The PKCS#11 and TPM code is loaded on first use only: credential-process with a key
 * file never loads pkcs11js or the TPM client.
 */
import type { Pkcs11Backend } from '../pkcs11/identity.js'
import type { TpmKey, TpmKeyInit } from '../tpm/tpm-key.js'
import type { TpmDevice, TpmTransport } from '../tpm/transport.js'

export interface KeyBackendsInit {
  /** The TPM, in TPM_DEVICE syntax (a path, device:PATH, swtpm:host=H,port=P); default /dev/tpmrm0, then /dev/tpm0. */
  readonly tpmDevice?: string | undefined
  /** Opens a connection to the TPM (default: the character device, or swtpm's TCP port). */
  readonly tpmTransport?: ((device: TpmDevice) => Promise<TpmTransport>) | undefined
  /** Loads the pkcs11js addon (default: the bundled one); tests pass a counting or failing loader. */
  readonly pkcs11Addon?: (() => unknown) | undefined
}

export class KeyBackends {
  private pkcs11Backend: Promise<Pkcs11Backend> | undefined
  private disposed = false

  constructor(private readonly init: KeyBackendsInit = {}) {}

  /** The PKCS#11 backend of this entry point: created on first use, the same one afterwards. */
  pkcs11(): Promise<Pkcs11Backend> {
    if (this.disposed) return Promise.reject(new Error('PKCS#11 used after the key backends were disposed'))
    this.pkcs11Backend ??= import('../pkcs11/identity.js').then((m) => m.pkcs11Backend(new m.Pkcs11Context(this.init.pkcs11Addon)))
    return this.pkcs11Backend
  }

  /** The TPM key a --private-key names, on this entry point's TPM. */
  async tpmKey(init: Omit<TpmKeyInit, 'device' | 'openTransport'>): Promise<TpmKey> {
    return (await import('../tpm/tpm-key.js')).loadTpmKey({ ...init, device: this.init.tpmDevice, openTransport: this.init.tpmTransport })
  }

  /** True once PKCS#11 was used (its modules may be loaded and sessions open until dispose()). */
  get pkcs11Used(): boolean {
    return this.pkcs11Backend !== undefined
  }

  /** Closes token sessions and unloads PKCS#11 modules, if any were used; later calls do nothing. */
  async dispose(): Promise<void> {
    if (this.disposed) return
    this.disposed = true
    const backend = this.pkcs11Backend
    this.pkcs11Backend = undefined
    if (backend !== undefined) (await backend.catch(() => undefined))?.context.dispose()
  }
}
