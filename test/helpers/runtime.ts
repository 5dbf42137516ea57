// The real clock and randomness for tests that do not drive them (src/runtime.ts: src/ never reads them itself).
import { randomBytes } from 'node:crypto'
import { FileDigests } from '../../src/fs/file-digests.js'
import { FileLocks, type LockDeps } from '../../src/fs/lock.js'
import { BindingKeys } from '../../src/server/binding-key.js'
import type { Runtime } from '../../src/runtime.js'

export const realRandom = { random: Math.random, randomBytes: (n: number): Buffer => randomBytes(n) } as const

/** A Runtime on the real clock and randomness, with the given environment (default: empty). */
export const realRuntime = (env: Runtime['env'] = {}): Runtime => ({ now: () => new Date(), env, ...realRandom })

/** One process's file locks on the real clock (pass pid, isAlive, sleep or another clock to simulate a process). */
export const testLocks = (over: Partial<LockDeps> = {}): FileLocks => new FileLocks({ now: () => new Date(), ...realRandom, ...over })

/** File digests on the real clock and event loop, as serve and the agent build them. */
export const testFileDigests = (): FileDigests => new FileDigests({ now: Date.now, afterTurn: (forget) => setImmediate(forget) })

/** A server's cache keys on the real clock, as serve builds them. */
export const testBindingKeys = (): BindingKeys => new BindingKeys(testFileDigests())
