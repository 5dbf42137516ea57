/** `iamra credential-process`: the drop-in for `aws_signing_helper credential-process`. */
import { fromCertificate } from '../../credentials/from-certificate.js'
import { processOutput } from '../../credentials/process-output.js'
import type { CliContext } from '../context.js'
import { IamraError } from '../../errors.js'
import { createTransport } from '../../rolesanywhere/transport.js'
import { helpText, integerFlag, parseFlags, type ParsedFlags } from '../flags.js'
import { checkIdentityFlags, sessionFromFlags, IDENTITY_FLAGS, identityInputs, SESSION_FLAGS } from '../identity-flags.js'
import { readIdentityFile } from '../../identity/files.js'
import { closeTokenSessions } from '../../identity/identity.js'

const FLAGS = {
  ...IDENTITY_FLAGS,
  ...SESSION_FLAGS,
  cache: { type: 'boolean', description: 'reuse credentials across invocations while 20 minutes remain (0600 files under $XDG_RUNTIME_DIR/iamra)' },
  'cache-dir': { type: 'string', placeholder: 'DIR', description: 'directory for --cache' },
  'env-file': { type: 'string', placeholder: 'FILE', description: 'ask iamra serve instead, with the URI and token of this binding env file (no key needed)' },
  'from-environment': { type: 'boolean', description: 'ask iamra serve with the AWS_CONTAINER_* variables of this process' },
  help: { type: 'boolean', description: 'show this help' },
} as const

export const HELP = helpText(
  'iamra credential-process --certificate FILE|URI [--private-key FILE|URI] --trust-anchor-arn ARN --profile-arn ARN --role-arn ARN [flags]',
  'Obtains temporary credentials from IAM Roles Anywhere and prints them in the credential_process format.',
  FLAGS,
)

export async function run(args: readonly string[], ctx: CliContext): Promise<number> {
  const { flags } = parseFlags('credential-process', FLAGS, args)
  if (flags.help === true) {
    ctx.stdout(HELP)
    return 0
  }
  if (flags['env-file'] !== undefined || flags['from-environment'] === true) return viaServer(flags, ctx)
  checkIdentityFlags(flags)
  const session = sessionFromFlags(flags, ctx.env)
  const debug = flags.debug === true ? (line: string) => ctx.stderr(`debug: ${line}`) : undefined
  const identity = { ...identityInputs(flags, ctx.promptPassword, ctx.env), tpmDevice: ctx.env.TPM_DEVICE }
  const provider = fromCertificate({ identity, session, now: ctx.now, debug })
  // the cache key covers the identity files' bytes; a pkcs11: URI counts by its text, without any PIN
  const inputs = [...identity.certificateFiles, ...(identity.intermediatesFiles ?? []), ...(identity.privateKeyFile === undefined ? [] : [identity.privateKeyFile])]
  const tokenUris = inputs.filter((i) => /^pkcs11:/i.test(i))
  const uris = tokenUris.length === 0 ? [] : tokenUris.map((await import('../../pkcs11/uri.js')).redactPin)
  // Loaded only with --cache: credential-process start-up pays for what it uses (bench/).
  const pc = flags.cache === true ? await import('../../cache/process-cache.js') : undefined
  // a TPM handle counts by its text too (the key stays in the TPM)
  const handles = inputs.filter((i) => /^handle:/i.test(i))
  const key = pc === undefined ? undefined : await pc.processCacheKey([session.request, session.endpoint.url.href, session.endpoint.signingRegion, ...uris, ...handles],
    inputs.filter((i) => !/^(pkcs11|handle):/i.test(i)), (f) => (identity.readFile ?? readIdentityFile)(f, 'CERT_UNREADABLE', 'identity file'))
  let creds: Awaited<ReturnType<typeof provider>>
  try {
    creds = key === undefined || pc === undefined
      ? await provider()
      : await pc.cachedAcrossProcesses({ dir: pc.processCacheDirectory(ctx.env, flags['cache-dir']), key, now: ctx.now, debug }, provider)
  } finally {
    await closeTokenSessions()
  }
  debug?.(`obtained credentials for ${creds.assumedRoleArn ?? creds.roleArn}, expiring ${creds.expiration.toISOString()}`)
  ctx.stdout(processOutput(creds))
  return 0
}

/** The fallback through the server: no key or certificate flags, just the binding's URI and token. */
async function viaServer(flags: ParsedFlags<typeof FLAGS>, ctx: CliContext): Promise<number> {
  const [{ parseEnvFile }, { containerEndpointFrom, credentialsFromServer, readSmallFile }] = await Promise.all([
    import('../../credentials/env-file.js'), import('../../credentials/from-server.js'),
  ])
  const local = Object.keys(flags).filter((k) => !['env-file', 'from-environment', 'timeout', 'debug', 'no-verify-ssl'].includes(k))
  if (local.length > 0 || (flags['env-file'] !== undefined && flags['from-environment'] === true)) {
    throw new IamraError('USAGE', `--env-file and --from-environment take their settings from the binding; drop ${
      [...local, ...(flags['from-environment'] === true && flags['env-file'] !== undefined ? ['one of --env-file and --from-environment'] : [])].map((k) => (k.startsWith('one') ? k : `--${k}`)).join(', ')}`)
  }
  const file = flags['env-file']
  let vars: Readonly<Record<string, string | undefined>> = ctx.env
  if (file !== undefined) {
    const text = await readSmallFile(file, 'the env file')
    if (text.trim() === '') throw new IamraError('USAGE', `the env file ${file} is empty (give the env file that iamra bind wrote)`)
    vars = parseEnvFile(text)
  }
  const endpoint = await containerEndpointFrom(vars, file ?? 'the environment')
  const timeoutMs = integerFlag('timeout', flags.timeout, 1, 300, 10) * 1000
  const creds = await credentialsFromServer(endpoint, {
    transport: createTransport({ timeoutMs, verifyTls: flags['no-verify-ssl'] !== true }),
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
    now: ctx.now,
  })
  if (flags.debug === true) ctx.stderr(`debug: credentials from ${endpoint.url.origin}${endpoint.url.pathname}, expiring ${creds.expiration.toISOString()}`)
  ctx.stdout(processOutput(creds))
  return 0
}
