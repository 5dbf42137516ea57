/**
 * Binding access tokens: `iamra.<name>.<secret>`, the secret 64 bytes from the caller's strong random source
 * (base64url). The server stores only base64url(SHA-384(secret bytes)) and compares in constant time.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import { isValidName } from './names.js'

export const TOKEN_PREFIX = 'iamra'
/** needroleshere's tokens have the same shape; a migrated binding keeps working. */
const ACCEPTED_PREFIXES = new Set([TOKEN_PREFIX, 'needroleshere'])
const SECRET_BYTES = 64

export interface IssuedToken {
  /** The whole token, for the consumer's environment. Never log it. */
  readonly token: string
  readonly secretHash: string
}

/** `random` must be cryptographically strong (the entry point's Runtime.randomBytes). */
export function issueToken(name: string, random: (n: number) => Buffer): IssuedToken {
  const secret = random(SECRET_BYTES)
  if (secret.length !== SECRET_BYTES) throw new Error('random source returned too few bytes')
  return { token: `${TOKEN_PREFIX}.${name}.${secret.toString('base64url')}`, secretHash: hashSecret(secret) }
}

export function hashSecret(secret: Buffer): string {
  return createHash('sha384').update(secret).digest('base64url')
}

export interface ParsedToken {
  readonly name: string
  readonly secret: Buffer
}

/** Splits a token; undefined when it is not of the expected shape. */
export function parseToken(token: string): ParsedToken | undefined {
  const parts = token.split('.')
  if (parts.length !== 3) return undefined
  const [prefix = '', name = '', secretText = ''] = parts
  if (!ACCEPTED_PREFIXES.has(prefix) || !isValidName(name) || !/^[A-Za-z0-9_-]{16,}$/.test(secretText)) return undefined
  return { name, secret: Buffer.from(secretText, 'base64url') }
}

/** Constant-time comparison of a presented secret with a stored hash. */
export function secretMatches(secret: Buffer, storedHash: string): boolean {
  const presented = createHash('sha384').update(secret).digest()
  const stored = Buffer.from(storedHash, 'base64url')
  return stored.length === presented.length && timingSafeEqual(presented, stored)
}
