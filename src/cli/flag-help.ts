/**
 * The one help layout every command prints. Its own module: the official helper's commands import it
 * only when --help is given, so their start-up does not load it.
 */
import type { FlagSpec, FlagTable } from './flags.js'

const placeholderOf = (s: FlagSpec): string =>
  s.placeholder ?? (s.type === 'choice' ? (s.choices ?? []).join('|') : s.type === 'integer' || s.type === 'number' ? 'N' : 'VALUE')

/** The one help layout: usage, summary, then the flags (by group, in table order). */
export function helpText(usage: string, summary: string, table: FlagTable, positionals: ReadonlyArray<readonly [string, string]> = []): string {
  const row = (left: string, text: string): string => `${left.padEnd(36)} ${text}`
  const groups = new Map<string, string[]>()
  for (const [name, s] of Object.entries(table)) {
    if (s.hidden === true) continue
    const left = `  --${name}${s.type === 'boolean' ? '' : ` ${placeholderOf(s)}`}`
    const shownDefault = s.defaultText ?? (s.default === undefined || s.default === false ? undefined : String(s.default))
    const extra = [s.required === true ? 'required' : '', s.multiple === true ? 'repeatable' : '', shownDefault !== undefined ? `default ${shownDefault}` : '']
      .filter(Boolean)
      .join(', ')
    const rows = groups.get(s.group ?? 'Flags:') ?? []
    rows.push(row(left, `${s.description}${extra ? ` (${extra})` : ''}`))
    groups.set(s.group ?? 'Flags:', rows)
  }
  const args = positionals.length === 0 ? '' : `Arguments:\n${positionals.map(([n, d]) => row(`  ${n}`, d)).join('\n')}\n\n`
  const sections = [...groups].map(([title, rows]) => `${title}\n${rows.join('\n')}\n`).join('\n')
  return `Usage: ${usage}\n\n${summary}\n\n${args}${sections}`
}
