/**
 * Certificate rotation seen from a request: a writer that renames the certificate and then the key,
 * or rewrites a file in place, leaves a moment where the pair does not match or a file is empty or
 * cut short. Such a failure is retried after short waits (bounded in total) before it counts.
 */
import { IamraError, type IamraErrorCode } from '../errors.js'
import { UnreadableFileError } from '../fs/read-bounded.js'

/** What a half-written or half-rotated pair looks like. */
const MID_ROTATION: ReadonlySet<IamraErrorCode> = new Set(['KEY_CERT_MISMATCH', 'CERT_MALFORMED', 'KEY_MALFORMED'])

/** Waits between re-reads: 20 + 40 + 80 + 140 = 280 ms at most. */
export const ROTATION_WAITS_MS: readonly number[] = [20, 40, 80, 140]

/** True for failures a moment's re-read may cure: a mismatched or malformed pair, a file briefly missing. */
export function isMidRotation(e: unknown): boolean {
  if (!(e instanceof IamraError)) return false
  if (MID_ROTATION.has(e.code)) return true
  return (e.code === 'CERT_UNREADABLE' || e.code === 'KEY_UNREADABLE') && e.cause instanceof UnreadableFileError && e.cause.problem === 'missing'
}

export type Sleep = (ms: number) => Promise<void>

export const realSleep: Sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** Runs `attempt`; while it fails mid-rotation, waits and runs it again, at most ROTATION_WAITS_MS.length more times. */
export async function retryMidRotation<T>(attempt: () => Promise<T>, sleep: Sleep = realSleep, waits: readonly number[] = ROTATION_WAITS_MS): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await attempt()
    } catch (e) {
      const wait = waits[i]
      if (wait === undefined || !isMidRotation(e)) throw e
      await sleep(wait)
    }
  }
}
