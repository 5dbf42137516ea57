/**
 * Credentials for a pod: the binding's certificate and key, its role, and a session name derived
 * from the pod. Cached per (binding files and request, session name), so a pod's repeated requests
 * and all pods sharing one session name cost one CreateSession per session lifetime; at most
 * `maxConcurrent` CreateSessions run at once whatever the number of pods.
 */
import { createHash } from 'node:crypto'
import type { CredentialCache } from '../cache/credential-cache.js'
import { bindingExchange, type BindingExchangeInit } from '../credentials/binding-exchange.js'
import { identityDigests } from '../credentials/identity-digests.js'
import type { FileDigests } from '../fs/file-digests.js'
import type { SessionCredentials } from '../rolesanywhere/response.js'
import type { KubernetesBinding } from './binding.js'

/** The shared binding exchange's settings, plus the cache and the bound on concurrent CreateSessions. */
export interface AgentCredentialsInit extends BindingExchangeInit<KubernetesBinding> {
  readonly cache: CredentialCache
  readonly maxConcurrent?: number
  /** What the agent remembers of the certificate and key files it checks on every request. */
  readonly files: FileDigests
}

export type AgentCredentials = (binding: KubernetesBinding, sessionName: string | undefined) => Promise<SessionCredentials>

/** Runs at most `n` tasks at once; the rest wait in order. */
export function limitConcurrency(n: number): <T>(task: () => Promise<T>) => Promise<T> {
  let running = 0
  const waiting: Array<() => void> = []
  return async (task) => {
    if (running >= n) await new Promise<void>((r) => waiting.push(r))
    running++
    try {
      return await task()
    } finally {
      running--
      waiting.shift()?.()
    }
  }
}

/** The binding's request and its files now (credentials/identity-digests.ts): renewed files or a rebind give a new key. */
function cacheKey(b: KubernetesBinding, sessionName: string | undefined, files: FileDigests): string {
  const h = createHash('sha256')
  h.update(JSON.stringify([b.name, b.request, b.region ?? null, b.endpoint ?? null, b.pkcs11Lib ?? null, b.reusePin === true, sessionName ?? null]))
  for (const d of identityDigests(b, files)) h.update(d)
  return h.digest('hex')
}

export function agentCredentials(init: AgentCredentialsInit): AgentCredentials {
  const limit = limitConcurrency(init.maxConcurrent ?? 4)
  const exchange = bindingExchange<KubernetesBinding>(init)
  return async (binding, sessionName) => {
    // A binding's fixed session name wins over the pod-derived one, and then all its pods share one entry.
    const effective = binding.request.roleSessionName ?? sessionName
    return init.cache.get(cacheKey(binding, effective, init.files), () => limit(() => exchange(binding, effective)), `${binding.name}\u0000${effective ?? ''}`)
  }
}
