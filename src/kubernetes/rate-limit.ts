/**
 * A token bucket per source address: `rate` requests a second with bursts of `burst`. Idle
 * sources are forgotten, and the table never holds more than `maxSources` entries.
 */
export interface RateLimiterInit {
  readonly rate: number
  readonly burst: number
  readonly now: () => number
  readonly maxSources?: number
}

export type RateLimiter = (source: string) => boolean

export function createRateLimiter(init: RateLimiterInit): RateLimiter {
  const buckets = new Map<string, { tokens: number; at: number }>()
  const max = init.maxSources ?? 10_000
  const fullAfterMs = (init.burst / init.rate) * 1000
  return (source) => {
    const now = init.now()
    let b = buckets.get(source)
    if (b === undefined) {
      if (buckets.size >= max) {
        // Drop sources whose bucket has refilled anyway; if none has, the oldest.
        for (const [k, v] of buckets) if (now - v.at >= fullAfterMs) buckets.delete(k)
        if (buckets.size >= max) buckets.delete(buckets.keys().next().value as string)
      }
      b = { tokens: init.burst, at: now }
      buckets.set(source, b)
    }
    b.tokens = Math.min(init.burst, b.tokens + ((now - b.at) / 1000) * init.rate)
    b.at = now
    if (b.tokens < 1) return false
    b.tokens -= 1
    return true
  }
}
