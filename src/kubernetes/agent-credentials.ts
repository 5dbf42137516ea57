/**
 * Credentials for a pod: the binding's certificate and key, its role, and a session name derived
 * from the pod. Cached per (binding files and request, session name), so a pod's repeated requests
 * and all pods sharing one session name cost one CreateSession per session lifetime; at most
 * `maxConcurrent` CreateSessions run at once whatever the number of pods.
 */
import { bindingIdentity } from '../credentials/binding-identity.js'
import { createHash } from 'node:crypto'
import type { CredentialCache } from '../cache/credential-cache.js'
import { fromCertificate } from '../credentials/from-certificate.js'
import { readIdentityFileSync } from '../identity/files.js'
import { isPkcs11Uri } from '../pkcs11/uri.js'
import type { SessionCredentials } from '../rolesanywhere/response.js'
import { resolveSessionConfig } from '../rolesanywhere/session-config.js'
import type { Transport } from '../rolesanywhere/transport.js'
import type { KubernetesBinding } from './binding.js'
import type { KeyBackends } from '../keys/key-backends.js'

export interface AgentCredentialsInit {
  readonly cache: CredentialCache
  readonly env: Readonly<Record<string, string | undefined>>
  readonly now: () => Date
  /** Token and TPM keys of the entry point (which disposes of them). */
  readonly keys: KeyBackends
  readonly signal?: AbortSignal | undefined
  readonly transport?: Transport | undefined
  readonly maxConcurrent?: number
  readonly onExchange?: (binding: KubernetesBinding, result: string, seconds: number) => void
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

/** The binding's request and the bytes of its files now: renewed files or a rebind give a new key. */
function cacheKey(b: KubernetesBinding, sessionName: string | undefined): string {
  const h = createHash('sha256')
  h.update(JSON.stringify([b.name, b.request, b.region ?? null, b.endpoint ?? null, b.pkcs11Lib ?? null, b.reusePin === true, sessionName ?? null]))
  for (const f of [...b.certificateFiles, ...b.intermediatesFiles]) h.update(isPkcs11Uri(f) ? f : readIdentityFileSync(f, 'CERT_UNREADABLE', 'certificate file'))
  h.update(isPkcs11Uri(b.privateKeyFile) ? b.privateKeyFile : readIdentityFileSync(b.privateKeyFile, 'KEY_UNREADABLE', 'private key file'))
  return h.digest('hex')
}

export function agentCredentials(init: AgentCredentialsInit): AgentCredentials {
  const limit = limitConcurrency(init.maxConcurrent ?? 4)
  return async (binding, sessionName) => {
    const fetch = (): Promise<SessionCredentials> => limit(async () => {
      const started = performance.now()
      const session = resolveSessionConfig({
        ...binding.request,
        roleSessionName: binding.request.roleSessionName ?? sessionName,
        sessionDuration: binding.request.durationSeconds,
        region: binding.region,
        endpoint: binding.endpoint,
        verifyTls: true,
        env: init.env,
      })
      try {
        const creds = await fromCertificate({
          identity: bindingIdentity(binding),
          keys: init.keys,
          session,
          now: init.now,
          signal: init.signal,
          ...(init.transport === undefined ? {} : { transport: init.transport }),
        })()
        init.onExchange?.(binding, 'ok', (performance.now() - started) / 1000)
        return creds
      } catch (e) {
        init.onExchange?.(binding, (e as { code?: string }).code ?? 'INTERNAL', (performance.now() - started) / 1000)
        throw e
      }
    })
    // A binding's fixed session name wins over the pod-derived one, and then all its pods share one entry.
    const effective = binding.request.roleSessionName ?? sessionName
    return init.cache.get(cacheKey(binding, effective), fetch, `${binding.name}\u0000${effective ?? ''}`)
  }
}
