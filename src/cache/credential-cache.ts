/**
 * An in-memory credential cache, one memoizer per key, under the refresh policy (refresh-policy.ts,
 * memoizer.ts): served while fresh; concurrent callers share one fetch; refreshed ahead in the
 * background while in use; after a failure, the last good credentials are served while valid, and
 * no new attempt is made before the minimum failure interval has passed. Keys are grouped (one
 * binding) and, within a group, of a lineage (same settings, other file contents).
 */
import type { SessionCredentials } from '../rolesanywhere/response.js'
import { Memoizer, type MemoClock, type MemoEvent, type SetTimer } from './memoizer.js'
import { SERVICE_POLICY, type RefreshPolicy } from './refresh-policy.js'

export type CacheEvent =
  | { readonly type: 'hit' | 'stale-served' | 'miss'; readonly key: string }
  | { readonly type: 'refreshed'; readonly key: string; readonly background: boolean }
  | { readonly type: 'refresh-failed'; readonly key: string; readonly background: boolean; readonly error: unknown }

export interface CredentialCacheOptions {
  /** The clock, epoch milliseconds: from the entry point. */
  readonly now: () => number
  /** For the background refresh's jitter and retry spread: from the entry point. */
  readonly random: () => number
  /** Credentials with less than this left are refreshed before being served (default 20 min). */
  readonly refreshWindowMs?: number
  /** No new upstream attempt sooner than this after a failure (default 10 s). */
  readonly minFailureIntervalMs?: number
  /** The same after an outage with nothing valid to serve meanwhile (default 1 s). */
  readonly minFailureIntervalEmptyMs?: number
  /**
   * Failures that reached no upstream and may clear at any moment (a file being rewritten): not
   * rate-limited, the next caller tries again.
   */
  readonly isLocalTransient?: (e: unknown) => boolean
  /** How long a caller holding still-valid credentials waits for their refresh (default 800 ms). */
  readonly maxRefreshWaitMs?: number
  readonly setTimer?: SetTimer
  readonly clearTimer?: (t: unknown) => void
  readonly onEvent?: (e: CacheEvent) => void
}

interface Entry {
  /** Entries of one group (a binding) replace each other: a new key means the old one is obsolete. */
  readonly group: string | undefined
  /**
   * Within a group, entries of the same lineage (same binding settings, other file contents) stand
   * in for each other: the older one is dropped only once the newer one has credentials.
   */
  readonly lineage: string | undefined
  readonly memo: Memoizer<SessionCredentials>
}

const expiresAt = (c: SessionCredentials): number => c.expiresAt.getTime()

export class CredentialCache {
  readonly #entries = new Map<string, Entry>()
  readonly #policy: RefreshPolicy
  readonly #clock: MemoClock
  readonly #isLocalTransient: ((e: unknown) => boolean) | undefined
  readonly #emit: ((e: CacheEvent) => void) | undefined

  constructor(opts: CredentialCacheOptions) {
    this.#policy = {
      ...SERVICE_POLICY,
      ...(opts.refreshWindowMs === undefined ? {} : { refreshWindowMs: opts.refreshWindowMs }),
      ...(opts.minFailureIntervalMs === undefined ? {} : { minFailureIntervalMs: opts.minFailureIntervalMs }),
      ...(opts.minFailureIntervalEmptyMs === undefined ? {} : { minFailureIntervalEmptyMs: opts.minFailureIntervalEmptyMs }),
      ...(opts.maxRefreshWaitMs === undefined ? {} : { maxRefreshWaitMs: opts.maxRefreshWaitMs }),
    }
    this.#clock = {
      now: opts.now,
      random: opts.random,
      setTimer: opts.setTimer ?? ((fn, ms) => setTimeout(fn, ms)),
      clearTimer: opts.clearTimer ?? ((t) => clearTimeout(t as NodeJS.Timeout)),
    }
    this.#isLocalTransient = opts.isLocalTransient
    this.#emit = opts.onEvent
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
    const got = this.#entry(key, fetch, group, lineage).memo.get(fetch)
    if (lineage === undefined) return got
    return got.catch((e: unknown) => {
      const held = this.#heldBy(key, group, lineage)
      if (held === undefined) throw e
      this.#emit?.({ type: 'stale-served', key })
      return held
    })
  }

  #entry(key: string, fetch: () => Promise<SessionCredentials>, group: string | undefined, lineage: string | undefined): Entry {
    if (this.#entries.size > 0) this.#sweep()
    let entry = this.#entries.get(key)
    if (entry !== undefined) return entry
    if (group !== undefined) {
      for (const [k, e] of this.#entries) {
        if (e.group === group && (lineage === undefined || e.lineage !== lineage)) this.#drop(k, e)
      }
    }
    const memo: Memoizer<SessionCredentials> = new Memoizer(fetch, {
      policy: this.#policy,
      clock: this.#clock,
      expiresAt,
      isLocalTransient: this.#isLocalTransient,
      background: { onIdle: () => this.#entries.get(key)?.memo === memo && this.#entries.delete(key) },
      onEvent: (e) => this.#onEvent(key, e),
    })
    entry = { group, lineage, memo }
    this.#entries.set(key, entry)
    return entry
  }

  #onEvent(key: string, e: MemoEvent): void {
    if (e.type === 'refreshed') {
      const entry = this.#entries.get(key)
      if (entry?.lineage !== undefined) {
        // The newer files work: entries they stood in for are obsolete now.
        for (const [k, other] of this.#entries) if (k !== key && other.group === entry.group && other.lineage === entry.lineage) this.#drop(k, other)
      }
    }
    this.#emit?.({ ...e, key })
  }

  /** The latest valid credentials cached for a group and lineage, whatever the key. */
  held(group: string, lineage: string): SessionCredentials | undefined {
    return this.#heldBy(undefined, group, lineage)
  }

  /** Valid credentials of another entry of the same group and lineage. */
  #heldBy(key: string | undefined, group: string | undefined, lineage: string): SessionCredentials | undefined {
    const now = this.#clock.now()
    let best: SessionCredentials | undefined
    for (const [k, e] of this.#entries) {
      if (k === key || e.group !== group || e.lineage !== lineage) continue
      const c = e.memo.held(now)
      if (c !== undefined && (best === undefined || c.expiresAt > best.expiresAt)) best = c
    }
    return best
  }

  #drop(key: string, e: Entry): void {
    e.memo.dispose()
    this.#entries.delete(key)
  }

  /** Drops every entry and timer (server shutdown). */
  clear(): void {
    for (const e of this.#entries.values()) e.memo.dispose()
    this.#entries.clear()
  }

  #sweep(): void {
    const now = this.#clock.now()
    for (const [key, e] of this.#entries) if (e.memo.disposable(now)) this.#entries.delete(key)
  }
}
