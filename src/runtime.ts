/**
 * What the program takes from the outside world besides I/O: the clock, the environment and
 * randomness. Each entry point builds the real one once (its composition root: src/cli/process.ts,
 * src/library/index.ts, src/testing/kit-runtime.ts) and passes it down; nothing below reads
 * Date.now(), new Date(), process.env, Math.random or node:crypto's random sources itself
 * (test/composition.test.ts enforces it), so tests drive every part with a fake clock and
 * deterministic randomness.
 */

/** Environment variables as the entry point read them; never process.env itself below the entry point. */
export type Env = Readonly<Record<string, string | undefined>>

export interface Runtime {
  /** The wall clock. */
  readonly now: () => Date
  readonly env: Env
  /** Uniform in [0, 1): retry and refresh jitter only, never a secret. */
  readonly random: () => number
  /** Cryptographically strong bytes: tokens, nonces, temp-file names. */
  readonly randomBytes: (n: number) => Buffer
}

/** The parts of a Runtime that code without environment needs (locks, stores, temp files). */
export type Randomness = Pick<Runtime, 'random' | 'randomBytes'>
