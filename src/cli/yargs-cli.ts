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
  let built: Argv | undefined
  const module: CommandModule = {
    command: cmd.command,
    describe: cmd.describe,
    builder: (y) => (built = cmd.builder(y)),
    handler: async (argv) => {
      code = await cmd.handler(lastWins(argv as Record<string, unknown>, built), ctx)
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
  if (output !== '') ctx.stdout(`${output}\n`)
  return code
}

/** A repeated single-value flag gives yargs an array; as with cobra, the last value wins. */
function lastWins(args: Record<string, unknown>, y: Argv | undefined): Record<string, unknown> {
  // getOptions() exists at run time but is missing from @types/yargs 17.
  const arrays = new Set((y as unknown as { getOptions?: () => { array?: string[] } } | undefined)?.getOptions?.().array ?? [])
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(args)) out[k] = Array.isArray(v) && !arrays.has(k) && k !== '_' ? v[v.length - 1] : v
  return out
}
