/**
 * The one credentials refresh policy of iamra: when cached credentials are fresh, when they are
 * refreshed (early, in the background, with jitter), and how long the last good ones are served
 * while the upstream fails. Pure functions of the credentials' times and a clock reading; the
 * server cache, IMDS mode, the Kubernetes agent, the library's `memoize`, `credential-process
 * --cache` and `update` all decide with these.
 */

export interface RefreshPolicy {
  /**
   * Credentials with less than this left are refreshed before being served; for credentials that
   * live less than twice as long, half their lifetime instead (a 15-minute session would otherwise
   * never be fresh).
   */
  readonly refreshWindowMs: number
  /** While the last good credentials are served after a failure, no new attempt sooner than this. */
  readonly minFailureIntervalMs: number
  /**
   * The same with nothing valid to serve after an outage (unavailable, unreachable, timeout):
   * callers are refused anyway, so the first attempt after the outage should come soon.
   * Throttling and refusals keep `minFailureIntervalMs`.
   */
  readonly minFailureIntervalEmptyMs: number
  /**
   * With nothing valid held, whether a failure is answered again to callers until the interval has
   * passed (the services: many consumers, one upstream to protect) or every call tries again (the
   * library: one application's own calls).
   */
  readonly repeatFailureWhenEmpty: boolean
  /**
   * How long a caller holding still-valid credentials waits for their refresh before it gets the
   * held ones (Infinity: for as long as the refresh takes).
   */
  readonly maxRefreshWaitMs: number
  /** A background refresh starts up to min(this, window / 4) before the window opens, at random. */
  readonly jitterMs: number
}

/** 20 minutes: outside botocore's 15-minute advisory window, so SDKs never refresh served credentials at once. */
export const DEFAULT_REFRESH_WINDOW_MS = 20 * 60_000

/** 5 minutes: what AWS SDK for JavaScript clients use; the library's `memoize` default. */
export const SDK_REFRESH_WINDOW_MS = 5 * 60_000

/** The long-running services' policy (server, IMDS mode, Kubernetes agent). */
export const SERVICE_POLICY: RefreshPolicy = {
  refreshWindowMs: DEFAULT_REFRESH_WINDOW_MS,
  minFailureIntervalMs: 10_000,
  minFailureIntervalEmptyMs: 1000,
  repeatFailureWhenEmpty: true,
  // SDKs give up on a credentials endpoint after 1 s: a hanging upstream must not stall them.
  maxRefreshWaitMs: 800,
  jitterMs: 60_000,
}

/**
 * The library's `memoize`: the SDK clients' window; the last good credentials served while valid
 * when a refresh fails, with a new attempt at most every 10 s meanwhile; with nothing valid held,
 * every call tries again; the caller waits for the refresh (the provider has its own timeout).
 */
export function libraryPolicy(refreshWindowMs: number = SDK_REFRESH_WINDOW_MS): RefreshPolicy {
  return {
    refreshWindowMs,
    minFailureIntervalMs: 10_000,
    minFailureIntervalEmptyMs: 0,
    repeatFailureWhenEmpty: false,
    maxRefreshWaitMs: Number.POSITIVE_INFINITY,
    jitterMs: 0,
  }
}

/** When the credentials were obtained and when they expire, epoch milliseconds. */
export interface Lifetime {
  readonly fetchedAt: number
  readonly expiresAt: number
}

/** The refresh window for these credentials: the policy's, at most half their lifetime. */
export function refreshWindowFor(windowMs: number, c: Lifetime): number {
  return Math.min(windowMs, Math.max(0, (c.expiresAt - c.fetchedAt) / 2))
}

/** The instant from which the credentials are due for refresh. */
export function refreshDueAt(windowMs: number, c: Lifetime): number {
  return c.expiresAt - refreshWindowFor(windowMs, c)
}

/** Fresh: served as they are, without a refresh. */
export function isFresh(windowMs: number, c: Lifetime, now: number): boolean {
  return c.expiresAt - now > refreshWindowFor(windowMs, c)
}

/** Valid: not expired. Only valid credentials are ever served, stale ones included. */
export function isValid(c: Pick<Lifetime, 'expiresAt'>, now: number): boolean {
  return c.expiresAt > now
}

/** When a background refresh ahead starts: a little before the window opens (jittered), never in the past. */
export function refreshAheadAt(policy: RefreshPolicy, c: Lifetime, random: () => number): number {
  const window = refreshWindowFor(policy.refreshWindowMs, c)
  return c.expiresAt - window - random() * Math.min(policy.jitterMs, window / 4)
}
