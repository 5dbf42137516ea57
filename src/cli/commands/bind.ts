/** `iamra bind NAME`: a binding file, an env file and a fresh token for one role and consumer. */
import { resolve } from 'node:path'
import { IamraError } from '../../errors.js'
import { parseConsumerUrl } from '../consumer-url.js'
import { parseMode, parseServiceAccount } from '../binding-flags.js'
import { ENV_SAFE_CHARACTERS, MODES, envFor, isEnvSafe, isRelative, renderEnvFile } from '../../binding/modes.js'
import { checkName } from '../../binding/names.js'
import { bindingPaths, configurationDirectory, writeBinding } from '../../binding/store.js'
import { FileLocks } from '../../fs/lock.js'
import { issueToken } from '../../binding/token.js'
import { checkIdentityFile, identityPath, tpmOptions } from '../bind-inputs.js'
import { isPkcs11Uri, parsePkcs11Uri } from '../../pkcs11/uri.js'
import { fromCertificate } from '../../credentials/from-certificate.js'
import { SESSION_FLAGS } from '../identity-flags.js'
import { resolveSessionConfig, type SessionConfig } from '../../rolesanywhere/session-config.js'
import { readSessionEnvironment } from '../../rolesanywhere/session-environment.js'
import type { CliContext } from '../context.js'
import type { ParsedFlags, TableCommand } from '../flags.js'
import { groupId } from './group-id.js'
import { bindKubernetes, KUBERNETES_MODE } from '../../kubernetes/bind-kubernetes.js'
import { formatServiceAccount } from '../../kubernetes/service-account.js'

const FLAGS = {
  certificate: { type: 'string', multiple: true, required: true, placeholder: 'FILE|URI', description: 'certificate file(s): PEM bundle or DER' },
  'private-key': {
    type: 'string',
    required: true,
    placeholder: 'FILE|URI',
    description: 'private key file, TSS2 PRIVATE KEY file or handle:0x81... (TPM), or pkcs11: URI',
  },
  intermediates: { type: 'string', multiple: true, placeholder: 'FILE', description: 'intermediate CA certificate file(s)' },
  // The session flags are the official helper's (cli/identity-flags.ts): required here, and the
  // duration's 3600 is applied (and stored in the binding) rather than left to the service.
  'trust-anchor-arn': { ...SESSION_FLAGS['trust-anchor-arn'], required: true },
  'profile-arn': { ...SESSION_FLAGS['profile-arn'], required: true },
  'role-arn': { ...SESSION_FLAGS['role-arn'], required: true },
  region: { ...SESSION_FLAGS.region, defaultText: "the trust anchor ARN's region" },
  'session-duration': { ...SESSION_FLAGS['session-duration'], default: 3600 },
  'role-session-name': SESSION_FLAGS['role-session-name'],
  endpoint: { type: 'string', placeholder: 'URL', description: 'Roles Anywhere endpoint URL' },
  url: {
    type: 'string',
    placeholder: 'URL',
    default: 'http://127.0.0.1:7224',
    description:
      "server base URL written into the full-URI modes' env file: http only to loopback, localhost, 169.254.170.2, 169.254.170.23 or [fd00:ec2::23]; https to any host",
  },
  force: { type: 'boolean', description: 'write a --url the AWS SDKs would refuse (plain http to another host)' },
  mode: {
    type: 'choice',
    choices: [...MODES, KUBERNETES_MODE],
    placeholder: 'MODE',
    default: 'ecs-full',
    description: 'how the consumer presents its token (kubernetes: pods of --service-account, through the node agent)',
  },
  'service-account': { type: 'string', multiple: true, placeholder: 'NAMESPACE/NAME', description: 'kubernetes mode: NAMESPACE/NAME whose pods get this role' },
  'token-file-group': { type: 'string', placeholder: 'GROUP', description: 'ecs-full-token-file: group that may read the token file (mode 0640)' },
  'configuration-directory': {
    type: 'string',
    placeholder: 'DIR',
    defaultText: '$RUNTIME_DIRECTORY',
    description: 'where the binding, env and token files go',
  },
  validate: { type: 'boolean', default: true, description: 'check the identity locally and make one CreateSession call (--no-validate skips both)' },
  timeout: {
    type: 'integer',
    unit: 'seconds',
    min: 1,
    max: 300,
    default: 10,
    placeholder: 'SECONDS',
    description: 'CreateSession timeout per attempt, seconds',
  },
  'pkcs11-lib': { type: 'string', placeholder: 'PATH', description: 'PKCS#11 module for pkcs11: URIs without module-path (default: p11-kit-proxy)' },
  'reuse-pin': { type: 'boolean', description: 'reuse the user PIN for always-authenticate token keys' },
  'tpm-key-password-file': {
    type: 'string',
    placeholder: 'FILE',
    description: 'TPM key: file the server reads the key password from (absolute path; the binding never holds the password)',
  },
  'tpm-key-password': {
    type: 'string',
    secret: true,
    placeholder: 'PASSWORD',
    description: 'refused: a binding never holds a password (use --tpm-key-password-file)',
  },
  'no-tpm-key-password': { type: 'boolean', description: 'the TPM key has no password' },
} as const

type BindFlags = ParsedFlags<typeof FLAGS>

export const command: TableCommand<typeof FLAGS> = {
  usage: 'iamra bind NAME --certificate FILE|URI --private-key FILE|URI --trust-anchor-arn ARN --profile-arn ARN --role-arn ARN [flags]',
  summary: 'Binds a role to a consumer: writes bindings/NAME.json and env/NAME with a new token.',
  positional: ['NAME', 'binding name: letters, digits, @, _ and -'],
  flags: FLAGS,
  run: ({ flags, positionals }, ctx) =>
    flags.mode === KUBERNETES_MODE ? bindForKubernetes(positionals[0] ?? '', flags, ctx) : bind(positionals[0] ?? '', flags, ctx),
}

/** The session the flags describe (bindings always verify TLS). */
function sessionOf(flags: BindFlags, ctx: CliContext): SessionConfig {
  return resolveSessionConfig({
    trustAnchorArn: flags['trust-anchor-arn'],
    profileArn: flags['profile-arn'],
    roleArn: flags['role-arn'],
    durationSeconds: flags['session-duration'],
    roleSessionName: flags['role-session-name'],
    region: flags.region,
    endpoint: flags.endpoint,
    verifyTls: true,
    timeoutSeconds: flags.timeout,
    environment: readSessionEnvironment(ctx.env),
  })
}

async function bind(rawName: string, a: BindFlags, ctx: CliContext): Promise<number> {
  if (a['service-account'] !== undefined) throw new IamraError('USAGE', '--service-account is only for --mode kubernetes')
  const name = checkName(rawName)
  const dir = resolve(configurationDirectory(a['configuration-directory'], ctx.env))
  const mode = parseMode(String(a.mode))
  // The relative modes write no URL (the SDKs always call 169.254.170.2), so --url is not checked for them.
  const url = isRelative(mode) ? new URL('http://169.254.170.2') : parseConsumerUrl(String(a.url), a.force === true)
  const gid = a['token-file-group'] === undefined ? undefined : await groupId(a['token-file-group'])
  if (gid !== undefined && mode !== 'ecs-full-token-file') throw new IamraError('USAGE', '--token-file-group is only for --mode ecs-full-token-file')
  const certificateFiles = (a.certificate ?? []).map((v) => identityPath(v, '--certificate'))
  const intermediatesFiles = (a.intermediates ?? []).map((v) => identityPath(v, '--intermediates'))
  const privateKeyFile = identityPath(String(a['private-key']), '--private-key')
  checkTokenPins([...certificateFiles, privateKeyFile])
  const validate = a.validate !== false
  for (const f of [...certificateFiles, ...intermediatesFiles]) await checkIdentityFile(f, 'CERT_UNREADABLE', 'certificate file', validate)
  await checkIdentityFile(privateKeyFile, 'KEY_UNREADABLE', 'private key file', validate)
  const pkcs11Lib = a['pkcs11-lib'] === undefined ? undefined : resolve(a['pkcs11-lib'])
  const reusePin = a['reuse-pin'] === true
  const tpm = tpmOptions(a)
  const session = sessionOf(a, ctx)
  // The token and env file first: whatever they cannot hold is refused before any request or write.
  const { token, secretHash } = issueToken(name, ctx.randomBytes)
  const paths = bindingPaths(dir, name)
  if (mode === 'ecs-full-token-file' && !isEnvSafe(paths.token)) {
    throw new IamraError(
      'USAGE',
      `--configuration-directory: the token file's path would go into the env file, which cannot carry it safely; use a directory named with ${ENV_SAFE_CHARACTERS} only`,
    )
  }
  const envFile = renderEnvFile(envFor({ mode, token, url, tokenFile: paths.token }))
  if (validate) {
    // One CreateSession through the credentials layer, as the server will make it. A key that needs a
    // password nobody can give fails while loading (an encrypted file key) or while signing (a TPM key).
    let loaded = false
    const provider = fromCertificate({
      identity: { certificateFiles, intermediatesFiles, privateKeyFile, pkcs11Lib, reusePin, ...tpm },
      keys: ctx.keys,
      session,
      now: ctx.now,
      random: ctx.random,
      onIdentity: () => {
        loaded = true
      },
    })
    const creds = await provider().catch((e: unknown) => {
      if (e instanceof IamraError && e.code === 'KEY_PASSWORD_REQUIRED') {
        if (!loaded)
          throw new IamraError(
            'KEY_UNSUPPORTED',
            `${privateKeyFile} is encrypted, and the server cannot ask for its password: bind an unencrypted key readable only by the server (mode 0640, group iamra), or a key on a PKCS#11 token`,
            { cause: e },
          )
        throw new IamraError(
          'USAGE',
          `${privateKeyFile} is a TPM key with a password, and the server cannot ask for it: pass --tpm-key-password-file /path/to/file (or --no-tpm-key-password)`,
          { cause: e },
        )
      }
      throw e
    })
    ctx.stderr(`iamra: validated ${name}: CreateSession for ${creds.assumedRoleArn ?? creds.roleArn} succeeded`)
  }
  await writeBinding(
    dir,
    {
      binding: {
        name,
        secretHash,
        certificateFiles,
        intermediatesFiles,
        privateKeyFile,
        mode,
        request: session.request,
        region: a.region,
        endpoint: a.endpoint,
        pkcs11Lib,
        reusePin,
        ...tpm,
        createdAt: ctx.now().toISOString(),
      },
      envFile,
      tokenFile: mode === 'ecs-full-token-file' ? { content: token, gid } : undefined,
    },
    { locks: new FileLocks(ctx), randomBytes: ctx.randomBytes },
  )
  ctx.stderr(`iamra: bound ${name} (mode ${mode}); consumers use EnvironmentFile=${paths.env}`)
  return 0
}

/** `--mode kubernetes`: no token, no env file; the node agent serves the pods of the service accounts. */
async function bindForKubernetes(rawName: string, a: BindFlags, ctx: CliContext): Promise<number> {
  const name = checkName(rawName)
  const dir = resolve(configurationDirectory(a['configuration-directory'], ctx.env))
  const sas = (a['service-account'] ?? []).map((v) => parseServiceAccount(v))
  if (sas.length === 0) throw new IamraError('USAGE', '--mode kubernetes needs --service-account NAMESPACE/NAME (repeatable)')
  for (const flag of ['token-file-group'] as const) {
    if (a[flag] !== undefined) throw new IamraError('USAGE', `--${flag} does not apply to --mode kubernetes (no token is issued)`)
  }
  const serviceAccounts = [...new Map(sas.map((s) => [formatServiceAccount(s), s])).values()]
  const certificateFiles = (a.certificate ?? []).map((v) => identityPath(v, '--certificate'))
  const intermediatesFiles = (a.intermediates ?? []).map((v) => identityPath(v, '--intermediates'))
  const privateKeyFile = identityPath(String(a['private-key']), '--private-key')
  if ([...certificateFiles, privateKeyFile].some(isPkcs11Uri)) {
    throw new IamraError(
      'USAGE',
      '--mode kubernetes takes certificate and key files (a node agent in a container has no PKCS#11 token); bind a file-based identity',
    )
  }
  const validate = a.validate !== false
  for (const f of [...certificateFiles, ...intermediatesFiles]) await checkIdentityFile(f, 'CERT_UNREADABLE', 'certificate file', validate)
  await checkIdentityFile(privateKeyFile, 'KEY_UNREADABLE', 'private key file', validate)
  const tpm = tpmOptions(a)
  const pkcs11Lib = a['pkcs11-lib'] === undefined ? undefined : resolve(a['pkcs11-lib'])
  const session = sessionOf(a, ctx)
  await bindKubernetes(
    {
      dir,
      name,
      serviceAccounts,
      certificateFiles,
      intermediatesFiles,
      privateKeyFile,
      session,
      region: a.region,
      endpoint: a.endpoint,
      pkcs11Lib,
      ...tpm,
      validate,
    },
    { now: ctx.now, random: ctx.random, randomBytes: ctx.randomBytes, keys: ctx.keys, stderr: ctx.stderr },
  )
  return 0
}

/**
 * The server cannot prompt and a binding file must never hold a PIN: a token URI takes its PIN
 * from a pin-source file (absolute, since the server reads it).
 */
function checkTokenPins(values: readonly string[]): void {
  const uris = values.filter((v) => isPkcs11Uri(v))
  for (const uri of uris) {
    const parsed = parsePkcs11Uri(uri)
    if (parsed.pinValue !== undefined)
      throw new IamraError('USAGE', `${parsed.display}: a binding must not hold a PIN; use pin-source=/path/to/pin-file instead of pin-value`)
    if (parsed.pinSource !== undefined && !parsed.pinSource.replace(/^file:\/\//, '').startsWith('/')) {
      throw new IamraError('USAGE', `${parsed.display}: pin-source must be an absolute path (the server reads it)`)
    }
  }
  if (uris.length > 0 && !uris.some((u) => parsePkcs11Uri(u).pinSource !== undefined)) {
    throw new IamraError('USAGE', 'a binding with a pkcs11: URI needs pin-source=/path/to/pin-file in it: the server cannot ask for a PIN')
  }
}
