/**
 * Caching for a credential provider used outside an SDK client (clients memoize their provider
 * themselves): one call in flight at a time, shared by concurrent callers; the result reused until
 * it comes within the refresh window of its expiration; failures not cached, so the next call
 * tries again. The same rules as the SDK's own memoizer, with the clock passed in.
 */

/** Options of {@link memoize}. */
export interface MemoizeOptions {
  /** Refresh when fewer than this many milliseconds remain; default 300000 (5 min, as SDK clients). */
  readonly refreshBeforeMs?: number | undefined
  /** The clock, in epoch milliseconds; default `Date.now`. */
  readonly now?: (() => number) | undefined
}

/** Call options a memoized provider takes: the provider's own, plus `forceRefresh`. */
export type MemoizedCallOptions<O> = O & { readonly forceRefresh?: boolean | undefined }

export const DEFAULT_REFRESH_BEFORE_MS = 5 * 60_000 // 5 min: the SDK clients' window

/** Wraps `provider` so that it is called only when nothing usable is cached. */
export function memoizeWith<T extends object, O extends object>(
  provider: (options?: O) => Promise<T>,
  opts: { readonly refreshBeforeMs: number; readonly now: () => number },
): (options?: MemoizedCallOptions<O>) => Promise<T> {
  let current: T | undefined
  let pending: Promise<T> | undefined
  // Without an expiration Date the credentials are static: kept for good, as the SDK's memoizer does.
  const usable = (c: T): boolean => {
    const expiration = (c as { readonly expiration?: unknown }).expiration
    return !(expiration instanceof Date) || expiration.getTime() - opts.now() > opts.refreshBeforeMs
  }
  const refresh = (options: O | undefined): Promise<T> => {
    pending ??= provider(options).then(
      (c) => {
        current = c
        pending = undefined
        return c
      },
      (e: unknown) => {
        pending = undefined
        throw e
      },
    )
    return pending
  }
  return async (options) => {
    if (current !== undefined && options?.forceRefresh !== true && usable(current)) return current
    const { forceRefresh: _ignored, ...rest } = options ?? ({} as MemoizedCallOptions<O>)
    return refresh(options === undefined ? undefined : (rest as unknown as O))
  }
}
