/** `iamra bind NAME`: a binding file, an env file and a fresh token for one role and consumer. */
import { resolve } from 'node:path'
import type { Argv } from 'yargs'
import { IamraError } from '../../errors.js'
import { parseConsumerUrl } from '../../binding/consumer-url.js'
import { ENV_SAFE_CHARACTERS, MODES, envFor, isEnvSafe, isRelative, parseMode, renderEnvFile } from '../../binding/modes.js'
import { checkName } from '../../binding/names.js'
import { bindingPaths, configurationDirectory, writeBinding } from '../../binding/store.js'
import { issueToken } from '../../binding/token.js'
import { checkIdentityFile, identityPath, tpmOptions } from '../bind-inputs.js'
import { loadIdentity } from '../../keys/load-identity.js'
import { isPkcs11Uri, parsePkcs11Uri } from '../../pkcs11/uri.js'
import { createSession } from '../../rolesanywhere/create-session.js'
import { resolveSessionConfig } from '../../rolesanywhere/session-config.js'
import { createTransport } from '../../rolesanywhere/transport.js'
import { userAgent } from '../../version.js'
import type { CliContext } from '../context.js'
import type { YargsCommand } from '../yargs-cli.js'
import { groupId } from './group-id.js'
import { bindKubernetes, KUBERNETES_MODE } from '../../kubernetes/bind-kubernetes.js'

export const command: YargsCommand = {
  command: 'bind <name>',
  describe: 'bind a role to a consumer: writes bindings/NAME.json and env/NAME with a new token',
  builder: (y: Argv) =>
    y
      .positional('name', { type: 'string', describe: 'binding name: letters, digits, @, _ and -' })
      .option('certificate', { type: 'string', array: true, demandOption: true, describe: 'certificate file(s): PEM bundle or DER' })
      .option('private-key', { type: 'string', demandOption: true, describe: 'private key file, TSS2 PRIVATE KEY file or handle:0x81... (TPM), or pkcs11: URI' })
      .option('intermediates', { type: 'string', array: true, describe: 'intermediate CA certificate file(s)' })
      .option('trust-anchor-arn', { type: 'string', demandOption: true })
      .option('profile-arn', { type: 'string', demandOption: true })
      .option('role-arn', { type: 'string', demandOption: true })
      .option('region', { type: 'string', describe: 'default: the trust anchor ARN\'s region' })
      .option('session-duration', { type: 'number', default: 3600, describe: 'seconds, 900 to 43200' })
      .option('role-session-name', { type: 'string' })
      .option('endpoint', { type: 'string', describe: 'Roles Anywhere endpoint URL' })
      .option('url', { type: 'string', default: 'http://127.0.0.1:7224', describe: 'server base URL written into the full-URI modes\' env file: http only to loopback, localhost, 169.254.170.2, 169.254.170.23 or [fd00:ec2::23]; https to any host' })
      .option('force', { type: 'boolean', default: false, describe: 'write a --url the AWS SDKs would refuse (plain http to another host)' })
      .option('mode', { type: 'string', choices: [...MODES, KUBERNETES_MODE], default: 'ecs-full', describe: 'how the consumer presents its token (kubernetes: pods of --service-account, through the node agent)' })
      .option('service-account', { type: 'string', array: true, describe: 'kubernetes mode: NAMESPACE/NAME whose pods get this role; repeatable' })
      .option('token-file-group', { type: 'string', describe: 'ecs-full-token-file: group that may read the token file (mode 0640)' })
      .option('configuration-directory', { type: 'string', describe: 'default: $RUNTIME_DIRECTORY' })
      .option('validate', { type: 'boolean', default: true, describe: 'check the identity locally and make one CreateSession call (--no-validate skips both)' })
      .option('timeout', { type: 'number', default: 10, describe: 'CreateSession timeout per attempt, seconds' })
      .option('pkcs11-lib', { type: 'string', describe: 'PKCS#11 module for pkcs11: URIs without module-path (default: p11-kit-proxy)' })
      .option('reuse-pin', { type: 'boolean', describe: 'reuse the user PIN for always-authenticate token keys' })
      .option('tpm-key-password-file', { type: 'string', describe: 'TPM key: file the server reads the key password from (absolute path; the binding never holds the password)' })
      .option('tpm-key-password', { type: 'string', describe: 'refused: a binding never holds a password (use --tpm-key-password-file); --no-tpm-key-password: the TPM key has no password' }),
  handler: bind,
}

async function bind(a: Record<string, unknown>, ctx: CliContext): Promise<number> {
  if (a.mode === KUBERNETES_MODE) return bindKubernetes(a, ctx)
  if (a['service-account'] !== undefined) throw new IamraError('USAGE', '--service-account is only for --mode kubernetes')
  const name = checkName(String(a.name))
  const dir = resolve(configurationDirectory(a['configuration-directory'] as string | undefined, ctx.env))
  const mode = parseMode(String(a.mode))
  // The relative modes write no URL (the SDKs always call 169.254.170.2), so --url is not checked for them.
  const url = isRelative(mode) ? new URL('http://169.254.170.2') : parseConsumerUrl(String(a.url), a.force === true)
  const gid = a['token-file-group'] === undefined ? undefined : await groupId(String(a['token-file-group']))
  if (gid !== undefined && mode !== 'ecs-full-token-file') throw new IamraError('USAGE', '--token-file-group is only for --mode ecs-full-token-file')
  const certificateFiles = (a.certificate as string[]).map((v) => identityPath(v, '--certificate'))
  const intermediatesFiles = ((a.intermediates as string[] | undefined) ?? []).map((v) => identityPath(v, '--intermediates'))
  const privateKeyFile = identityPath(String(a['private-key']), '--private-key')
  checkTokenPins([...certificateFiles, privateKeyFile])
  const validate = a.validate !== false
  for (const f of [...certificateFiles, ...intermediatesFiles]) await checkIdentityFile(f, 'CERT_UNREADABLE', 'certificate file', validate)
  await checkIdentityFile(privateKeyFile, 'KEY_UNREADABLE', 'private key file', validate)
  const pkcs11Lib = a['pkcs11-lib'] === undefined ? undefined : resolve(String(a['pkcs11-lib']))
  const reusePin = a['reuse-pin'] === true
  const tpm = tpmOptions(a)
  const session = resolveSessionConfig({
    trustAnchorArn: a['trust-anchor-arn'] as string, profileArn: a['profile-arn'] as string, roleArn: a['role-arn'] as string,
    sessionDuration: a['session-duration'] as number, roleSessionName: a['role-session-name'] as string | undefined,
    region: a.region as string | undefined, endpoint: a.endpoint as string | undefined, verifyTls: true, timeoutSeconds: a.timeout as number, env: ctx.env,
  })
  // The token and env file first: whatever they cannot hold is refused before any request or write.
  const { token, secretHash } = issueToken(name)
  const paths = bindingPaths(dir, name)
  if (mode === 'ecs-full-token-file' && !isEnvSafe(paths.token)) {
    throw new IamraError('USAGE', `--configuration-directory: the token file's path would go into the env file, which cannot carry it safely; use a directory named with ${ENV_SAFE_CHARACTERS} only`)
  }
  const envFile = renderEnvFile(envFor({ mode, token, url, tokenFile: paths.token }))
  if (validate) {
    const identity = await loadIdentity({ certificateFiles, intermediatesFiles, privateKeyFile, pkcs11Lib, reusePin, ...tpm, now: ctx.now() }, ctx.keys).catch((e: unknown) => {
      if (e instanceof IamraError && e.code === 'KEY_PASSWORD_REQUIRED') {
        throw new IamraError('KEY_UNSUPPORTED', `${privateKeyFile} is encrypted, and the server cannot ask for its password: bind an unencrypted key readable only by the server (mode 0640, group iamra), or a key on a PKCS#11 token`, { cause: e })
      }
      throw e
    })
    const creds = await createSession(session.request, identity, session.endpoint, {
      transport: createTransport(session.transport), now: ctx.now, sleep: (ms) => new Promise((r) => setTimeout(r, ms)), random: Math.random, userAgent: userAgent(),
    }).catch((e: unknown) => {
      if (e instanceof IamraError && e.code === 'KEY_PASSWORD_REQUIRED') {
        throw new IamraError('USAGE', `${privateKeyFile} is a TPM key with a password, and the server cannot ask for it: pass --tpm-key-password-file /path/to/file (or --no-tpm-key-password)`, { cause: e })
      }
      throw e
    })
    ctx.stderr(`iamra: validated ${name}: CreateSession for ${creds.assumedRoleArn ?? creds.roleArn} succeeded`)
  }
  await writeBinding(dir, {
    binding: {
      name, secretHash, certificateFiles, intermediatesFiles, privateKeyFile, mode,
      request: session.request,
      region: a.region as string | undefined,
      endpoint: a.endpoint as string | undefined,
      pkcs11Lib,
      reusePin,
      ...tpm,
      createdAt: ctx.now().toISOString(),
    },
    envFile,
    tokenFile: mode === 'ecs-full-token-file' ? { content: token, gid } : undefined,
  })
  ctx.stderr(`iamra: bound ${name} (mode ${mode}); consumers use EnvironmentFile=${paths.env}`)
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
    if (parsed.pinValue !== undefined) throw new IamraError('USAGE', `${parsed.display}: a binding must not hold a PIN; use pin-source=/path/to/pin-file instead of pin-value`)
    if (parsed.pinSource !== undefined && !parsed.pinSource.replace(/^file:\/\//, '').startsWith('/')) {
      throw new IamraError('USAGE', `${parsed.display}: pin-source must be an absolute path (the server reads it)`)
    }
  }
  if (uris.length > 0 && !uris.some((u) => parsePkcs11Uri(u).pinSource !== undefined)) {
    throw new IamraError('USAGE', 'a binding with a pkcs11: URI needs pin-source=/path/to/pin-file in it: the server cannot ask for a PIN')
  }
}
