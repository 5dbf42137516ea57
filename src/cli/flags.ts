/**
 * A small declarative flag layer over node:util.parseArgs: cobra-compatible spellings
 * (`--flag value`, `--flag=value`, `--bool=true`), repeatable flags, help text, usage errors.
 */
import { parseArgs } from 'node:util'
import { IamraError } from '../errors.js'

export interface FlagSpec {
  readonly type: 'string' | 'boolean'
  readonly multiple?: boolean
  readonly description: string
  /** Shown in help; not applied (commands apply defaults, so "given" stays detectable). */
  readonly default?: string
  readonly placeholder?: string
}

export type FlagTable = Readonly<Record<string, FlagSpec>>

export type ParsedFlags<T extends FlagTable> = {
  [K in keyof T]?: T[K]['type'] extends 'boolean' ? boolean : T[K]['multiple'] extends true ? string[] : string
}

export function parseFlags<T extends FlagTable>(command: string, table: T, args: readonly string[]): { flags: ParsedFlags<T>; positionals: string[] } {
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
  for (const [name, spec] of Object.entries(table)) options[name] = spec.multiple === true ? { type: spec.type, multiple: true } : { type: spec.type }
  try {
    const { values, positionals } = parseArgs({ args: normalised, options, strict: true, allowPositionals: true })
    return { flags: values as ParsedFlags<T>, positionals }
  } catch (e) {
    const msg = (e as Error).message.replace(/\. To specify a positional argument.*$/s, '')
    throw new IamraError('USAGE', `${command}: ${msg} (see iamra ${command} --help)`)
  }
}

/** One value of a flag that may be repeated: the last one wins, as with cobra. */
export function last(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[v.length - 1] : v
}

export function list(v: string | string[] | undefined): string[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v]
}

export function integerFlag(name: string, raw: string | undefined, min: number, max: number, fallback: number): number {
  if (raw === undefined) return fallback
  if (!/^-?\d+$/.test(raw.trim())) throw new IamraError('USAGE', `--${name} must be a whole number, got "${raw}"`)
  const n = Number(raw)
  if (n < min || n > max) throw new IamraError('USAGE', `--${name} must be between ${min} and ${max}, got ${n}`)
  return n
}

export function helpText(usage: string, summary: string, table: FlagTable): string {
  const rows = Object.entries(table).map(([name, s]) => {
    const left = `  --${name}${s.type === 'string' ? ` ${s.placeholder ?? 'VALUE'}` : ''}`
    const extra = [s.multiple === true ? 'repeatable' : '', s.default !== undefined ? `default ${s.default}` : ''].filter(Boolean).join(', ')
    return `${left.padEnd(36)} ${s.description}${extra ? ` (${extra})` : ''}`
  })
  return `Usage: ${usage}\n\n${summary}\n\nFlags:\n${rows.join('\n')}\n`
}
