/** Credentials for one binding: its files are read and its CreateSession made afresh on every call. */
import type { Binding } from '../binding/store.js'
import { fromCertificate } from '../credentials/from-certificate.js'
import type { SessionCredentials } from '../rolesanywhere/response.js'
import { resolveSessionConfig } from '../rolesanywhere/session-config.js'
import type { Transport } from '../rolesanywhere/transport.js'

export interface BindingCredentialsDeps {
  readonly env: Readonly<Record<string, string | undefined>>
  readonly now: () => Date
  readonly transport?: Transport
}

export type ResolveCredentials = (binding: Binding) => Promise<SessionCredentials>

export function bindingCredentials(deps: BindingCredentialsDeps): ResolveCredentials {
  return (binding) => {
    const session = resolveSessionConfig({
      ...binding.request,
      sessionDuration: binding.request.durationSeconds,
      region: binding.region,
      endpoint: binding.endpoint,
      verifyTls: true,
      env: deps.env,
    })
    return fromCertificate({
      identity: { certificateFiles: binding.certificateFiles, intermediatesFiles: binding.intermediatesFiles, privateKeyFile: binding.privateKeyFile },
      session,
      now: deps.now,
      ...(deps.transport === undefined ? {} : { transport: deps.transport }),
    })()
  }
}
