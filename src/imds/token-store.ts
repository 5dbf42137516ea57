/**
 * IMDSv2 session tokens: random, held only as SHA-256 digests, at most 256 at a time (the
 * earliest-expiring one is evicted at the cap), expired ones swept on every use, and presented
 * tokens compared in constant time against every stored digest. Tokens are never logged.
 */
import { createHash, timingSafeEqual } from 'node:crypto'

export const MAX_TOKENS = 256
export const MIN_TOKEN_TTL = 1
export const MAX_TOKEN_TTL = 21_600
/** As the official helper: 100 characters of base64 (here base64url) from 128 random bytes. */
const TOKEN_LENGTH = 100

export interface TokenStoreOptions {
  /** The clock, in epoch milliseconds. */
  readonly now: () => number
  /** Cryptographically strong bytes (Runtime.randomBytes). */
  readonly random: (bytes: number) => Buffer
  readonly max?: number
}

interface Entry {
  readonly digest: Buffer
  readonly expiresAt: number
}

const digestOf = (token: string): Buffer => createHash('sha256').update(token, 'utf8').digest()

export class TokenStore {
  readonly #entries: Entry[] = []
  readonly #now: () => number
  readonly #random: (bytes: number) => Buffer
  readonly #max: number

  constructor(opts: TokenStoreOptions) {
    this.#now = opts.now
    this.#random = opts.random
    this.#max = opts.max ?? MAX_TOKENS
  }

  /** Live tokens (after sweeping expired ones). */
  get size(): number {
    this.sweep()
    return this.#entries.length
  }

  /** A new token valid for `ttlSeconds` (an integer from 1 to 21600). */
  issue(ttlSeconds: number): string {
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < MIN_TOKEN_TTL || ttlSeconds > MAX_TOKEN_TTL) {
      throw new RangeError(`token TTL must be an integer from ${MIN_TOKEN_TTL} to ${MAX_TOKEN_TTL}`)
    }
    this.sweep()
    while (this.#entries.length >= this.#max) {
      let earliest = 0
      for (let i = 1; i < this.#entries.length; i++) {
        if ((this.#entries[i]?.expiresAt ?? Infinity) < (this.#entries[earliest]?.expiresAt ?? Infinity)) earliest = i
      }
      this.#entries.splice(earliest, 1)
    }
    const token = this.#random(128).toString('base64url').slice(0, TOKEN_LENGTH)
    this.#entries.push({ digest: digestOf(token), expiresAt: this.#now() + ttlSeconds * 1000 })
    return token
  }

  /** Whole seconds the token has left (at least 1), or undefined when unknown or expired. */
  check(token: string): number | undefined {
    this.sweep()
    const presented = digestOf(token)
    let match: Entry | undefined
    // No early exit: every stored digest is compared, each in constant time.
    for (const e of this.#entries) if (timingSafeEqual(e.digest, presented)) match = e
    if (match === undefined) return undefined
    return Math.max(1, Math.ceil((match.expiresAt - this.#now()) / 1000))
  }

  /** Drops expired tokens. */
  sweep(): void {
    const now = this.#now()
    for (let i = this.#entries.length - 1; i >= 0; i--) if ((this.#entries[i]?.expiresAt ?? 0) <= now) this.#entries.splice(i, 1)
  }

  clear(): void {
    this.#entries.length = 0
  }
}
