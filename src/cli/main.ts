/**
 * The iamra command line. Commands are loaded lazily so that `credential-process`, which the AWS
 * CLI spawns for every command, loads nothing it does not use.
 */
import { IamraError, EXIT } from '../errors.js'
import { redactKeyMaterial } from '../secrets/key-material.js'
import { VERSION } from '../version.js'
import { refuseKeyMaterialInArgv } from './argv-secrets.js'
import type { CliContext, CliEnvironment } from './context.js'
import { KeyBackends } from '../keys/key-backends.js'
// credential-process is in the entry module itself: the AWS CLI starts it for every command, and
// each extra module costs start-up time. Every other command is a chunk loaded when it runs.
import * as credentialProcess from './commands/credential-process.js'
import type { FlagTable, TableCommand } from './flags.js'

type Command = { run(args: readonly string[], ctx: CliContext): Promise<number> }

/** A yargs-parsed command, loaded (with yargs) only when it runs. */
function yargsCommand<T extends FlagTable>(name: string, load: () => Promise<{ command: TableCommand<T> }>): () => Promise<Command> {
  return async () => {
    const [{ runYargs }, { command }] = await Promise.all([import('./yargs-cli.js'), load()])
    return { run: (args, ctx) => runYargs(name, command, args, ctx) }
  }
}

const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  'credential-process': { summary: 'print temporary credentials for credential_process', load: async () => credentialProcess },
  'sign-string': { summary: 'sign the official test string with a private key', load: async () => (await import('./commands/helper-extras.js')).signString },
  'read-certificate-data': {
    summary: 'describe a certificate (key type, DER, decimal serial)',
    load: async () => (await import('./commands/helper-extras.js')).readCertificateData,
  },
  'fake-endpoint': { summary: 'run a verifying fake Roles Anywhere endpoint for offline tests', load: () => import('./commands/fake-endpoint.js') },
  bind: { summary: 'bind a role to a consumer (binding file, env file, token)', load: yargsCommand('bind', () => import('./commands/bind.js')) },
  unbind: { summary: 'remove a binding; its token stops working at once', load: yargsCommand('unbind', () => import('./commands/unbind.js')) },
  serve: { summary: 'run the multi-role ECS credentials server', load: yargsCommand('serve', () => import('./commands/serve.js')) },
  update: { summary: 'keep a profile in ~/.aws/credentials refreshed (official helper drop-in)', load: () => import('./commands/update.js') },
  probe: { summary: 'exit 0 when an http:// health URL answers 200 (exec probes)', load: () => import('./commands/probe.js') },
  version: {
    summary: 'print the version',
    load: async () => ({
      run: async (_a, ctx) => {
        ctx.stdout(`${VERSION}\n`)
        return 0
      },
    }),
  },
}

export function usage(): string {
  const rows = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(24)} ${c.summary}`)
  return `iamra ${VERSION}: AWS IAM Roles Anywhere credential helper\n\nUsage: iamra COMMAND [flags]\n\nCommands:\n${rows.join('\n')}\n\nRun "iamra COMMAND --help" for a command's flags. Exit codes: 0 ok, 1 other, 2 usage,\n3 local identity problem, 4 denied by the service, 5 throttled or unavailable.\n`
}

/**
 * Runs one command line; returns the exit code. Errors are reported here, on one stderr line.
 * The key backends (PKCS#11 sessions and modules, the TPM device) are created here for the command
 * and disposed here when it returns, whatever it is: a one-shot command or a server that stopped.
 */
export async function main(argv: readonly string[], env: CliEnvironment): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    env.stdout(usage())
    return EXIT.OK
  }
  if (name === '--version') return main(['version'], env)
  const command = COMMANDS[name]
  const ctx: CliContext = { ...env, keys: new KeyBackends({ tpmDevice: env.env.TPM_DEVICE }) }
  try {
    refuseKeyMaterialInArgv(command === undefined ? 'iamra' : name, argv)
    if (command === undefined) throw new IamraError('USAGE', `unknown command "${name}" (run iamra --help)`)
    return await (await command.load()).run(rest, ctx)
  } catch (e) {
    if (e instanceof IamraError) {
      // The flag names are loaded on failure only: a command that succeeds does not pay for them.
      const { flagOf } = await import('./error-advice.js')
      ctx.stderr(`iamra: ${redactKeyMaterial(e.describe(flagOf))} [${e.code}]`)
      return e.exitCode
    }
    ctx.stderr(`iamra: internal error: ${redactKeyMaterial((e as Error).message ?? String(e))} [INTERNAL]`)
    return EXIT.OTHER
  } finally {
    await ctx.keys.dispose()
  }
}
