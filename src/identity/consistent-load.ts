/**
 * Certificate and key files renewed by an atomic swap (the kubelet's and cert-manager's `..data`
 * symlink rename) can be read half before and half after the swap: a key that matches no
 * certificate. Such a torn read is retried, so only a matching pair is ever used to sign; a
 * mismatch that persists is a real one and is reported.
 */
import { IamraError } from '../errors.js'
import type { Identity } from './identity.js'

export const TORN_READ_ATTEMPTS = 5
const RETRY_MS = 50

export async function loadConsistentIdentity(load: () => Promise<Identity>, sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms))): Promise<Identity> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await load()
    } catch (e) {
      if (!(e instanceof IamraError && e.code === 'KEY_CERT_MISMATCH') || attempt >= TORN_READ_ATTEMPTS) throw e
      await sleep(RETRY_MS * attempt)
    }
  }
}
