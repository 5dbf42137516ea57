/**
 * Puts the credential cache in front of a binding resolver. A request that meets a half-rotated
 * certificate and key (or a file being rewritten) is answered with the binding's credentials from
 * before the rotation while they are valid; with none, the files are read again after short waits
 * (bounded in total) before the failure counts.
 */
import type { CredentialCache } from '../cache/credential-cache.js'
import { bindingKey, bindingLineage } from './binding-key.js'
import type { ResolveCredentials } from './binding-credentials.js'
import { isMidRotation, realSleep, ROTATION_WAITS_MS, type Sleep } from '../identity/rotation.js'

export function cachedCredentials(resolve: ResolveCredentials, cache: CredentialCache, sleep: Sleep = realSleep): ResolveCredentials {
  return async (binding) => {
    const lineage = bindingLineage(binding)
    // The key is computed afresh on each attempt: the files are read again.
    const once = () => cache.get(bindingKey(binding, lineage), () => resolve(binding), binding.name, lineage)
    let error: unknown
    try {
      return await once()
    } catch (e) {
      error = e
    }
    for (const wait of [...ROTATION_WAITS_MS, undefined]) {
      // The key could not even be computed (a file missing or unreadable right now): what the
      // cache holds for the same settings stands in (cache.get does the same for failed fetches).
      const held = cache.held(binding.name, lineage)
      if (held !== undefined) return held
      if (wait === undefined || !isMidRotation(error)) break
      await sleep(wait)
      try {
        return await once()
      } catch (e) {
        error = e
      }
    }
    throw error
  }
}
