/** `iamra fake-endpoint`: runs the verifying fake Roles Anywhere endpoint until SIGINT/SIGTERM. */
import { readFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { IamraError } from '../../errors.js'
import { certificatesOf, type FakeConfig } from '../../testing/fake-endpoint/handler.js'
import { startFakeEndpoint } from '../../testing/fake-endpoint/server.js'
import { stsMinter } from '../../testing/fake-endpoint/sts-mint.js'
import type { CliContext } from '../context.js'

export const HELP = `Usage: iamra fake-endpoint --trust-anchor FILE [flags]

Runs a fake IAM Roles Anywhere CreateSession endpoint over plain HTTP for offline tests. It checks
SigV4-X509 signatures, certificate chains and parameters like the service and answers in its shapes.

Flags:
  --trust-anchor FILE          trusted CA certificates (PEM); repeatable, required
  --region REGION              signing region and ARN region to require (default us-east-1)
  --host HOST                  address to listen on (default 127.0.0.1)
  --port PORT                  port to listen on (default 0: any free port)
  --trust-anchor-arn ARN       accepted trust-anchor ARN; repeatable (default: any in the region)
  --profile-arn ARN            accepted profile ARN; repeatable (default: any in the region)
  --path-prefix PATH           serve POST PATH/sessions instead of /sessions
  --max-skew-seconds N         allowed X-Amz-Date skew (default 300)
  --sts-endpoint URL           mint real credentials with sts:AssumeRole at URL (e.g. moto)
  --sts-access-key-id ID       access key for --sts-endpoint
  --sts-secret-access-key KEY  secret key for --sts-endpoint
  --help                       show this help
`

const OPTIONS = {
  'trust-anchor': { type: 'string', multiple: true },
  region: { type: 'string' },
  host: { type: 'string' },
  port: { type: 'string' },
  'trust-anchor-arn': { type: 'string', multiple: true },
  'profile-arn': { type: 'string', multiple: true },
  'path-prefix': { type: 'string' },
  'max-skew-seconds': { type: 'string' },
  'sts-endpoint': { type: 'string' },
  'sts-access-key-id': { type: 'string' },
  'sts-secret-access-key': { type: 'string' },
  help: { type: 'boolean' },
} as const

function integer(value: string | undefined, flag: string, max: number, fallback: number): number {
  if (value === undefined) return fallback
  if (!/^\d+$/.test(value) || Number(value) > max) throw new IamraError('USAGE', `--${flag} must be an integer from 0 to ${max}, got "${value}"`)
  return Number(value)
}

function parse(args: readonly string[]) {
  try {
    return parseArgs({ args: [...args], options: OPTIONS, strict: true, allowPositionals: false }).values
  } catch (e) {
    throw new IamraError('USAGE', `fake-endpoint: ${(e as Error).message.replace(/\. To specify a positional argument.*$/s, '')}`, { cause: e })
  }
}

export async function run(args: readonly string[], ctx: CliContext): Promise<number> {
  const flags = parse(args)
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
  const region = flags.region ?? 'us-east-1'
  const config: FakeConfig & { host: string; port: number } = {
    trustAnchors,
    region,
    host: flags.host ?? '127.0.0.1',
    port: integer(flags.port, 'port', 65535, 0),
    maxSkewMs: integer(flags['max-skew-seconds'], 'max-skew-seconds', 86_400, 300) * 1000,
    ...(flags['trust-anchor-arn'] === undefined ? {} : { trustAnchorArns: flags['trust-anchor-arn'] }),
    ...(flags['profile-arn'] === undefined ? {} : { profileArns: flags['profile-arn'] }),
    ...(flags['path-prefix'] === undefined ? {} : { pathPrefix: flags['path-prefix'] }),
    ...(stsEndpoint === undefined || accessKeyId === undefined || secretAccessKey === undefined
      ? {}
      : { mint: stsMinter({ endpoint: stsEndpoint, accessKeyId, secretAccessKey, region }) }),
    // One line per request; FakeCall carries no secrets.
    onCall: (c) => ctx.stderr(`${c.at.toISOString()} ${c.status} ${c.errorMessage ?? 'credentials issued'} role=${c.roleArn ?? '-'} serial=${c.serial ?? '-'}`),
  }
  let endpoint: Awaited<ReturnType<typeof startFakeEndpoint>>
  try {
    endpoint = await startFakeEndpoint(config)
  } catch (e) {
    throw new IamraError('USAGE', `cannot listen on ${config.host}:${config.port}: ${(e as Error).message}`, { cause: e })
  }
  ctx.stdout(`fake Roles Anywhere endpoint listening on ${endpoint.url}${(flags['path-prefix'] ?? '').replace(/\/+$/, '')}\n`)
  await new Promise<void>((resolve) => {
    if (ctx.stopSignal.aborted) resolve()
    else ctx.stopSignal.addEventListener('abort', () => resolve(), { once: true })
  })
  await endpoint.close()
  return 0
}
