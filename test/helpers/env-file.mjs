// Reads the env files `iamra bind` writes, in systemd EnvironmentFile= syntax: KEY=value or
// KEY="value" (with \" and \\ escapes) or KEY='value'; blank lines and #/; comments are skipped.
// Run as a program it is a tiny `env`: `node env-file.mjs FILE CMD [ARGS...]` runs CMD with the
// current environment plus FILE's variables (used inside network namespaces, see server-netns.test.ts).
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/** The KEY/value pairs of an env file, in order. Throws on a line it cannot read. */
export function parseEnvFile(text) {
  const out = []
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue
    const eq = line.indexOf('=')
    if (eq <= 0) throw new Error(`env file line ${i + 1}: no KEY=value`)
    const key = line.slice(0, eq).trim()
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw new Error(`env file line ${i + 1}: bad variable name`)
    let value = line.slice(eq + 1).trim()
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) {
      value = value.slice(1, -1).replace(/\\(["\\$`])/g, '$1')
    } else if (value.length >= 2 && value.startsWith("'") && value.endsWith("'")) {
      value = value.slice(1, -1)
    }
    out.push([key, value])
  }
  return out
}

/** The same as an object (a later line wins, as with systemd). */
export function envFileVars(text) {
  return Object.fromEntries(parseEnvFile(text))
}

/**
 * `KEY=value` records separated by `separator`, read the way docker --env-file (and `printf '%s=%s'`
 * output) does: everything after the first "=" is the value, quotes and all; empty records are skipped.
 */
export function splitAssignments(text, separator = '\n') {
  return Object.fromEntries(
    text
      .split(separator)
      .filter((l) => l !== '')
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  )
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [file, cmd, ...args] = process.argv.slice(2)
  if (file === undefined || cmd === undefined) {
    process.stderr.write('usage: node env-file.mjs FILE CMD [ARGS...]\n')
    process.exit(2)
  }
  const env = { ...process.env, ...Object.fromEntries(parseEnvFile(readFileSync(file, 'utf8'))) }
  const child = spawn(cmd, args, { env, stdio: 'inherit' })
  child.on('error', (e) => {
    process.stderr.write(`env-file.mjs: cannot run ${cmd}: ${e.message}\n`)
    process.exit(127)
  })
  child.on('exit', (code, signal) => process.exit(code ?? (signal === null ? 1 : 128)))
}
