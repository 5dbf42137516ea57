/**
 * bind, unbind and serve parse their command lines with yargs (its spellings stay as users know
 * them: `--no-FLAG`, greedy arrays, camelCase aliases), from the flag table of flags.ts; the values
 * come back through typedFlags, and help is helpText's, as for every other command. Loaded only for
 * these commands. No environment fallbacks: with strict parsing any stray IAMRA_* variable would
 * make every command fail, and flags in unit files are explicit.
 */
import yargs, { type Argv, type Options } from 'yargs'
import { IamraError } from '../errors.js'
import type { CliContext } from './context.js'
import { helpText } from './flag-help.js'
import { typedFlags, type FlagTable, type TableCommand } from './flags.js'

export async function runYargs<T extends FlagTable>(name: string, cmd: TableCommand<T>, args: readonly string[], ctx: CliContext): Promise<number> {
  const end = args.indexOf('--')
  if ((end === -1 ? args : args.slice(0, end)).includes('--help')) {
    ctx.stdout(helpText(cmd.usage, cmd.summary, cmd.flags, cmd.positional === undefined ? [] : [cmd.positional]))
    return 0
  }
  let raw: Record<string, unknown> | undefined
  let failure: unknown
  const parser = yargs([name, ...args])
    .scriptName('iamra')
    .command({
      command: cmd.positional === undefined ? name : `${name} <${cmd.positional[0]}>`,
      describe: cmd.summary,
      builder: (y) => yargsOptions(cmd.positional === undefined ? y : y.positional(cmd.positional[0], { type: 'string' }), cmd.flags),
      handler: (argv) => {
        raw = argv as Record<string, unknown>
      },
    })
    .demandCommand(1)
    .strict()
    .version(false)
    .help(false)
    .exitProcess(false)
    .fail((msg, err) => {
      failure = err ?? new IamraError('USAGE', `${name}: ${msg} (see iamra ${name} --help)`)
      throw failure
    })
  try {
    await parser.parseAsync([name, ...args])
  } catch (e) {
    throw failure ?? e
  }
  if (failure !== undefined) throw failure
  if (raw === undefined) throw new IamraError('USAGE', `${name}: nothing to do (see iamra ${name} --help)`)
  const parsed = typedFlags(cmd.flags, fromYargs(cmd.flags, raw))
  const positional = cmd.positional === undefined ? undefined : raw[cmd.positional[0]]
  return cmd.run({ ...parsed, positionals: positional === undefined ? [] : [String(positional)] }, ctx)
}

/**
 * The table as yargs options. Numbers and choices reach yargs as text (typedFlags checks them); a
 * `no-X` flag is also yargs' negation of X, so X is declared (hidden) when the table lacks it.
 */
function yargsOptions(y: Argv, table: FlagTable): Argv {
  for (const [name, spec] of Object.entries(table)) {
    const opt: Options = { type: spec.type === 'boolean' ? 'boolean' : 'string' }
    if (spec.multiple === true) opt.array = true
    if (spec.required === true) opt.demandOption = true
    y = y.option(name, opt)
    const positive = /^no-(.+)$/.exec(name)?.[1]
    if (spec.type === 'boolean' && positive !== undefined && table[positive] === undefined) y = y.option(positive, { type: 'boolean', hidden: true })
  }
  return y
}

/** yargs' argv → the raw shape parseArgs gives: `--no-X` as the flag no-X; a negated string flag as absent. */
function fromYargs(table: FlagTable, argv: Record<string, unknown>): Record<string, unknown> {
  const raw: Record<string, unknown> = {}
  for (const name of Object.keys(table)) raw[name] = argv[name]
  for (const name of Object.keys(table)) {
    const positive = /^no-(.+)$/.exec(name)?.[1]
    if (positive === undefined || table[name]?.type !== 'boolean') continue
    if (argv[positive] === false) {
      raw[name] = true
      if (table[positive]?.type !== 'boolean') raw[positive] = undefined
    }
  }
  return raw
}
