/**
 * An in-memory credential cache, one entry per key: served while more than the refresh window
 * remains; concurrent callers share one fetch; refreshed ahead in the background while in use; after
 * a failure, the last good credentials are served while valid, and no new attempt is made before
 * the minimum failure interval has passed.
 */
import { IamraError } from '../errors.js'
import type { SessionCredentials } from '../rolesanywhere/response.js'

export type CacheEvent =
  | { readonly type: 'hit' | 'stale-served' | 'miss'; readonly key: string }
  | { readonly type: 'refreshed'; readonly key: string; readonly background: boolean }
  | { readonly type: 'refresh-failed'; readonly key: string; readonly background: boolean; readonly error: unknown }

export interface CredentialCacheOptions {
  /** Credentials with less than this left are refreshed before being served (default 20 min). */
  readonly refreshWindowMs?: number
  /** No new upstream attempt sooner than this after a failure (default 10 s). */
  readonly minFailureIntervalMs?: number
  /**
   * The same after an outage (unavailable, unreachable, timeout) when there is nothing valid to
   * serve meanwhile (default 1 s): callers are refused anyway, so the first attempt after the
   * outage should come soon. Throttling and refusals keep the full interval.
   */
  readonly minFailureIntervalEmptyMs?: number
  /**
   * Failures that reached no upstream and may clear at any moment (a file being rewritten): not
   * rate-limited, the next caller tries again.
   */
  readonly isLocalTransient?: (e: unknown) => boolean
  /**
   * How long a caller holding still-valid credentials waits for their refresh before it gets the
   * cached ones (default 800 ms: SDKs time out at 1 s; a hanging upstream must not stall them).
   */
  readonly maxRefreshWaitMs?: number
  readonly now?: () => number
  readonly random?: () => number
  readonly setTimer?: (fn: () => void, ms: number) => { unref?(): void; [Symbol.toPrimitive]?: unknown } | NodeJS.Timeout
  readonly clearTimer?: (t: unknown) => void
  readonly onEvent?: (e: CacheEvent) => void
}

interface Entry {
  /** Entries of one group (a binding) replace each other: a new key means the old one is obsolete. */
  group: string | undefined
  /**
   * Within a group, entries of the same lineage (same binding settings, other file contents) stand
   * in for each other: the older one is dropped only once the newer one has credentials.
   */
  lineage: string | undefined
  creds: SessionCredentials | undefined
  /** When the cached credentials were fetched: their lifetime bounds the refresh window. */
  fetchedAt: number
  inflight: Promise<SessionCredentials> | undefined
  fetch: () => Promise<SessionCredentials>
  lastError: unknown
  lastFailureAt: number
  usedSinceFetch: boolean
  timer: unknown
}

/** Upstream failures that end when the service or the network comes back. */
const OUTAGE: ReadonlySet<string> = new Set(['UPSTREAM_UNAVAILABLE', 'UPSTREAM_NETWORK', 'UPSTREAM_TIMEOUT', 'UPSTREAM_BAD_RESPONSE'])

export const DEFAULT_REFRESH_WINDOW_MS = 20 * 60_000
const BACKGROUND_JITTER_MS = 60_000

export class CredentialCache {
  readonly #entries = new Map<string, Entry>()
  readonly #window: number
  readonly #minFailure: number
  readonly #minFailureEmpty: number
  readonly #maxWait: number
  readonly #isLocalTransient: (e: unknown) => boolean
  readonly #now: () => number
  readonly #random: () => number
  readonly #setTimer: NonNullable<CredentialCacheOptions['setTimer']>
  readonly #clearTimer: (t: unknown) => void
  readonly #emit: (e: CacheEvent) => void

  constructor(opts: CredentialCacheOptions = {}) {
    this.#window = opts.refreshWindowMs ?? DEFAULT_REFRESH_WINDOW_MS
    this.#minFailure = opts.minFailureIntervalMs ?? 10_000
    this.#minFailureEmpty = Math.min(this.#minFailure, opts.minFailureIntervalEmptyMs ?? 1000)
    this.#maxWait = opts.maxRefreshWaitMs ?? 800
    this.#isLocalTransient = opts.isLocalTransient ?? (() => false)
    this.#now = opts.now ?? Date.now
    this.#random = opts.random ?? Math.random
    this.#setTimer = opts.setTimer ?? ((fn, ms) => setTimeout(fn, ms))
    this.#clearTimer = opts.clearTimer ?? ((t) => clearTimeout(t as NodeJS.Timeout))
    this.#emit = opts.onEvent ?? (() => {})
  }

  get size(): number {
    return this.#entries.size
  }

  /**
   * Credentials for `key`, fetched with `fetch` when nothing usable is cached. A new key in a
   * `group` (a rotated token, renewed files) drops the group's older entries and their timers; with
   * a `lineage`, older entries of the same lineage are kept until the new key has credentials, and
   * while it has none their valid credentials are served (a half-rotated certificate and key pair).
   * Never rejects with anything but the fetch's error or an IamraError.
   */
  get(key: string, fetch: () => Promise<SessionCredentials>, group?: string, lineage?: string): Promise<SessionCredentials> {
    const got = this.#get(key, fetch, group, lineage)
    if (lineage === undefined) return got
    return got.catch((e: unknown) => {
      const held = this.#heldBy(key, group, lineage)
      if (held === undefined) throw e
      this.#emit({ type: 'stale-served', key })
      return held
    })
  }

  async #get(key: string, fetch: () => Promise<SessionCredentials>, group: string | undefined, lineage: string | undefined): Promise<SessionCredentials> {
    this.#sweep()
    let entry = this.#entries.get(key)
    if (entry === undefined) {
      if (group !== undefined) {
        for (const [k, e] of this.#entries) {
          if (e.group === group && (lineage === undefined || e.lineage !== lineage)) this.#drop(k, e)
        }
      }
      entry = { group, lineage, creds: undefined, fetchedAt: 0, inflight: undefined, fetch, lastError: undefined, lastFailureAt: -Infinity, usedSinceFetch: false, timer: undefined }
      this.#entries.set(key, entry)
    }
    entry.fetch = fetch
    entry.usedSinceFetch = true
    const now = this.#now()
    const left = entry.creds === undefined ? -1 : entry.creds.expiresAt.getTime() - now
    if (left > this.#windowFor(entry)) {
      this.#emit({ type: 'hit', key })
      return entry.creds as SessionCredentials
    }
    if (left > 0) {
      // Usable but due for refresh: try once (shared), fall back to what we have.
      if (entry.inflight === undefined && this.#failedRecently(entry, now, this.#minFailure)) {
        this.#emit({ type: 'stale-served', key })
        return entry.creds as SessionCredentials
      }
      const refreshing = this.#refresh(key, entry, false)
      refreshing.catch(() => {}) // a late failure is recorded on the entry
      let timer: unknown
      const waited = new Promise<undefined>((resolve) => {
        timer = this.#setTimer(() => resolve(undefined), this.#maxWait)
      })
      try {
        const fresh = await Promise.race([refreshing, waited])
        if (fresh !== undefined) return fresh
      } catch {
        // failed: fall back below
      } finally {
        this.#clearTimer(timer)
      }
      const still = entry.creds
      if (still !== undefined && still.expiresAt.getTime() > this.#now()) {
        this.#emit({ type: 'stale-served', key })
        return still
      }
      throw this.#failure(entry)
    }
    if (entry.inflight === undefined && this.#failedRecently(entry, now, this.#emptyInterval(entry))) throw this.#failure(entry)
    this.#emit({ type: 'miss', key })
    return this.#refresh(key, entry, false)
  }

  /** The latest valid credentials cached for a group and lineage, whatever the key. */
  held(group: string, lineage: string): SessionCredentials | undefined {
    return this.#heldBy(undefined, group, lineage)
  }

  /** Valid credentials of another entry of the same group and lineage. */
  #heldBy(key: string | undefined, group: string | undefined, lineage: string): SessionCredentials | undefined {
    const now = this.#now()
    let best: SessionCredentials | undefined
    for (const [k, e] of this.#entries) {
      if (k === key || e.group !== group || e.lineage !== lineage || e.creds === undefined) continue
      if (e.creds.expiresAt.getTime() > now && (best === undefined || e.creds.expiresAt > best.expiresAt)) best = e.creds
    }
    return best
  }

  #failedRecently(entry: Entry, now: number, interval: number): boolean {
    return entry.lastError !== undefined && !this.#isLocalTransient(entry.lastError) && now - entry.lastFailureAt < interval
  }

  /**
   * An outage (unavailable, unreachable, hanging, garbled) with nothing to serve is retried sooner;
   * throttling and refusals keep the full interval (asking again soon would not help).
   */
  #emptyInterval(entry: Entry): number {
    const e = entry.lastError
    return e instanceof IamraError && OUTAGE.has(e.code) ? this.#minFailureEmpty : this.#minFailure
  }

  /** What a caller gets when nothing valid is left: the last failure, or a timeout while a refresh hangs. */
  #failure(entry: Entry): unknown {
    if (entry.inflight === undefined && entry.lastError !== undefined) return entry.lastError
    return new IamraError('UPSTREAM_TIMEOUT', `CreateSession did not finish within ${this.#maxWait} ms and the cached credentials have expired; retry shortly`)
  }

  #drop(key: string, e: Entry): void {
    if (e.timer !== undefined) this.#clearTimer(e.timer)
    this.#entries.delete(key)
  }

  /** Short sessions (e.g. 900 s) would always be inside the window: use half their lifetime then. */
  #windowFor(entry: Entry): number {
    const lifetime = (entry.creds?.expiresAt.getTime() ?? 0) - entry.fetchedAt
    return Math.min(this.#window, Math.max(0, lifetime / 2))
  }

  /** Drops every entry and timer (server shutdown). */
  clear(): void {
    for (const e of this.#entries.values()) if (e.timer !== undefined) this.#clearTimer(e.timer)
    this.#entries.clear()
  }

  #refresh(key: string, entry: Entry, background: boolean): Promise<SessionCredentials> {
    if (entry.inflight !== undefined) return entry.inflight
    const run = (async () => {
      try {
        const creds = await entry.fetch()
        entry.creds = creds
        entry.fetchedAt = this.#now()
        entry.lastError = undefined
        entry.usedSinceFetch = false
        if (entry.lineage !== undefined) {
          // The newer files work: entries they stood in for are obsolete now.
          for (const [k, e] of this.#entries) if (k !== key && e.group === entry.group && e.lineage === entry.lineage) this.#drop(k, e)
        }
        this.#emit({ type: 'refreshed', key, background })
        this.#schedule(key, entry)
        return creds
      } catch (e) {
        entry.lastError = e
        entry.lastFailureAt = this.#now()
        this.#emit({ type: 'refresh-failed', key, background, error: e })
        if (background) this.#scheduleRetry(key, entry)
        throw e
      } finally {
        entry.inflight = undefined
      }
    })()
    entry.inflight = run
    return run
  }

  /** Refresh ahead, a little before the window opens, only while the entry is in use. */
  #schedule(key: string, entry: Entry): void {
    if (entry.timer !== undefined) this.#clearTimer(entry.timer)
    const window = this.#windowFor(entry)
    const at = (entry.creds?.expiresAt.getTime() ?? 0) - window - this.#random() * Math.min(BACKGROUND_JITTER_MS, window / 4)
    const timer = this.#setTimer(() => this.#background(key, entry), Math.max(1000, at - this.#now()))
    ;(timer as { unref?: () => void }).unref?.()
    entry.timer = timer
  }

  #scheduleRetry(key: string, entry: Entry): void {
    const delay = this.#minFailure * (1 + this.#random())
    const timer = this.#setTimer(() => this.#background(key, entry), delay)
    ;(timer as { unref?: () => void }).unref?.()
    entry.timer = timer
  }

  #background(key: string, entry: Entry): void {
    entry.timer = undefined
    if (this.#entries.get(key) !== entry) return
    const left = (entry.creds?.expiresAt.getTime() ?? 0) - this.#now()
    if (!entry.usedSinceFetch || left <= 0) {
      // Nobody asked since the last fetch (e.g. unbound, or its files changed): let it go.
      this.#entries.delete(key)
      return
    }
    this.#refresh(key, entry, true).catch(() => {})
  }

  #sweep(): void {
    const now = this.#now()
    for (const [key, e] of this.#entries) {
      if (e.inflight === undefined && e.timer === undefined && (e.creds === undefined || e.creds.expiresAt.getTime() <= now) && now - e.lastFailureAt > this.#minFailure) {
        this.#entries.delete(key)
      }
    }
  }
}
