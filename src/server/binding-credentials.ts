/** Credentials for one binding: its files are read and its CreateSession made afresh on every call. */
import type { Binding } from '../binding/store.js'
import { bindingExchange, type BindingExchangeInit } from '../credentials/binding-exchange.js'
import type { SessionCredentials } from '../rolesanywhere/response.js'

export type BindingCredentialsDeps = BindingExchangeInit<Binding>

export type ResolveCredentials = (binding: Binding) => Promise<SessionCredentials>

export function bindingCredentials(deps: BindingCredentialsDeps): ResolveCredentials {
  const exchange = bindingExchange(deps)
  return (binding) => exchange(binding)
}
