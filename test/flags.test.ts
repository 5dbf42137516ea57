import t from 'tap'
import { realRandom } from './helpers/runtime.js'
import { KeyBackends } from '../src/keys/key-backends.js'
import type { CliContext } from '../src/cli/context.js'
import { helpText } from '../src/cli/flag-help.js'
import { checkValue, parseFlags, type FlagTable, type Parsed, type TableCommand } from '../src/cli/flags.js'
import { runYargs } from '../src/cli/yargs-cli.js'
import type { IamraError } from '../src/errors.js'

const TABLE = {
  name: { type: 'string', placeholder: 'NAME', description: 'a name' },
  file: { type: 'string', multiple: true, description: 'files' },
  wait: { type: 'integer', unit: 'seconds', min: 1, max: 300, default: 10, description: 'seconds' },
  count: { type: 'integer', min: 0, max: 5, description: 'how many' },
  ratio: { type: 'number', min: 0, max: 2, description: 'a fraction' },
  level: { type: 'choice', choices: ['low', 'high'], ignoreCase: true, default: 'low', description: 'level' },
  cache: { type: 'boolean', default: true, description: 'cache' },
  'no-check': { type: 'boolean', description: 'skip the check' },
  password: { type: 'string', secret: true, description: 'a password' },
  help: { type: 'boolean', description: 'help' },
} as const satisfies FlagTable

const ctx = (out: string[] = []): CliContext => ({
  env: {},
  stdout: (c) => void out.push(String(c)),
  stderr: () => {},
  now: () => new Date(),
  promptPassword: async () => undefined,
  stopSignal: new AbortController().signal,
  ...realRandom,
  keys: new KeyBackends(),
})

/** The same command line through yargs (bind, unbind, serve) and parseArgs (the official helper's commands). */
async function both(args: string[]): Promise<[Parsed<typeof TABLE>, Parsed<typeof TABLE>]> {
  let viaYargs: Parsed<typeof TABLE> | undefined
  const command: TableCommand<typeof TABLE> = {
    usage: 'iamra x',
    summary: 'x',
    flags: TABLE,
    run: async (p) => {
      viaYargs = p
      return 0
    },
  }
  await runYargs('x', command, args, ctx())
  return [parseFlags('x', TABLE, args), viaYargs as Parsed<typeof TABLE>]
}

const codeOf = (f: () => unknown): string | undefined => {
  try {
    f()
  } catch (e) {
    return (e as IamraError).code
  }
  return undefined
}

t.test('one table: parseArgs and yargs give the same typed values, defaults and given flags', async (t) => {
  const args = ['--name', 'a', '--name', 'b', '--file', 'f1', '--file', 'f2', '--wait', '30', '--count=3', '--ratio', '0.5', '--level', 'HIGH', '--no-check']
  const [a, b] = await both(args)
  for (const p of [a, b]) {
    t.same(p.flags, { name: 'b', file: ['f1', 'f2'], wait: 30, count: 3, ratio: 0.5, level: 'high', cache: true, 'no-check': true })
    t.same([...p.given].sort(), ['count', 'file', 'level', 'name', 'no-check', 'ratio', 'wait'])
  }
  // `--no-FLAG` for any boolean is a yargs spelling that bind and serve users have; the official helper's commands do not take it.
  let off: Parsed<typeof TABLE> | undefined
  await runYargs(
    'x',
    {
      usage: 'iamra x',
      summary: 'x',
      flags: TABLE,
      run: async (p) => {
        off = p
        return 0
      },
    },
    ['--no-cache'],
    ctx(),
  )
  t.same(
    [off?.flags.cache, off?.given.has('cache'), off?.flags.wait, off?.given.has('wait')],
    [false, true, 10, false],
    'yargs: --no-cache given, --wait defaulted',
  )
  t.throws(() => parseFlags('x', TABLE, ['--no-cache']), { code: 'USAGE' }, 'parseArgs: no negation')
  t.same(parseFlags('x', TABLE, ['--cache=false']).flags.cache, true, 'parseArgs: --bool=false leaves the default')
})

t.test('numbers and choices are checked once, with one wording', async (t) => {
  const usage = async (args: string[], message: RegExp): Promise<void> => {
    t.throws(() => parseFlags('x', TABLE, args), { code: 'USAGE', message }, `parseArgs ${args.join(' ')}`)
    await t.rejects(both(args), { code: 'USAGE', message }, `yargs ${args.join(' ')}`)
  }
  await usage(['--wait', '0'], /^--wait must be a whole number of seconds from 1 to 300, got "0"$/)
  await usage(['--wait', '1e2'], /^--wait must be a whole number of seconds from 1 to 300, got "1e2"$/)
  await usage(['--count', 'x'], /^--count must be a whole number, got "x"$/)
  await usage(['--count', '6'], /^--count must be between 0 and 5, got 6$/)
  await usage(['--count', '1.5'], /^--count must be a whole number, got "1.5"$/)
  await usage(['--ratio', '3'], /^--ratio must be between 0 and 2, got 3$/)
  await usage(['--level', 'mid'], /^--level must be low or high, got "mid"$/)
  t.equal(
    codeOf(() => checkValue('pin', { type: 'integer', secret: true, description: '' }, 'hunter2')),
    'USAGE',
  )
  t.throws(() => checkValue('pin', { type: 'integer', secret: true, description: '' }, 'hunter2'), { message: /not shown/ }, 'a secret value is not repeated')
  t.same(parseFlags('x', TABLE, ['--help', '--count', 'x']).flags.help, true, '--help skips the checks')
})

t.test('unknown flags are usage errors in both parsers; yargs keeps its spellings', async (t) => {
  t.throws(() => parseFlags('x', TABLE, ['--bogus']), { code: 'USAGE', message: /^x: Unknown option '--bogus' \(see iamra x --help\)$/ })
  await t.rejects(both(['--bogus']), { code: 'USAGE', message: /Unknown argument: bogus/ })
})

t.test('one help layout, from the table, for both kinds of command', async (t) => {
  const text = helpText('iamra x [flags]', 'Does x.', TABLE, [['NAME', 'the name']])
  t.match(text, /^Usage: iamra x \[flags\]\n\nDoes x\.\n\nArguments:\n {2}NAME +the name\n\nFlags:\n/)
  t.match(text, /--wait N +seconds \(default 10\)/)
  t.match(text, /--level low\|high +level \(default low\)/)
  t.match(text, /--file VALUE +files \(repeatable\)/)
  const out: string[] = []
  const command: TableCommand<typeof TABLE> = {
    usage: 'iamra x [flags]',
    summary: 'Does x.',
    positional: ['NAME', 'the name'],
    flags: TABLE,
    run: async () => 1,
  }
  t.equal(await runYargs('x', command, ['--count', 'x', '--help'], ctx(out)), 0)
  t.equal(out.join(''), text, 'yargs commands print the same help')
})
