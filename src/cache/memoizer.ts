/**
 * One memoized credential value under the refresh policy: fresh ones are served as they are;
 * concurrent callers share one fetch (single flight); due ones are refreshed, and while the refresh
 * fails or hangs the last good ones are served as long as they are valid, with no new attempt
 * before the failure interval has passed; optionally refreshed ahead in the background while in use.
 * The clock, randomness and timers come from the caller.
 */
import { IamraError } from '../errors.js'
import { isFresh, isValid, refreshAheadAt, type Lifetime, type RefreshPolicy } from './refresh-policy.js'

export type MemoEvent =
  | { readonly type: 'hit' | 'stale-served' | 'miss' }
  | { readonly type: 'refreshed'; readonly background: boolean }
  | { readonly type: 'refresh-failed'; readonly background: boolean; readonly error: unknown }

export type SetTimer = (fn: () => void, ms: number) => unknown

export interface MemoClock {
  /** Epoch milliseconds. */
  readonly now: () => number
  readonly random: () => number
  /** Needed for a bounded refresh wait or background refresh; without, neither happens. */
  readonly setTimer?: SetTimer | undefined
  readonly clearTimer?: ((timer: unknown) => void) | undefined
}

export interface MemoizerInit<T> {
  readonly policy: RefreshPolicy
  readonly clock: MemoClock
  /** When the value expires, epoch milliseconds; undefined: never (static credentials). */
  readonly expiresAt: (value: T) => number | undefined
  /** Failures that reached no upstream and may clear at any moment: not rate-limited. */
  readonly isLocalTransient?: ((e: unknown) => boolean) | undefined
  /** Refreshes ahead in the background while in use; `onIdle` is told when an unused value is let go. */
  readonly background?: { readonly onIdle: () => void } | undefined
  readonly onEvent?: ((e: MemoEvent) => void) | undefined
}

/** Upstream failures that end when the service or the network comes back. */
const OUTAGE: ReadonlySet<string> = new Set(['UPSTREAM_UNAVAILABLE', 'UPSTREAM_NETWORK', 'UPSTREAM_TIMEOUT', 'UPSTREAM_BAD_RESPONSE'])

const NEVER = Number.POSITIVE_INFINITY

export class Memoizer<T> {
  readonly #init: MemoizerInit<T>
  #fetch: () => Promise<T>
  #value: T | undefined
  #fetchedAt = 0
  #inflight: Promise<T> | undefined
  #lastError: unknown
  #lastFailureAt = Number.NEGATIVE_INFINITY
  #usedSinceFetch = false
  #timer: unknown
  #disposed = false

  constructor(fetch: () => Promise<T>, init: MemoizerInit<T>) {
    this.#fetch = fetch
    this.#init = init
  }

  /**
   * The value, fetched with `fetch` (or the last one given) when nothing fresh is held; with
   * `force`, fetched now, and a failure is thrown even while a valid value is held.
   */
  get(fetch?: () => Promise<T>, force = false): Promise<T> {
    if (fetch !== undefined) this.#fetch = fetch
    this.#usedSinceFetch = true
    const t = this.#init.clock.now()
    if (force) return this.#refresh(false)
    const v = this.#value
    if (v !== undefined) {
      const lifetime = this.#lifetime(v)
      if (isFresh(this.#init.policy.refreshWindowMs, lifetime, t)) {
        this.#emit({ type: 'hit' })
        return Promise.resolve(v)
      }
      if (isValid(lifetime, t)) return this.#refreshOrHeld(v, t)
    }
    if (this.#inflight === undefined && this.#init.policy.repeatFailureWhenEmpty && this.#failedRecently(t, this.#emptyInterval()))
      return Promise.reject(this.#failure())
    this.#emit({ type: 'miss' })
    return this.#refresh(false)
  }

  /** The value while it is valid, fresh or not. */
  held(now: number): T | undefined {
    const v = this.#value
    return v !== undefined && isValid(this.#lifetime(v), now) ? v : undefined
  }

  /** Nothing valid held, nothing running or scheduled, no recent failure to remember: may be dropped. */
  disposable(now: number): boolean {
    return (
      this.#inflight === undefined &&
      this.#timer === undefined &&
      this.held(now) === undefined &&
      now - this.#lastFailureAt > this.#init.policy.minFailureIntervalMs
    )
  }

  /** Stops the background timer for good. */
  dispose(): void {
    this.#disposed = true
    if (this.#timer !== undefined) this.#init.clock.clearTimer?.(this.#timer)
    this.#timer = undefined
  }

  /** Due but valid: try once (shared), wait a bounded time, fall back to the held value. */
  async #refreshOrHeld(held: T, now: number): Promise<T> {
    const { policy, clock } = this.#init
    if (this.#inflight === undefined && this.#failedRecently(now, policy.minFailureIntervalMs)) {
      this.#emit({ type: 'stale-served' })
      return held
    }
    const refreshing = this.#refresh(false)
    refreshing.catch(() => {}) // a late failure is recorded on the memoizer
    const setTimer = policy.maxRefreshWaitMs === NEVER ? undefined : clock.setTimer
    let timer: unknown
    try {
      const fresh =
        setTimer === undefined
          ? await refreshing
          : await Promise.race([
              refreshing,
              new Promise<undefined>((resolve) => {
                timer = setTimer(() => resolve(undefined), policy.maxRefreshWaitMs)
              }),
            ])
      if (fresh !== undefined) return fresh
    } catch {
      // failed: fall back below
    } finally {
      if (timer !== undefined) clock.clearTimer?.(timer)
    }
    const still = this.held(clock.now())
    if (still !== undefined) {
      this.#emit({ type: 'stale-served' })
      return still
    }
    throw this.#failure()
  }

  #lifetime(v: T): Lifetime {
    return { fetchedAt: this.#fetchedAt, expiresAt: this.#init.expiresAt(v) ?? NEVER }
  }

  #emit(e: MemoEvent): void {
    this.#init.onEvent?.(e)
  }

  #failedRecently(now: number, interval: number): boolean {
    return this.#lastError !== undefined && this.#init.isLocalTransient?.(this.#lastError) !== true && now - this.#lastFailureAt < interval
  }

  /** An outage with nothing to serve is retried sooner; throttling and refusals keep the full interval. */
  #emptyInterval(): number {
    const e = this.#lastError
    const { policy } = this.#init
    return e instanceof IamraError && OUTAGE.has(e.code) ? Math.min(policy.minFailureIntervalMs, policy.minFailureIntervalEmptyMs) : policy.minFailureIntervalMs
  }

  /** What a caller gets when nothing valid is left: the last failure, or a timeout while a refresh hangs. */
  #failure(): unknown {
    if (this.#inflight === undefined && this.#lastError !== undefined) return this.#lastError
    return new IamraError(
      'UPSTREAM_TIMEOUT',
      `CreateSession did not finish within ${this.#init.policy.maxRefreshWaitMs} ms and the cached credentials have expired; retry shortly`,
    )
  }

  #refresh(background: boolean): Promise<T> {
    if (this.#inflight !== undefined) return this.#inflight
    const { clock } = this.#init
    const run = (async () => {
      try {
        const value = await this.#fetch()
        this.#value = value
        this.#fetchedAt = clock.now()
        this.#lastError = undefined
        this.#usedSinceFetch = false
        this.#emit({ type: 'refreshed', background })
        this.#scheduleAhead(value)
        return value
      } catch (e) {
        this.#lastError = e
        this.#lastFailureAt = clock.now()
        this.#emit({ type: 'refresh-failed', background, error: e })
        if (background) this.#schedule(this.#init.policy.minFailureIntervalMs * (1 + clock.random()))
        throw e
      } finally {
        this.#inflight = undefined
      }
    })()
    this.#inflight = run
    return run
  }

  /** Refresh ahead, a little before the window opens, only while in use. */
  #scheduleAhead(value: T): void {
    const lifetime = this.#lifetime(value)
    if (lifetime.expiresAt === NEVER) return
    const { clock, policy } = this.#init
    this.#schedule(Math.max(1000, refreshAheadAt(policy, lifetime, clock.random) - clock.now()))
  }

  #schedule(delay: number): void {
    const { clock } = this.#init
    if (this.#init.background === undefined || this.#disposed || clock.setTimer === undefined) return
    if (this.#timer !== undefined) clock.clearTimer?.(this.#timer)
    const timer = clock.setTimer(() => this.#ahead(), delay)
    ;(timer as { unref?: () => void } | undefined)?.unref?.()
    this.#timer = timer
  }

  #ahead(): void {
    this.#timer = undefined
    if (this.#disposed) return
    const v = this.#value
    if (!this.#usedSinceFetch || v === undefined || !isValid(this.#lifetime(v), this.#init.clock.now())) {
      // Nobody asked since the last fetch (e.g. unbound, or its files changed): let it go.
      this.dispose()
      this.#init.background?.onIdle()
      return
    }
    this.#refresh(true).catch(() => {})
  }
}
