/** `iamra credential-process`: the drop-in for `aws_signing_helper credential-process`. */
import { fromCertificate } from '../../credentials/from-certificate.js'
import { processOutput } from '../../credentials/process-output.js'
import { resolveSessionConfig } from '../../rolesanywhere/session-config.js'
import type { CliContext } from '../context.js'
import { helpText, last, list, parseFlags } from '../flags.js'
import { checkIdentityFlags, IDENTITY_FLAGS, SESSION_FLAGS } from '../identity-flags.js'

const FLAGS = { ...IDENTITY_FLAGS, ...SESSION_FLAGS, help: { type: 'boolean', description: 'show this help' } } as const

export const HELP = helpText(
  'iamra credential-process --certificate FILE --private-key FILE --trust-anchor-arn ARN --profile-arn ARN --role-arn ARN [flags]',
  'Obtains temporary credentials from IAM Roles Anywhere and prints them in the credential_process format.',
  FLAGS,
)

export async function run(args: readonly string[], ctx: CliContext): Promise<number> {
  const { flags } = parseFlags('credential-process', FLAGS, args)
  if (flags.help === true) {
    ctx.stdout(HELP)
    return 0
  }
  checkIdentityFlags(flags)
  const session = resolveSessionConfig({
    trustAnchorArn: flags['trust-anchor-arn'],
    profileArn: flags['profile-arn'],
    roleArn: flags['role-arn'],
    sessionDuration: flags['session-duration'],
    roleSessionName: flags['role-session-name'],
    region: flags.region,
    endpoint: flags.endpoint,
    verifyTls: flags['no-verify-ssl'] !== true,
    timeoutSeconds: flags.timeout,
    env: ctx.env,
  })
  const debug = flags.debug === true ? (line: string) => ctx.stderr(`debug: ${line}`) : undefined
  const provider = fromCertificate({
    identity: {
      certificateFiles: list(flags.certificate),
      intermediatesFiles: list(flags.intermediates),
      privateKeyFile: flags['private-key'],
      password: last(flags['pkcs8-password']),
      prompt: ctx.promptPassword,
    },
    session,
    now: ctx.now,
    debug,
  })
  const creds = await provider()
  debug?.(`obtained credentials for ${creds.assumedRoleArn ?? creds.roleArn}, expiring ${creds.expiration}`)
  ctx.stdout(processOutput(creds))
  return 0
}
