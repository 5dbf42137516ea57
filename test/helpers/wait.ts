// Waiting in tests, always bounded: a plain sleep, a poll that gives up after a fixed number of
// checks, and a deadline on any promise.
import { setTimeout as delay } from 'node:timers/promises'

export const sleep = (ms: number): Promise<void> => delay(ms)

/**
 * Checks `ready` up to `tries` times, `everyMs` apart, and returns whether it held. The caller asserts
 * on the result (or on what `ready` looked at), so a wait that runs out fails the test, never hangs it.
 */
export async function pollUntil(ready: () => boolean | Promise<boolean>, opts: { tries: number; everyMs: number }): Promise<boolean> {
  for (let i = 0; i < opts.tries; i++) {
    if (await ready()) return true
    await delay(opts.everyMs)
  }
  return ready()
}

/** `p`, or a rejection naming `what` after `ms`. */
export function within<T>(ms: number, p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<T>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)
  })
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer))
}
