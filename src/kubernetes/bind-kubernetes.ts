/**
 * `iamra bind NAME --mode kubernetes --service-account NS/SA ...`: a role for the pods of those
 * service accounts, served by the node agent. No token and no env file: a pod proves who it is
 * with its own projected service-account token.
 */
import { unlink } from 'node:fs/promises'
import { resolve } from 'node:path'
import { writeFilesAtomic } from '../fs/atomic-write.js'
import { IamraError } from '../errors.js'
import { checkName } from '../binding/names.js'
import { bindingPaths, configurationDirectory, ensureDirectories } from '../binding/store.js'
import type { CliContext } from '../cli/context.js'
import { loadIdentity } from '../keys/load-identity.js'
import { isPkcs11Uri } from '../pkcs11/uri.js'
import { createSession } from '../rolesanywhere/create-session.js'
import { resolveSessionConfig } from '../rolesanywhere/session-config.js'
import { createTransport } from '../rolesanywhere/transport.js'
import { userAgent } from '../version.js'
import { serialiseKubernetesBinding } from './binding.js'
import { formatServiceAccount, parseServiceAccount } from './service-account.js'
import { checkIdentityFile, identityPath, tpmOptions } from '../cli/bind-inputs.js'

export const KUBERNETES_MODE = 'kubernetes'


export async function bindKubernetes(a: Record<string, unknown>, ctx: CliContext): Promise<number> {
  const name = checkName(String(a.name))
  const dir = resolve(configurationDirectory(a['configuration-directory'] as string | undefined, ctx.env))
  const sas = ((a['service-account'] as string[] | undefined) ?? []).map(parseServiceAccount)
  if (sas.length === 0) throw new IamraError('USAGE', '--mode kubernetes needs --service-account NAMESPACE/NAME (repeatable)')
  for (const flag of ['token-file-group'] as const) {
    if (a[flag] !== undefined) throw new IamraError('USAGE', `--${flag} does not apply to --mode kubernetes (no token is issued)`)
  }
  const unique = [...new Map(sas.map((s) => [formatServiceAccount(s), s])).values()]
  const certificateFiles = (a.certificate as string[]).map((v) => identityPath(v, '--certificate'))
  const intermediatesFiles = ((a.intermediates as string[] | undefined) ?? []).map((v) => identityPath(v, '--intermediates'))
  const privateKeyFile = identityPath(String(a['private-key']), '--private-key')
  if ([...certificateFiles, privateKeyFile].some(isPkcs11Uri)) {
    throw new IamraError('USAGE', '--mode kubernetes takes certificate and key files (a node agent in a container has no PKCS#11 token); bind a file-based identity')
  }
  const validate = a.validate !== false
  for (const f of [...certificateFiles, ...intermediatesFiles]) await checkIdentityFile(f, 'CERT_UNREADABLE', 'certificate file', validate)
  await checkIdentityFile(privateKeyFile, 'KEY_UNREADABLE', 'private key file', validate)
  const tpm = tpmOptions(a)
  const pkcs11Lib = a['pkcs11-lib'] === undefined ? undefined : resolve(String(a['pkcs11-lib']))
  const session = resolveSessionConfig({
    trustAnchorArn: a['trust-anchor-arn'] as string, profileArn: a['profile-arn'] as string, roleArn: a['role-arn'] as string,
    sessionDuration: a['session-duration'] as number, roleSessionName: a['role-session-name'] as string | undefined,
    region: a.region as string | undefined, endpoint: a.endpoint as string | undefined, verifyTls: true, timeoutSeconds: a.timeout as number, env: ctx.env,
  })
  if (validate) {
    const identity = await loadIdentity({ certificateFiles, intermediatesFiles, privateKeyFile, ...tpm, now: ctx.now() }, ctx.keys)
    const creds = await createSession(session.request, identity, session.endpoint, {
      transport: createTransport(session.transport), now: ctx.now, sleep: (ms) => new Promise((r) => setTimeout(r, ms)), random: Math.random, userAgent: userAgent(),
    })
    ctx.stderr(`iamra: validated ${name}: CreateSession for ${creds.assumedRoleArn ?? creds.roleArn} succeeded`)
  }
  const paths = bindingPaths(dir, name)
  await ensureDirectories(dir)
  await writeFilesAtomic([{
    path: paths.binding,
    data: serialiseKubernetesBinding({
      name, serviceAccounts: unique, certificateFiles, intermediatesFiles, privateKeyFile, request: session.request,
      region: a.region as string | undefined, endpoint: a.endpoint as string | undefined, pkcs11Lib, reusePin: false, ...tpm, createdAt: ctx.now().toISOString(),
    }),
    opts: { mode: 0o600 },
  }])
  // A token binding of the same name stops working: its env file and token file go too.
  for (const p of [paths.env, paths.token]) {
    await unlink(p).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw e
    })
  }
  ctx.stderr(`iamra: bound ${name} (mode kubernetes) for service account(s) ${unique.map(formatServiceAccount).join(', ')}; serve it with iamra serve --kubernetes-issuer ...`)
  return 0
}
