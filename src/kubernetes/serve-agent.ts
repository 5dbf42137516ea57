/**
 * `iamra serve --kubernetes-issuer ...`: the node agent. Verifies each pod's projected
 * service-account token offline (jose, loaded here only), picks the `kubernetes` binding naming
 * its service account and serves that role's credentials in the EKS Pod Identity agent's format,
 * by default on 169.254.170.23:80 and [fd00:ec2::23]:80.
 */
import type { Runtime } from '../runtime.js'
import { networkInterfaces } from 'node:os'
import { CredentialCache } from '../cache/credential-cache.js'
import { FileDigests } from '../fs/file-digests.js'
import { describeListen, takeListenFds, type ListenAddress } from '../server/listen.js'
import type { KeyBackends } from '../keys/key-backends.js'
import { ServerMetrics } from '../server/metrics.js'
import { startMetricsServer } from '../server/metrics-server.js'
import { runServer } from '../server/run-server.js'
import { createServiceManager } from '../server/service-manager.js'
import { AGENT_ADDRESSES, buildAgentApp } from './agent-app.js'
import { agentCredentials } from './agent-credentials.js'
import { cachedListing } from './binding.js'
import type { JwksSource } from './jwks-source.js'
import { createKeySet } from './key-set.js'
import { createRateLimiter } from './rate-limit.js'
import type { SessionNameStyle } from './session-name.js'
import { createTokenVerifier } from './token-verifier.js'

/** The agent's settings, checked by the CLI (src/cli/commands/serve.ts). */
export interface AgentConfig {
  readonly issuer: string
  readonly audiences: readonly string[]
  readonly jwks: JwksSource
  readonly sessionNames: SessionNameStyle
  /** Requests per second per source address (bursts of twice that). */
  readonly rate: number
  readonly cooldownMs: number
  /** Seconds of clock skew allowed on exp, nbf and iat. */
  readonly clockTolerance: number
}

export interface AgentServeOptions extends AgentConfig {
  /** Where the kubernetes bindings are, absolute. */
  readonly configurationDirectory: string
  /** Empty: the EKS Pod Identity agent's link-local addresses. Ignored under socket activation. */
  readonly addresses: readonly ListenAddress[]
  readonly metricsAddress?: ListenAddress | undefined
  readonly refreshWindowMs: number
  readonly logLevel: string
}

export interface AgentServeDeps extends Runtime {
  /** Token and TPM keys of the entry point, which disposes of them. */
  readonly keys: KeyBackends
  readonly stderr: (line: string) => void
  readonly stopSignal: AbortSignal
}

/** The link-local addresses this host owns (the IPv6 one is optional, as in the EKS agent). */
function defaultAddresses(log: (m: string) => void): ListenAddress[] {
  const owned = new Set(Object.values(networkInterfaces()).flatMap((l) => (l ?? []).map((i) => i.address.toLowerCase())))
  const out: ListenAddress[] = [{ kind: 'tcp', host: AGENT_ADDRESSES[0], port: 80 }]
  if (owned.has(AGENT_ADDRESSES[1])) out.push({ kind: 'tcp', host: AGENT_ADDRESSES[1], port: 80 })
  else log(`${AGENT_ADDRESSES[1]} is not configured on this host: serving IPv4 only (see docs/kubernetes.md, link-local set-up)`)
  return out
}

export async function serveKubernetes(config: AgentServeOptions, ctx: AgentServeDeps): Promise<number> {
  const { configurationDirectory: dir, addresses: listen, metricsAddress } = config
  const inherited = takeListenFds(ctx.env as Record<string, string | undefined>, process.pid)
  const jose = await import('jose')
  const now = (): number => ctx.now().getTime()
  const metrics = new ServerMetrics()
  let logInfo: (msg: string, extra?: Record<string, unknown>) => void = (m) => ctx.stderr(`iamra: ${m}`)
  let logWarn: (msg: string, extra?: Record<string, unknown>) => void = (m) => ctx.stderr(`iamra: warning: ${m}`)
  const keys = createKeySet({
    jose,
    source: config.jwks,
    cooldownMs: config.cooldownMs,
    maxAgeMs: 10 * 60_000,
    now,
    onLoad: (r) => ('keys' in r ? logInfo(`loaded ${r.keys} key(s) from ${config.jwks.describe}`) : logWarn((r.error as Error).message)),
  })
  // A JWKS source down at start-up is not fatal: the agent retries on the first requests.
  await keys.load().catch(() => {})
  const cache = new CredentialCache({ refreshWindowMs: config.refreshWindowMs, onEvent: metrics.onCacheEvent, now, random: ctx.random })
  const app = await buildAgentApp({
    verify: createTokenVerifier({ jose, keys, issuer: config.issuer, audiences: config.audiences, clockToleranceSeconds: config.clockTolerance, now: ctx.now }),
    bindings: cachedListing(dir, 1000, now),
    credentials: agentCredentials({
      cache,
      env: ctx.env,
      now: ctx.now,
      random: ctx.random,
      keys: ctx.keys,
      files: new FileDigests({ now, afterTurn: (forget) => setImmediate(forget) }),
      signal: ctx.stopSignal,
      onExchange: (b, result, seconds) => metrics.onExchange(b.name, result, seconds),
    }),
    sessionNames: config.sessionNames,
    rateLimit: createRateLimiter({ rate: config.rate, burst: config.rate * 2, now }),
    unhealthy: () => (keys.loaded ? undefined : `no keys loaded from ${config.jwks.describe}`),
    onResponse: (route, status) => metrics.requests.inc({ route, status: String(status) }),
    logger: { level: config.logLevel, redact: ['req.headers.authorization', 'headers.authorization'] },
  })
  logInfo = (msg, extra = {}) => app.fastify.log.info(extra, msg)
  logWarn = (msg, extra = {}) => app.fastify.log.warn(extra, msg)
  const metricsServer = metricsAddress === undefined ? undefined : await startMetricsServer(metricsAddress, metrics)
  if (metricsAddress !== undefined) logInfo(`metrics on ${describeListen(metricsAddress)}/metrics`)
  try {
    await runServer({
      app,
      inherited,
      addresses: listen.length > 0 ? listen : defaultAddresses((m) => logWarn(m)),
      serviceManager: createServiceManager({ env: ctx.env, pid: process.pid, log: logInfo }),
      stopSignal: ctx.stopSignal,
      log: logInfo,
      label: `Kubernetes pod credentials (issuer ${config.issuer})`,
    })
  } finally {
    cache.clear()
    await metricsServer?.close()
  }
  return 0
}
