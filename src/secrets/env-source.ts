/**
 * `env:NAME` sources: a certificate, chain, key or password handed over in an environment
 * variable, as CI systems hand out secrets, without touching disk. PEM is taken with real or
 * literal `\n` line breaks (GitLab stores multi-line variables that way), or base64 of PEM or DER.
 */
import { IamraError, type IamraErrorCode } from '../errors.js'

const PREFIX = /^env:/
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/

/** True when a flag value names an environment variable rather than a file (`./env:x` is a file). */
export function isEnvSource(value: string): boolean {
  return PREFIX.test(value)
}

/** The variable's name, checked; the message never shows the variable's value. */
export function envSourceName(value: string, code: IamraErrorCode): string {
  const name = value.replace(PREFIX, '')
  if (!NAME.test(name)) throw new IamraError(code, `${value}: after env: comes an environment variable name (letters, digits, _), e.g. env:AWS_RA_PRIVATE_KEY`)
  return name
}

/** The raw text of the variable (passwords). */
export function readEnvText(value: string, env: Readonly<Record<string, string | undefined>>, code: IamraErrorCode, what: string): string {
  const name = envSourceName(value, code)
  const text = env[name]
  if (text === undefined || text === '')
    throw new IamraError(code, `${value}: the environment variable ${name} that should hold the ${what} is not set or empty`)
  return text
}

/** The bytes of a certificate or key held in the variable: PEM, PEM with literal \n, or base64. */
export function readEnvBytes(value: string, env: Readonly<Record<string, string | undefined>>, code: IamraErrorCode, what: string): Buffer {
  const text = readEnvText(value, env, code, what)
    .trim()
    .replace(/^(["'])([\s\S]*)\1$/, '$2')
  if (text.includes('-----BEGIN ')) return Buffer.from(unescapeNewlines(text), 'utf8')
  const compact = text.replace(/\\n|\s+/g, '')
  if (/^[A-Za-z0-9+/_-]+={0,2}$/.test(compact)) {
    const bytes = Buffer.from(compact, compact.includes('-') || compact.includes('_') ? 'base64url' : 'base64')
    if (bytes.includes('-----BEGIN ')) return Buffer.from(unescapeNewlines(bytes.toString('utf8')), 'utf8')
    if (bytes[0] === 0x30 && bytes.length > 32) return bytes // DER: a SEQUENCE
  }
  throw new IamraError(
    code,
    `${value}: the environment variable ${envSourceName(value, code)} holds no ${what}: expected PEM (line breaks real or written \\n) or base64 of PEM or DER`,
  )
}

function unescapeNewlines(text: string): string {
  return text.includes('\\n') ? text.replace(/\\r\\n|\\n/g, '\n') : text
}
