/**
 * A line-preserving editor for `~/.aws/credentials`: it rewrites the three key lines of one profile
 * and keeps every other byte. It follows the official helper's rules (aws_signing_helper/update.go)
 * without its end-of-file bug. Values are written bare: the `ini` package would quote a value
 * holding `=`, and botocore's RawConfigParser would keep those quotes inside the token.
 */
import { IamraError } from '../errors.js'

/** What `update` writes; `expiration` and `region` are never written, as with the official helper. */
export interface FileCredentials {
  readonly accessKeyId: string
  readonly secretAccessKey: string
  readonly sessionToken: string
}

const KEYS = ['aws_access_key_id', 'aws_secret_access_key', 'aws_session_token'] as const
type Key = (typeof KEYS)[number]
const KEY_LINE = KEYS.map((k) => [k, new RegExp(`^${k}[ \\t]*[=:]`)] as const)

interface Line {
  /** The line without its terminator. */
  readonly text: string
  /** '\n', '\r\n' or '' (the last line of a file with no final newline). */
  eol: string
}

/**
 * Returns `text` with `profile`'s keys set to `creds`.
 * - The header is the exact whole line `[<profile>]` (no whitespace tolerance, no `[profile x]`), as
 *   upstream; only the first such section changes.
 * - A key line starts at column 0 with the key name followed by optional blanks and `=` or `:` (the
 *   configparser delimiters). Upstream matches a bare prefix, which would also clobber a key such as
 *   `aws_session_token_ttl`. Each match becomes `key = value`, keeping that line's terminator.
 *   Indented lines right after a replaced key are continuation lines of the old value and are dropped.
 * - Missing keys are inserted (access, secret, token) just before the next line starting with `[`, or
 *   after the section's last line when it runs to the end of the file; upstream drops that last line.
 * - An absent profile is appended as the header, three keys and an empty line, with no blank line
 *   before it, as upstream.
 * - Inserted lines use the file's first line terminator (LF for a file with none). A file with no
 *   final newline keeps none unless something is appended after its last line.
 */
export function updateProfile(text: string, profile: string, creds: FileCredentials): string {
  checkProfile(profile)
  const values: Record<Key, string> = {
    aws_access_key_id: checkValue('accessKeyId', creds.accessKeyId),
    aws_secret_access_key: checkValue('secretAccessKey', creds.secretAccessKey),
    aws_session_token: checkValue('sessionToken', creds.sessionToken),
  }
  const lines = splitLines(text)
  const eol = lines.find((l) => l.eol !== '')?.eol ?? '\n'
  const keyLine = (k: Key, end: string): Line => ({ text: `${k} = ${values[k]}`, eol: end })
  const header = `[${profile}]`
  const start = lines.findIndex((l) => l.text === header)
  if (start < 0) {
    terminateLast(lines, eol)
    const added = [{ text: header, eol }, ...KEYS.map((k) => keyLine(k, eol)), { text: '', eol }]
    return joinLines([...lines, ...added])
  }
  const out = lines.slice(0, start + 1)
  const written = new Set<Key>()
  let i = start + 1
  for (; i < lines.length; i++) {
    const line = lines[i] as Line
    if (line.text.startsWith('[')) break
    const key = KEY_LINE.find(([, re]) => re.test(line.text))?.[0]
    if (key === undefined) {
      out.push(line)
      continue
    }
    out.push(keyLine(key, line.eol))
    written.add(key)
    while (i + 1 < lines.length && /^[ \t]+\S/.test((lines[i + 1] as Line).text)) i++
    if (i + 1 === lines.length) (out[out.length - 1] as Line).eol = (lines[i] as Line).eol
  }
  const missing = KEYS.filter((k) => !written.has(k))
  if (missing.length > 0) terminateLast(out, eol)
  out.push(...missing.map((k) => keyLine(k, eol)), ...lines.slice(i))
  return joinLines(out)
}

function splitLines(text: string): Line[] {
  const parts = text.match(/[^\n]*\n|[^\n]+$/g) ?? []
  return parts.map((p) => {
    const eol = p.endsWith('\r\n') ? '\r\n' : p.endsWith('\n') ? '\n' : ''
    return { text: p.slice(0, p.length - eol.length), eol }
  })
}

/** Gives the last line a terminator before something is appended after it. */
function terminateLast(lines: Line[], eol: string): void {
  const last = lines[lines.length - 1]
  if (last !== undefined && last.eol === '') last.eol = eol
}

function joinLines(lines: readonly Line[]): string {
  return lines.map((l) => l.text + l.eol).join('')
}

function checkProfile(profile: string): void {
  if (profile === '' || /[\r\n[\]]/.test(profile)) {
    throw new IamraError('USAGE', `profile name "${profile.replace(/[\r\n]/g, ' ')}" must be non-empty and hold no line break or square bracket`)
  }
}

/**
 * Printable ASCII only: a line break would inject lines, and the file is edited as bytes. CreateSession
 * answers are checked for this where they are parsed (rolesanywhere/response.ts), so a value failing
 * here is a bug, never a service's answer.
 */
function checkValue(field: string, value: string): string {
  if (!/^[\x21-\x7e]+$/.test(value))
    throw new IamraError('INTERNAL', `refusing to write a ${field} that is empty or not printable ASCII into a credentials file`)
  return value
}
