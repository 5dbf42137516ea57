/**
 * Reading a binding's env file (systemd EnvironmentFile= syntax, as renderEnvFile in modes.ts writes
 * it): `KEY=value`, `KEY="value"` (\-escapes), `KEY='value'`, comments.
 */
export function parseEnvFile(text: string): Record<string, string> {
  const vars: Record<string, string> = {}
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line)
    if (m === null) continue
    const [, key = '', value = ''] = m
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) vars[key] = value.slice(1, -1).replace(/\\(.)/g, '$1')
    else if (value.startsWith("'") && value.endsWith("'") && value.length >= 2) vars[key] = value.slice(1, -1)
    else vars[key] = value
  }
  return vars
}
