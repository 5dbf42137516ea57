/**
 * Puts the credential cache in front of a binding resolver. A request that meets a half-rotated
 * certificate and key (or a file being rewritten) is answered with the binding's credentials from
 * before the rotation while they are valid. Only one layer retries a half-rotated pair: the loader
 * (fromCertificate); here only the cache key's own reads (a file briefly missing) are retried.
 */
import type { CredentialCache } from '../cache/credential-cache.js'
import type { BindingKeys } from './binding-key.js'
import type { ResolveCredentials } from './binding-credentials.js'
import { realSleep, retryMidRotation, type Sleep } from '../identity/rotation.js'

export function cachedCredentials(resolve: ResolveCredentials, cache: CredentialCache, keys: BindingKeys, sleep: Sleep = realSleep): ResolveCredentials {
  return async (binding) => {
    const lineage = keys.lineage(binding)
    let key: string
    try {
      key = keys.key(binding, lineage)
    } catch {
      // The key cannot be computed (a file missing or unreadable right now): what the cache holds
      // for the same settings stands in (cache.get does the same for failed fetches), else the
      // files are read again after short waits.
      const held = cache.held(binding.name, lineage)
      if (held !== undefined) return held
      try {
        key = await retryMidRotation(async () => keys.key(binding, lineage), sleep)
      } catch (e) {
        const filled = cache.held(binding.name, lineage) // by another request meanwhile
        if (filled !== undefined) return filled
        throw e
      }
    }
    // A key computed from a half-written pair only costs one extra CreateSession once the pair is whole.
    return cache.get(key, () => resolve(binding), binding.name, lineage)
  }
}
