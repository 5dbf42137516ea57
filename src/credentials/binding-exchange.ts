/**
 * One CreateSession for a stored binding, token or Kubernetes: the binding's session settings, its
 * identity read afresh (a half-rotated pair is read again after short waits, in fromCertificate:
 * the one retry layer), and observers for the exchange (result and duration) and for the
 * certificate's expiry. The server, the Kubernetes agent and their caches build on this.
 */
import type { BindingSource } from '../binding/binding-file.js'
import type { SessionCredentials } from '../rolesanywhere/response.js'
import { resolveSessionConfig } from '../rolesanywhere/session-config.js'
import { readSessionEnvironment } from '../rolesanywhere/session-environment.js'
import type { Transport } from '../rolesanywhere/transport.js'
import type { KeyBackends } from '../keys/key-backends.js'
import { bindingIdentity } from './binding-identity.js'
import { fromCertificate } from './from-certificate.js'

export interface BindingExchangeInit<B extends BindingSource> {
  readonly env: Readonly<Record<string, string | undefined>>
  readonly now: () => Date
  /** Retry jitter (Runtime.random). */
  readonly random: () => number
  /** Token and TPM keys: sessions stay open across requests until the entry point disposes of them. */
  readonly keys: KeyBackends
  readonly transport?: Transport | undefined
  /** The service's stop signal: in-flight exchanges are abandoned on shutdown. */
  readonly signal?: AbortSignal | undefined
  /** Waits between re-reads of a half-rotated pair (default: real timers). */
  readonly sleep?: ((ms: number) => Promise<void>) | undefined
  /** Told the certificate's notAfter at each identity loaded (expiry warnings and metric). */
  readonly onIdentity?: ((binding: B, notAfter: Date) => void) | undefined
  /** Told each exchange's result (`ok` or an iamra error code) and duration in seconds. */
  readonly onExchange?: ((binding: B, result: string, seconds: number) => void) | undefined
}

/** Credentials for a binding; `roleSessionName` applies when the binding does not fix one. */
export type BindingExchange<B extends BindingSource> = (binding: B, roleSessionName?: string) => Promise<SessionCredentials>

export function bindingExchange<B extends BindingSource>(init: BindingExchangeInit<B>): BindingExchange<B> {
  return async (binding, roleSessionName) => {
    const started = performance.now()
    const done = (result: string): void => init.onExchange?.(binding, result, (performance.now() - started) / 1000)
    const session = resolveSessionConfig({
      ...binding.request,
      roleSessionName: binding.request.roleSessionName ?? roleSessionName,
      region: binding.region,
      endpoint: binding.endpoint,
      verifyTls: true,
      environment: readSessionEnvironment(init.env),
    })
    try {
      const creds = await fromCertificate({
        identity: bindingIdentity(binding),
        keys: init.keys,
        session,
        now: init.now,
        random: init.random,
        signal: init.signal,
        ...(init.sleep === undefined ? {} : { sleep: init.sleep }),
        ...(init.onIdentity === undefined ? {} : { onIdentity: (id) => init.onIdentity?.(binding, id.notAfter) }),
        ...(init.transport === undefined ? {} : { transport: init.transport }),
      })()
      done('ok')
      return creds
    } catch (e) {
      done((e as { code?: string }).code ?? 'INTERNAL')
      throw e
    }
  }
}
