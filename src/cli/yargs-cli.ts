/**
 * The server-side commands (bind, unbind, serve) on yargs: option types, choices and help. Loaded
 * only for these commands. No environment fallbacks: with strict parsing any stray IAMRA_* variable
 * would make every command fail, and flags in unit files are explicit.
 */
import yargs, { type Argv, type CommandModule } from 'yargs'
import { IamraError } from '../errors.js'
import type { CliContext } from './context.js'

export interface YargsCommand {
  readonly command: string
  readonly describe: string
  builder(y: Argv): Argv
  handler(args: Record<string, unknown>, ctx: CliContext): Promise<number>
}

export async function runYargs(name: string, load: () => Promise<YargsCommand>, args: readonly string[], ctx: CliContext): Promise<number> {
  const cmd = await load()
  let code = 0
  let failure: unknown
  const module: CommandModule = {
    command: cmd.command,
    describe: cmd.describe,
    builder: (y) => cmd.builder(y),
    handler: async (argv) => {
      code = await cmd.handler(argv as Record<string, unknown>, ctx)
    },
  }
  const parser = yargs([name, ...args])
    .scriptName('iamra')
    .command(module)
    .demandCommand(1)
    .strict()
    .version(false)
    .help()
    .wrap(Math.min(110, process.stdout.columns ?? 100))
    .exitProcess(false)
    .fail((msg, err) => {
      failure = err ?? new IamraError('USAGE', `${name}: ${msg} (see iamra ${name} --help)`)
      throw failure
    })
  let output = ''
  try {
    await parser.parseAsync([name, ...args], {}, (_err, _argv, out) => {
      output = out
    })
  } catch (e) {
    throw failure ?? e
  }
  if (failure !== undefined) throw failure
  if (output !== '') ctx.stdout(output + '\n')
  return code
}
