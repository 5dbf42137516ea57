/** `iamra fake-endpoint`: runs the verifying fake Roles Anywhere endpoint until SIGINT/SIGTERM. */
import { readFile } from 'node:fs/promises'
import { IamraError } from '../../errors.js'
import { certificatesOf, type FakeConfig } from '../../testing/fake-endpoint/handler.js'
import { startFakeEndpoint } from '../../testing/fake-endpoint/server.js'
import { stsMinter } from '../../testing/fake-endpoint/sts-mint.js'
import type { CliContext } from '../context.js'
import { helpText } from '../flag-help.js'
import { parseFlags } from '../flags.js'

const FLAGS = {
  'trust-anchor': { type: 'string', multiple: true, placeholder: 'FILE', description: 'trusted CA certificates (PEM); required' },
  region: { type: 'string', placeholder: 'REGION', default: 'us-east-1', description: 'signing region and ARN region to require' },
  host: { type: 'string', placeholder: 'HOST', default: '127.0.0.1', description: 'address to listen on' },
  port: { type: 'integer', min: 0, max: 65535, default: 0, placeholder: 'PORT', description: 'port to listen on (0: any free port)' },
  'trust-anchor-arn': { type: 'string', multiple: true, placeholder: 'ARN', defaultText: 'any in the region', description: 'accepted trust-anchor ARN' },
  'profile-arn': { type: 'string', multiple: true, placeholder: 'ARN', defaultText: 'any in the region', description: 'accepted profile ARN' },
  'path-prefix': { type: 'string', placeholder: 'PATH', description: 'serve POST PATH/sessions instead of /sessions' },
  'max-skew-seconds': { type: 'integer', min: 0, max: 86_400, default: 300, placeholder: 'N', description: 'allowed X-Amz-Date skew' },
  'sts-endpoint': { type: 'string', placeholder: 'URL', description: 'mint real credentials with sts:AssumeRole at URL (e.g. moto)' },
  'sts-access-key-id': { type: 'string', placeholder: 'ID', description: 'access key for --sts-endpoint' },
  'sts-secret-access-key': { type: 'string', secret: true, placeholder: 'KEY', description: 'secret key for --sts-endpoint' },
  help: { type: 'boolean', description: 'show this help' },
} as const

export const HELP = helpText(
  'iamra fake-endpoint --trust-anchor FILE [flags]',
  'Runs a fake IAM Roles Anywhere CreateSession endpoint over plain HTTP for offline tests. It checks\nSigV4-X509 signatures, certificate chains and parameters like the service and answers in its shapes.',
  FLAGS,
)

export async function run(args: readonly string[], ctx: CliContext): Promise<number> {
  const { flags, positionals } = parseFlags('fake-endpoint', FLAGS, args)
  if (positionals.length > 0) throw new IamraError('USAGE', `fake-endpoint: unexpected argument "${positionals[0]}" (see iamra fake-endpoint --help)`)
  if (flags.help === true) {
    ctx.stdout(HELP)
    return 0
  }
  const anchorFiles = flags['trust-anchor'] ?? []
  if (anchorFiles.length === 0) throw new IamraError('USAGE', 'fake-endpoint needs --trust-anchor FILE (a CA certificate in PEM)')
  const trustAnchors: string[] = []
  for (const file of anchorFiles) {
    let pem: string
    try {
      pem = await readFile(file, 'utf8')
    } catch (e) {
      throw new IamraError('CERT_UNREADABLE', `cannot read trust anchor ${file}: ${(e as Error).message}`, { cause: e })
    }
    try {
      certificatesOf(pem)
    } catch (e) {
      throw new IamraError('CERT_MALFORMED', `trust anchor ${file}: ${(e as Error).message}`, { cause: e })
    }
    trustAnchors.push(pem)
  }
  const sts = [flags['sts-endpoint'], flags['sts-access-key-id'], flags['sts-secret-access-key']]
  if (sts.some((v) => v !== undefined) && sts.some((v) => v === undefined)) {
    throw new IamraError('USAGE', '--sts-endpoint, --sts-access-key-id and --sts-secret-access-key go together')
  }
  const [stsEndpoint, accessKeyId, secretAccessKey] = sts
  const region = flags.region
  const config: FakeConfig & { host: string; port: number } = {
    trustAnchors,
    region,
    host: flags.host,
    port: flags.port,
    maxSkewMs: flags['max-skew-seconds'] * 1000,
    // The CLI's clock and randomness, not the kit's own: this command is below the CLI's entry point.
    now: ctx.now,
    randomBytes: ctx.randomBytes,
    ...(flags['trust-anchor-arn'] === undefined ? {} : { trustAnchorArns: flags['trust-anchor-arn'] }),
    ...(flags['profile-arn'] === undefined ? {} : { profileArns: flags['profile-arn'] }),
    ...(flags['path-prefix'] === undefined ? {} : { pathPrefix: flags['path-prefix'] }),
    ...(stsEndpoint === undefined || accessKeyId === undefined || secretAccessKey === undefined
      ? {}
      : { mint: stsMinter({ endpoint: stsEndpoint, accessKeyId, secretAccessKey, region, now: ctx.now }) }),
    // One line per request; FakeCall carries no secrets.
    onCall: (c) => ctx.stderr(`${c.at.toISOString()} ${c.status} ${c.errorMessage ?? 'credentials issued'} role=${c.roleArn ?? '-'} serial=${c.serial ?? '-'}`),
  }
  let endpoint: Awaited<ReturnType<typeof startFakeEndpoint>>
  try {
    endpoint = await startFakeEndpoint(config)
  } catch (e) {
    throw new IamraError('LISTEN_FAILED', `cannot listen on ${config.host}:${config.port}: ${(e as Error).message}`, { cause: e })
  }
  ctx.stdout(`fake Roles Anywhere endpoint listening on ${endpoint.url}${(flags['path-prefix'] ?? '').replace(/\/+$/, '')}\n`)
  await new Promise<void>((resolve) => {
    if (ctx.stopSignal.aborted) resolve()
    else ctx.stopSignal.addEventListener('abort', () => resolve(), { once: true })
  })
  await endpoint.close()
  return 0
}
