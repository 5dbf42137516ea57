/**
 * Prometheus metrics for the server, exposed only on the opt-in metrics listener: requests,
 * CreateSession calls and latency, cache events, and each binding's certificate expiry.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { CacheEvent } from '../cache/credential-cache.js'

export class ServerMetrics {
  readonly registry = new Registry()
  readonly requests = new Counter({
    name: 'iamra_http_requests_total',
    help: 'HTTP requests by route and status',
    labelNames: ['route', 'status'] as const,
    registers: [this.registry],
  })
  readonly createSession = new Counter({
    name: 'iamra_create_session_total',
    help: 'CreateSession exchanges by binding and result (ok or an iamra error code)',
    labelNames: ['binding', 'result'] as const,
    registers: [this.registry],
  })
  readonly createSessionSeconds = new Histogram({
    name: 'iamra_create_session_duration_seconds',
    help: 'CreateSession exchange latency, retries included',
    labelNames: ['binding'] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
    registers: [this.registry],
  })
  readonly cache = new Counter({
    name: 'iamra_cache_events_total',
    help: 'credential cache events: hit, miss, stale-served, refreshed, refresh-failed',
    labelNames: ['event'] as const,
    registers: [this.registry],
  })
  readonly notAfter = new Gauge({
    name: 'iamra_certificate_not_after_seconds',
    help: "notAfter of each binding's certificate, Unix seconds",
    labelNames: ['binding'] as const,
    registers: [this.registry],
  })

  constructor(opts: { processMetrics?: boolean } = {}) {
    if (opts.processMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'iamra_' })
  }

  /** One CreateSession exchange of a binding (IMDS mode: of its role): result and duration. */
  onExchange = (binding: string, result: string, seconds: number): void => {
    this.createSession.inc({ binding, result })
    this.createSessionSeconds.observe({ binding }, seconds)
  }

  onCacheEvent = (e: CacheEvent): void => {
    this.cache.inc({ event: e.type })
  }

  async text(): Promise<string> {
    return this.registry.metrics()
  }
}
