/** `iamra update`: the drop-in for `aws_signing_helper update`, keeping one profile of ~/.aws/credentials fresh. */
import { fromCertificate } from '../../credentials/from-certificate.js'
import { IamraError } from '../../errors.js'
import { FileLocks } from '../../fs/lock.js'
import { checkCredentialsFile, credentialsFilePath, runUpdate } from '../../update/run-update.js'
import type { CliContext } from '../context.js'
import { helpText } from '../flag-help.js'
import { parseFlags } from '../flags.js'
import { checkIdentityFlags, sessionFromFlags, identityInputs, IDENTITY_FLAGS, SESSION_FLAGS } from '../identity-flags.js'

const FLAGS = {
  ...IDENTITY_FLAGS,
  ...SESSION_FLAGS,
  profile: { type: 'string', placeholder: 'NAME', default: 'default', description: 'profile (section) of the credentials file to write' },
  once: { type: 'boolean', description: 'write the credentials once and exit, instead of refreshing them until stopped' },
  help: { type: 'boolean', description: 'show this help' },
} as const

export const HELP = helpText(
  'iamra update --certificate FILE --private-key FILE --trust-anchor-arn ARN --profile-arn ARN --role-arn ARN [--profile NAME] [--once] [flags]',
  'Writes temporary credentials into $AWS_SHARED_CREDENTIALS_FILE (default ~/.aws/credentials) and refreshes them\n20 minutes before they expire, until stopped. See docs/update.md.',
  FLAGS,
)

export async function run(args: readonly string[], ctx: CliContext): Promise<number> {
  const { flags, positionals } = parseFlags('update', FLAGS, args)
  if (flags.help === true) {
    ctx.stdout(HELP)
    return 0
  }
  if (positionals.length > 0) throw new IamraError('USAGE', `update: unexpected argument "${positionals[0]}" (see iamra update --help)`)
  checkIdentityFlags(flags)
  const profile = flags.profile
  if (profile === '' || /[\r\n[\]]/.test(profile)) throw new IamraError('USAGE', '--profile must be non-empty and hold no line break or square bracket')
  const session = sessionFromFlags(flags, ctx.env)
  const file = credentialsFilePath(ctx.env, process.cwd())
  await checkCredentialsFile(file)
  const debug = flags.debug === true ? (line: string) => ctx.stderr(`debug: ${line}`) : undefined
  const provider = fromCertificate({
    identity: identityInputs(flags, askOnce(ctx.promptPassword), ctx.env),
    keys: ctx.keys,
    session,
    now: ctx.now,
    random: ctx.random,
    debug,
  })
  return runUpdate({
    provider,
    file,
    profile,
    once: flags.once === true,
    now: ctx.now,
    sleep: abortableSleep,
    random: ctx.random,
    locks: new FileLocks(ctx),
    log: ctx.stderr,
    signal: ctx.stopSignal,
  })
}

/** The loop reloads the key at every refresh: ask for its password once, not every hour. */
function askOnce(ask: CliContext['promptPassword']): CliContext['promptPassword'] {
  let answer: string | undefined
  return async (message) => (answer ??= await ask(message))
}

/** setTimeout that resolves early on abort; the timer keeps the process alive while the loop waits. */
function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve()
    const done = (): void => {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    signal.addEventListener('abort', done, { once: true })
  })
}
