/**
 * The one flag layer every command declares its flags through: a table (name → type, default,
 * description, ...) that drives parsing, the checks of numbers and choices, and the help text. The
 * official helper's commands parse with node:util.parseArgs (start-up speed); bind, unbind and serve
 * hand the same table to yargs (yargs-cli.ts), and both give back the same shape: typed values with
 * defaults applied, plus the set of flags actually given.
 */
import { parseArgs } from 'node:util'
import { IamraError } from '../errors.js'

export interface FlagSpec {
  /** `integer` and `number` come out as numbers, checked against min/max; `choice` against choices. */
  readonly type: 'string' | 'boolean' | 'integer' | 'number' | 'choice'
  /** Repeatable; the values come out as an array. A repeated single-value flag: the last one wins. */
  readonly multiple?: boolean
  readonly description: string
  /** Applied when the flag is absent (it is then not in `given`); shown in help. */
  readonly default?: string | number | boolean
  /** Shown in help only: a default the command (or the core) works out itself. */
  readonly defaultText?: string
  readonly placeholder?: string
  readonly min?: number
  readonly max?: number
  /** `seconds`: the message of a bad value says "a whole number of seconds from MIN to MAX". */
  readonly unit?: 'seconds'
  readonly choices?: readonly string[]
  /** Choices compared without regard to case; the value comes out spelled as in `choices`. */
  readonly ignoreCase?: boolean
  readonly required?: boolean
  /** Holds a secret: its value is never repeated in a message. */
  readonly secret?: boolean
  /** Help section heading. */
  readonly group?: string
  readonly hidden?: boolean
}

export type FlagTable = Readonly<Record<string, FlagSpec>>

type ValueOf<S extends FlagSpec> = S['type'] extends 'boolean'
  ? boolean
  : S['type'] extends 'integer' | 'number'
    ? number
    : S['type'] extends 'choice'
      ? S['choices'] extends readonly (infer C)[]
        ? C
        : string
      : S['multiple'] extends true
        ? string[]
        : string

/** Flags with a default in the table are always present after parsing; the others may be absent. */
export type ParsedFlags<T extends FlagTable> = { -readonly [K in keyof T as T[K] extends { readonly default: unknown } ? K : never]: ValueOf<T[K]> } & {
  -readonly [K in keyof T as T[K] extends { readonly default: unknown } ? never : K]?: ValueOf<T[K]>
}

export interface Parsed<T extends FlagTable> {
  readonly flags: ParsedFlags<T>
  /** The flags on the command line (defaults are not given). */
  readonly given: ReadonlySet<keyof T & string>
  readonly positionals: string[]
}

/** Parses with node:util.parseArgs: cobra spellings (`--flag value`, `--flag=value`, `--bool=true`). */
export function parseFlags<T extends FlagTable>(command: string, table: T, args: readonly string[]): Parsed<T> {
  const normalised: string[] = []
  for (const arg of args) {
    const m = /^--([a-z0-9-]+)=(true|false)$/i.exec(arg)
    const spec = m?.[1] === undefined ? undefined : table[m[1]]
    if (m !== null && spec?.type === 'boolean') {
      if (m[2]?.toLowerCase() === 'true') normalised.push(`--${m[1]}`)
      continue
    }
    normalised.push(arg)
  }
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = {}
  for (const [name, spec] of Object.entries(table)) {
    const type = spec.type === 'boolean' ? 'boolean' : 'string'
    options[name] = spec.multiple === true ? { type, multiple: true } : { type }
  }
  let values: Record<string, string | boolean | (string | boolean)[] | undefined>
  let positionals: string[]
  try {
    ;({ values, positionals } = parseArgs({ args: normalised, options, strict: true, allowPositionals: true }))
  } catch (e) {
    const msg = (e as Error).message.replace(/\. To specify a positional argument.*$/s, '')
    throw new IamraError('USAGE', `${command}: ${msg} (see iamra ${command} --help)`)
  }
  return { ...typedFlags(table, values), positionals }
}

/**
 * Raw values (strings, booleans, arrays of them) as a parser left them → typed values with defaults,
 * every number and choice checked here and only here. `--help` skips the checks.
 */
export function typedFlags<T extends FlagTable>(table: T, raw: Readonly<Record<string, unknown>>): Omit<Parsed<T>, 'positionals'> {
  const flags: Record<string, unknown> = {}
  const given = new Set<keyof T & string>()
  const checking = raw.help !== true
  for (const [name, spec] of Object.entries(table)) {
    const v = raw[name]
    if (v === undefined) {
      if (spec.default !== undefined) flags[name] = spec.default
      continue
    }
    given.add(name)
    if (spec.type === 'boolean') flags[name] = v === true || v === 'true'
    else if (spec.multiple === true) flags[name] = (Array.isArray(v) ? v : [v]).map(String)
    else {
      const one = String(Array.isArray(v) ? v[v.length - 1] : v)
      flags[name] = checking ? checkValue(name, spec, one) : one
    }
  }
  return { flags: flags as ParsedFlags<T>, given }
}

/** The one check of a number or a choice given as text. */
export function checkValue(name: string, spec: FlagSpec, raw: string): string | number {
  const shown = spec.secret === true ? '(not shown)' : `"${raw}"`
  if (spec.type === 'choice') {
    const choices = spec.choices ?? []
    const found = choices.find((c) => (spec.ignoreCase === true ? c.toLowerCase() === raw.toLowerCase() : c === raw))
    if (found === undefined) throw new IamraError('USAGE', `--${name} must be ${choices.slice(0, -1).join(', ')} or ${choices.at(-1) ?? ''}, got ${shown}`)
    return found
  }
  if (spec.type !== 'integer' && spec.type !== 'number') return raw
  const min = spec.min ?? Number.MIN_SAFE_INTEGER
  const max = spec.max ?? Number.MAX_SAFE_INTEGER
  const pattern = spec.type === 'integer' ? /^\s*-?\d+\s*$/ : /^\s*-?(\d+\.?\d*|\.\d+)\s*$/
  const n = pattern.test(raw) ? Number(raw) : NaN
  const kind = spec.type === 'integer' ? 'a whole number' : 'a number'
  if (spec.unit === 'seconds') {
    if (!(n >= min && n <= max)) throw new IamraError('USAGE', `--${name} must be ${kind} of seconds from ${min} to ${max}, got ${shown}`)
  } else {
    if (Number.isNaN(n)) throw new IamraError('USAGE', `--${name} must be ${kind}, got ${shown}`)
    if (n < min || n > max) throw new IamraError('USAGE', `--${name} must be between ${min} and ${max}, got ${spec.secret === true ? shown : n}`)
  }
  return n
}

/** One value of a flag that may be repeated: the last one wins, as with cobra. */
export function last(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[v.length - 1] : v
}

export function list(v: string | string[] | undefined): string[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v]
}

/** A command whose flags yargs parses (bind, unbind, serve): the same table, the same help. */
export interface TableCommand<T extends FlagTable> {
  readonly usage: string
  readonly summary: string
  /** One required positional argument: name and description. */
  readonly positional?: readonly [string, string]
  readonly flags: T
  run(parsed: Parsed<T>, ctx: import('./context.js').CliContext): Promise<number>
}
