/** `iamra credential-process`: the drop-in for `aws_signing_helper credential-process`. */
import { fromCertificate } from '../../credentials/from-certificate.js'
import { processOutput } from '../../credentials/process-output.js'
import type { CliContext } from '../context.js'
import { IamraError } from '../../errors.js'
import { createTransport } from '../../rolesanywhere/transport.js'
import { parseFlags, type Parsed } from '../flags.js'
import { checkIdentityFlags, sessionFromFlags, IDENTITY_FLAGS, identityInputs, SESSION_FLAGS } from '../identity-flags.js'
import { readIdentityFile } from '../../identity/files.js'

const FLAGS = {
  ...IDENTITY_FLAGS,
  ...SESSION_FLAGS,
  cache: { type: 'boolean', description: 'reuse credentials across invocations while 20 minutes remain (0600 files under $XDG_RUNTIME_DIR/iamra)' },
  'cache-dir': { type: 'string', placeholder: 'DIR', description: 'directory for --cache' },
  'env-file': { type: 'string', placeholder: 'FILE', description: 'ask iamra serve instead, with the URI and token of this binding env file (no key needed)' },
  'from-environment': { type: 'boolean', description: 'ask iamra serve with the AWS_CONTAINER_* variables of this process' },
  help: { type: 'boolean', description: 'show this help' },
} as const

/** Built when asked for: start-up neither builds it nor loads the help layout. */
export const help = async (): Promise<string> =>
  (await import('../flag-help.js')).helpText(
    'iamra credential-process --certificate FILE|URI [--private-key FILE|URI] --trust-anchor-arn ARN --profile-arn ARN --role-arn ARN [flags]',
    'Obtains temporary credentials from IAM Roles Anywhere and prints them in the credential_process format.',
    FLAGS,
  )

export async function run(args: readonly string[], ctx: CliContext): Promise<number> {
  const parsed = parseFlags('credential-process', FLAGS, args)
  const { flags } = parsed
  if (flags.help === true) {
    ctx.stdout(await help())
    return 0
  }
  if (flags['env-file'] !== undefined || flags['from-environment'] === true) return viaServer(parsed, ctx)
  checkIdentityFlags(flags)
  const session = sessionFromFlags(flags, ctx.env)
  const debug = flags.debug === true ? (line: string) => ctx.stderr(`debug: ${line}`) : undefined
  const identity = identityInputs(flags, ctx.promptPassword, ctx.env)
  const provider = fromCertificate({ identity, keys: ctx.keys, session, now: ctx.now, random: ctx.random, debug })
  // the cache key covers the identity files' bytes; a pkcs11: URI counts by its text, without any PIN
  const inputs = [
    ...identity.certificateFiles,
    ...(identity.intermediatesFiles ?? []),
    ...(identity.privateKeyFile === undefined ? [] : [identity.privateKeyFile]),
  ]
  const tokenUris = inputs.filter((i) => /^pkcs11:/i.test(i))
  const uris = tokenUris.length === 0 ? [] : tokenUris.map((await import('../../pkcs11/uri.js')).redactPin)
  // Loaded only with --cache: credential-process start-up pays for what it uses (bench/).
  const pc = flags.cache === true ? await import('../../cache/process-cache.js') : undefined
  // This command's file locks, on the CLI's clock and randomness (the cache file is written under one).
  const locks = pc === undefined ? undefined : new (await import('../../fs/lock.js')).FileLocks(ctx)
  // a TPM handle counts by its text too (the key stays in the TPM)
  const handles = inputs.filter((i) => /^handle:/i.test(i))
  const key =
    pc === undefined
      ? undefined
      : await pc.processCacheKey(
          [session.request, session.endpoint.url.href, session.endpoint.signingRegion, ...uris, ...handles],
          inputs.filter((i) => !/^(pkcs11|handle):/i.test(i)),
          (f) => (identity.readFile ?? readIdentityFile)(f, 'CERT_UNREADABLE', 'identity file'),
        )
  const creds =
    key === undefined || pc === undefined || locks === undefined
      ? await provider()
      : await pc.cachedAcrossProcesses({ dir: pc.processCacheDirectory(ctx.env, flags['cache-dir']), key, now: ctx.now, locks, debug }, provider)
  debug?.(`obtained credentials for ${creds.assumedRoleArn ?? creds.roleArn}, expiring ${creds.expiration.toISOString()}`)
  ctx.stdout(processOutput(creds))
  return 0
}

/** The fallback through the server: no key or certificate flags, just the binding's URI and token. */
async function viaServer({ flags, given }: Parsed<typeof FLAGS>, ctx: CliContext): Promise<number> {
  const [{ parseEnvFile }, { containerEndpointFrom, credentialsFromServer, readSmallFile }] = await Promise.all([
    import('../../binding/env-file.js'),
    import('../../credentials/from-server.js'),
  ])
  const local = [...given].filter((k) => !['env-file', 'from-environment', 'timeout', 'debug', 'no-verify-ssl'].includes(k))
  if (local.length > 0 || (flags['env-file'] !== undefined && flags['from-environment'] === true)) {
    throw new IamraError(
      'USAGE',
      `--env-file and --from-environment take their settings from the binding; drop ${[
        ...local,
        ...(flags['from-environment'] === true && flags['env-file'] !== undefined ? ['one of --env-file and --from-environment'] : []),
      ]
        .map((k) => (k.startsWith('one') ? k : `--${k}`))
        .join(', ')}`,
    )
  }
  const file = flags['env-file']
  let vars: Readonly<Record<string, string | undefined>> = ctx.env
  if (file !== undefined) {
    const text = await readSmallFile(file, 'the env file')
    if (text.trim() === '') throw new IamraError('USAGE', `the env file ${file} is empty (give the env file that iamra bind wrote)`)
    vars = parseEnvFile(text)
  }
  const endpoint = await containerEndpointFrom(vars, file ?? 'the environment')
  const timeoutMs = (flags.timeout ?? 10) * 1000
  const creds = await credentialsFromServer(endpoint, {
    transport: createTransport({ timeoutMs, verifyTls: flags['no-verify-ssl'] !== true }),
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
    now: ctx.now,
  })
  if (flags.debug === true) ctx.stderr(`debug: credentials from ${endpoint.url.origin}${endpoint.url.pathname}, expiring ${creds.expiration.toISOString()}`)
  ctx.stdout(processOutput(creds))
  return 0
}
