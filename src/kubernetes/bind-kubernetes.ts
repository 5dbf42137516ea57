/**
 * `iamra bind NAME --mode kubernetes --service-account NS/SA ...`: a role for the pods of those
 * service accounts, served by the node agent. No token and no env file: a pod proves who it is
 * with its own projected service-account token. The command line is parsed and checked by the CLI
 * (src/cli/commands/bind.ts); this takes the checked values.
 */
import type { Randomness } from '../runtime.js'
import { unlink } from 'node:fs/promises'
import { writeFilesAtomic } from '../fs/atomic-write.js'
import { bindingPaths, ensureDirectories } from '../binding/store.js'
import { loadIdentity } from '../keys/load-identity.js'
import type { KeyBackends } from '../keys/key-backends.js'
import { createSession } from '../rolesanywhere/create-session.js'
import type { SessionConfig } from '../rolesanywhere/session-config.js'
import { createTransport } from '../rolesanywhere/transport.js'
import { userAgent } from '../version.js'
import { serialiseKubernetesBinding } from './binding.js'
import { formatServiceAccount, type ServiceAccountRef } from './service-account.js'

export const KUBERNETES_MODE = 'kubernetes'

export interface KubernetesBindingInit {
  /** The configuration directory, absolute. */
  readonly dir: string
  /** A checked binding name. */
  readonly name: string
  /** At least one, without repeats. */
  readonly serviceAccounts: readonly ServiceAccountRef[]
  /** Absolute paths (or TPM handles) the agent can read. */
  readonly certificateFiles: readonly string[]
  readonly intermediatesFiles: readonly string[]
  readonly privateKeyFile: string
  readonly session: SessionConfig
  /** As given, kept in the binding for the agent's own session configuration. */
  readonly region?: string | undefined
  readonly endpoint?: string | undefined
  readonly pkcs11Lib?: string | undefined
  readonly tpmKeyPasswordFile?: string | undefined
  readonly noTpmKeyPassword?: true | undefined
  /** Load the identity and make one CreateSession call before writing. */
  readonly validate: boolean
}

export interface KubernetesBindingDeps extends Randomness {
  readonly now: () => Date
  /** Token and TPM keys of the entry point, which disposes of them. */
  readonly keys: KeyBackends
  readonly stderr: (line: string) => void
}

export async function bindKubernetes(init: KubernetesBindingInit, deps: KubernetesBindingDeps): Promise<void> {
  const { name, dir, certificateFiles, intermediatesFiles, privateKeyFile, session } = init
  const tpm = {
    ...(init.tpmKeyPasswordFile === undefined ? {} : { tpmKeyPasswordFile: init.tpmKeyPasswordFile }),
    ...(init.noTpmKeyPassword === true ? { noTpmKeyPassword: true as const } : {}),
  }
  if (init.validate) {
    const identity = await loadIdentity(
      { certificateFiles: [...certificateFiles], intermediatesFiles: [...intermediatesFiles], privateKeyFile, ...tpm, now: deps.now() },
      deps.keys,
    )
    const creds = await createSession(session.request, identity, session.endpoint, {
      transport: createTransport(session.transport),
      now: deps.now,
      sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
      random: deps.random,
      userAgent: userAgent(),
    })
    deps.stderr(`iamra: validated ${name}: CreateSession for ${creds.assumedRoleArn ?? creds.roleArn} succeeded`)
  }
  const paths = bindingPaths(dir, name)
  await ensureDirectories(dir)
  await writeFilesAtomic([
    {
      path: paths.binding,
      data: serialiseKubernetesBinding({
        name,
        serviceAccounts: [...init.serviceAccounts],
        certificateFiles: [...certificateFiles],
        intermediatesFiles: [...intermediatesFiles],
        privateKeyFile,
        request: session.request,
        region: init.region,
        endpoint: init.endpoint,
        pkcs11Lib: init.pkcs11Lib,
        reusePin: false,
        ...tpm,
        createdAt: deps.now().toISOString(),
      }),
      opts: { mode: 0o600, randomBytes: deps.randomBytes },
    },
  ])
  // A token binding of the same name stops working: its env file and token file go too.
  for (const p of [paths.env, paths.token]) {
    await unlink(p).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw e
    })
  }
  deps.stderr(
    `iamra: bound ${name} (mode kubernetes) for service account(s) ${init.serviceAccounts.map(formatServiceAccount).join(', ')}; serve it with iamra serve --kubernetes-issuer ...`,
  )
}
