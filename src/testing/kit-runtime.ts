/**
 * The testing kit's (`iamra/testing`) real clock and randomness: the kit's functions (createCa,
 * startFakeEndpoint, ...) are called directly by tests and users, with no composition root above
 * them, so each takes a KitRuntime of its caller's and falls back to this one. Only src/testing/
 * imports it (test/composition.test.ts).
 */
import { randomBytes } from 'node:crypto'

export interface KitRuntime {
  readonly now: () => Date
  readonly randomBytes: (n: number) => Buffer
}

export const kitRuntime: KitRuntime = { now: () => new Date(), randomBytes: (n) => randomBytes(n) }

/** A random (version 4) UUID from the runtime's bytes, for request ids. */
export function randomUuid(runtime: Pick<KitRuntime, 'randomBytes'>): string {
  const b = runtime.randomBytes(16)
  b[6] = ((b[6] ?? 0) & 0x0f) | 0x40
  b[8] = ((b[8] ?? 0) & 0x3f) | 0x80
  const h = b.toString('hex')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`
}
