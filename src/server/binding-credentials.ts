/** Credentials for one binding: its files are read and its CreateSession made afresh on every call. */
import { bindingIdentity } from '../credentials/binding-identity.js'
import type { Binding } from '../binding/store.js'
import { fromCertificate } from '../credentials/from-certificate.js'
import type { SessionCredentials } from '../rolesanywhere/response.js'
import { resolveSessionConfig } from '../rolesanywhere/session-config.js'
import type { Transport } from '../rolesanywhere/transport.js'
import type { KeyBackends } from '../keys/key-backends.js'

export interface BindingCredentialsDeps {
  readonly env: Readonly<Record<string, string | undefined>>
  readonly now: () => Date
  /** Token and TPM keys: sessions stay open across requests until the entry point disposes of them. */
  readonly keys: KeyBackends
  readonly transport?: Transport
  /** The server's stop signal: in-flight exchanges are abandoned on shutdown. */
  readonly signal?: AbortSignal | undefined
  /** Observers for metrics and expiry warnings. */
  readonly onIdentity?: (binding: Binding, notAfter: Date) => void
  readonly onExchange?: (binding: Binding, result: string, seconds: number) => void
}

export type ResolveCredentials = (binding: Binding) => Promise<SessionCredentials>

export function bindingCredentials(deps: BindingCredentialsDeps): ResolveCredentials {
  return async (binding) => {
    const started = performance.now()
    const done = (result: string): void => deps.onExchange?.(binding, result, (performance.now() - started) / 1000)
    const session = resolveSessionConfig({
      ...binding.request,
      sessionDuration: binding.request.durationSeconds,
      region: binding.region,
      endpoint: binding.endpoint,
      verifyTls: true,
      env: deps.env,
    })
    try {
      const creds = await fromCertificate({
        identity: bindingIdentity(binding),
        keys: deps.keys,
        session,
        now: deps.now,
        signal: deps.signal,
        onIdentity: (id) => deps.onIdentity?.(binding, id.notAfter),
        ...(deps.transport === undefined ? {} : { transport: deps.transport }),
      })()
      done('ok')
      return creds
    } catch (e) {
      done((e as { code?: string }).code ?? 'INTERNAL')
      throw e
    }
  }
}
