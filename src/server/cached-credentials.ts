/** Puts the credential cache in front of a binding resolver. */
import type { CredentialCache } from '../cache/credential-cache.js'
import { bindingKey } from './binding-key.js'
import type { ResolveCredentials } from './binding-credentials.js'

export function cachedCredentials(resolve: ResolveCredentials, cache: CredentialCache): ResolveCredentials {
  return async (binding) => cache.get(bindingKey(binding), () => resolve(binding), binding.name)
}
