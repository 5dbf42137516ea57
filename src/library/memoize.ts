/**
 * Caching for a credential provider used outside an SDK client (clients memoize their provider
 * themselves): the shared memoizer (src/cache/memoizer.ts) under the library's refresh policy: one
 * call in flight at a time, shared by concurrent callers; the result reused until it comes within
 * the refresh window of its expiration (at most half its lifetime); when a refresh fails, the last
 * result is served while it is valid, with a new attempt at most every 10 s meanwhile; with nothing
 * valid, failures are not cached: the next call tries again. The clock is passed in.
 */
import { Memoizer } from '../cache/memoizer.js'
import { libraryPolicy, SDK_REFRESH_WINDOW_MS } from '../cache/refresh-policy.js'

/** Options of {@link memoize}. */
export interface MemoizeOptions {
  /** Refresh when fewer than this many milliseconds remain; default 300000 (5 min, as SDK clients). */
  readonly refreshBeforeMs?: number | undefined
  /** The clock, in epoch milliseconds; default `Date.now`. */
  readonly now?: (() => number) | undefined
}

/** Call options a memoized provider takes: the provider's own, plus `forceRefresh`. */
export type MemoizedCallOptions<O> = O & { readonly forceRefresh?: boolean | undefined }

export const DEFAULT_REFRESH_BEFORE_MS = SDK_REFRESH_WINDOW_MS

/** Wraps `provider` so that it is called only when nothing usable is cached. */
export function memoizeWith<T extends object, O extends object>(
  provider: (options?: O) => Promise<T>,
  opts: { readonly refreshBeforeMs: number; readonly now: () => number },
): (options?: MemoizedCallOptions<O>) => Promise<T> {
  const memo = new Memoizer<T>(() => provider(), {
    policy: libraryPolicy(opts.refreshBeforeMs),
    // No timers: the caller waits for a refresh, and nothing is refreshed in the background.
    clock: { now: opts.now, random: () => 0 },
    // Without an expiration Date the credentials are static: kept for good, as the SDK's memoizer does.
    expiresAt: (c) => {
      const expiration = (c as { readonly expiration?: unknown }).expiration
      return expiration instanceof Date ? expiration.getTime() : undefined
    },
  })
  return (options) => {
    if (options === undefined) return memo.get(() => provider())
    const { forceRefresh, ...rest } = options
    return memo.get(() => provider(rest as unknown as O), forceRefresh === true)
  }
}
