/**
 * `iamra serve --kubernetes-issuer ...`: the node agent. Verifies each pod's projected
 * service-account token offline (jose, loaded here only), picks the `kubernetes` binding naming
 * its service account and serves that role's credentials in the EKS Pod Identity agent's format,
 * by default on 169.254.170.23:80 and [fd00:ec2::23]:80.
 */
import { readFileSync } from 'node:fs'
import { networkInterfaces } from 'node:os'
import { resolve } from 'node:path'
import type { Argv } from 'yargs'
import { configurationDirectory } from '../binding/store.js'
import { CredentialCache } from '../cache/credential-cache.js'
import type { CliContext } from '../cli/context.js'
import { IamraError } from '../errors.js'
import { imdsModeRequested } from '../imds/serve-imds.js'
import { describeListen, parseListen, takeListenFds, type ListenAddress } from '../server/listen.js'
import { ServerMetrics } from '../server/metrics.js'
import { startMetricsServer } from '../server/metrics-server.js'
import { runServer } from '../server/run-server.js'
import { createServiceManager } from '../server/service-manager.js'
import { AGENT_ADDRESSES, buildAgentApp } from './agent-app.js'
import { agentCredentials } from './agent-credentials.js'
import { cachedListing } from './binding.js'
import { fileJwks, httpsJwks, type JwksSource } from './jwks-source.js'
import { createKeySet } from './key-set.js'
import { createRateLimiter } from './rate-limit.js'
import { SESSION_NAME_STYLES, type SessionNameStyle } from './session-name.js'
import { createTokenVerifier } from './token-verifier.js'

const GROUP = 'Kubernetes node agent (--kubernetes-issuer turns it on):'

export function kubernetesOptions(y: Argv): Argv {
  return y
    .option('kubernetes-issuer', { type: 'string', group: GROUP, describe: 'the cluster\'s service-account issuer (its --service-account-issuer), e.g. https://kubernetes.default.svc.cluster.local' })
    .option('kubernetes-audience', { type: 'string', array: true, group: GROUP, describe: 'accepted token audience; repeatable (the webhook\'s --container-credentials-audience)' })
    .option('kubernetes-jwks', { type: 'string', group: GROUP, describe: 'the issuer\'s keys: a JWKS file, or an https:// URL (e.g. https://API-SERVER/openid/v1/jwks)' })
    .option('kubernetes-ca', { type: 'string', group: GROUP, describe: 'CA certificate(s) (PEM) for an https JWKS URL, e.g. the cluster CA' })
    .option('kubernetes-token-file', { type: 'string', group: GROUP, describe: 'bearer token file for the JWKS URL (a projected service-account token), re-read on every fetch' })
    .option('kubernetes-session-name', { type: 'string', choices: SESSION_NAME_STYLES, default: 'pod', group: GROUP, describe: 'roleSessionName: NAMESPACE.POD, NAMESPACE.SERVICEACCOUNT or none (a binding\'s --role-session-name wins)' })
    .option('kubernetes-rate-limit', { type: 'number', default: 50, group: GROUP, describe: 'requests per second per source address (bursts of twice that); over it: 429' })
    .option('kubernetes-jwks-cooldown', { type: 'number', default: 30, group: GROUP, describe: 'seconds: the least time between two JWKS re-loads for unknown key ids' })
    .option('kubernetes-clock-tolerance', { type: 'number', default: 30, group: GROUP, describe: 'seconds of clock skew allowed on exp, nbf and iat' })
}

const AGENT_FLAGS = ['kubernetes-issuer', 'kubernetes-audience', 'kubernetes-jwks', 'kubernetes-ca', 'kubernetes-token-file']

export function kubernetesModeRequested(a: Record<string, unknown>): boolean {
  return AGENT_FLAGS.some((f) => a[f] !== undefined)
}

const lastOf = (v: unknown): string | undefined => (Array.isArray(v) ? (v.at(-1) as string | undefined) : (v as string | undefined))

function bounded(a: Record<string, unknown>, flag: string, min: number, max: number): number {
  const n = Number(a[flag])
  if (!Number.isFinite(n) || n < min || n > max) throw new IamraError('USAGE', `--${flag} must be ${min} to ${max}, got ${String(a[flag])}`)
  return n
}

export interface AgentConfig {
  readonly issuer: string
  readonly audiences: readonly string[]
  readonly jwks: JwksSource
  readonly sessionNames: SessionNameStyle
  readonly rate: number
  readonly cooldownMs: number
  readonly clockTolerance: number
}

/** The agent's options, checked together; every problem is a USAGE error naming the flag. */
export function agentConfig(a: Record<string, unknown>): AgentConfig {
  const issuer = lastOf(a['kubernetes-issuer'])
  const audiences = ((a['kubernetes-audience'] as string[] | undefined) ?? []).filter((s) => s !== '')
  const jwks = lastOf(a['kubernetes-jwks'])
  if (issuer === undefined || issuer === '') throw new IamraError('USAGE', 'the node agent needs --kubernetes-issuer URL (the cluster\'s service-account issuer)')
  if (audiences.length === 0) throw new IamraError('USAGE', 'the node agent needs --kubernetes-audience AUD (what the webhook puts in the projected tokens)')
  if (jwks === undefined || jwks === '') throw new IamraError('USAGE', 'the node agent needs --kubernetes-jwks FILE or https://URL')
  const caFile = lastOf(a['kubernetes-ca'])
  const tokenFile = lastOf(a['kubernetes-token-file'])
  let source: JwksSource
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(jwks)) {
    let ca: string | undefined
    if (caFile !== undefined) {
      try {
        ca = readFileSync(caFile, 'utf8')
      } catch (e) {
        throw new IamraError('USAGE', `cannot read --kubernetes-ca ${caFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e })
      }
    }
    source = httpsJwks({ url: new URL(jwks), ca, tokenFile: tokenFile === undefined ? undefined : resolve(tokenFile) })
  } else {
    if (caFile !== undefined || tokenFile !== undefined) throw new IamraError('USAGE', '--kubernetes-ca and --kubernetes-token-file are for an https:// --kubernetes-jwks URL')
    source = fileJwks(resolve(jwks))
  }
  return {
    issuer, audiences, jwks: source,
    sessionNames: String(a['kubernetes-session-name'] ?? 'pod') as SessionNameStyle,
    rate: bounded(a, 'kubernetes-rate-limit', 1, 100_000),
    cooldownMs: bounded(a, 'kubernetes-jwks-cooldown', 0, 3600) * 1000,
    clockTolerance: bounded(a, 'kubernetes-clock-tolerance', 0, 300),
  }
}

/** The link-local addresses this host owns (the IPv6 one is optional, as in the EKS agent). */
function defaultAddresses(log: (m: string) => void): ListenAddress[] {
  const owned = new Set(Object.values(networkInterfaces()).flatMap((l) => (l ?? []).map((i) => i.address.toLowerCase())))
  const out: ListenAddress[] = [{ kind: 'tcp', host: AGENT_ADDRESSES[0], port: 80 }]
  if (owned.has(AGENT_ADDRESSES[1])) out.push({ kind: 'tcp', host: AGENT_ADDRESSES[1], port: 80 })
  else log(`${AGENT_ADDRESSES[1]} is not configured on this host: serving IPv4 only (see docs/kubernetes.md, link-local set-up)`)
  return out
}

export async function serveKubernetes(a: Record<string, unknown>, ctx: CliContext): Promise<number> {
  if (imdsModeRequested(a)) throw new IamraError('USAGE', 'the node agent takes its identities from kubernetes bindings: drop the IMDS-mode flags (--certificate, --role-arn, ...) and use iamra bind --mode kubernetes')
  const config = agentConfig(a)
  const dir = resolve(configurationDirectory(a['configuration-directory'] as string | undefined, ctx.env))
  const listen = ((a.listen as string[] | undefined) ?? []).map(parseListen)
  const metricsAddress = a['metrics-listen'] === undefined ? undefined : parseListen(String(a['metrics-listen']))
  const refreshSeconds = bounded(a, 'refresh-window', 0, 21_600)
  if (a.cache === false) throw new IamraError('USAGE', '--no-cache does not apply to the node agent: its cache is what keeps CreateSession calls bounded')
  const inherited = takeListenFds(ctx.env as Record<string, string | undefined>, process.pid)
  const jose = await import('jose')
  const now = (): number => ctx.now().getTime()
  const metrics = new ServerMetrics()
  let logInfo: (msg: string, extra?: Record<string, unknown>) => void = (m) => ctx.stderr(`iamra: ${m}`)
  let logWarn: (msg: string, extra?: Record<string, unknown>) => void = (m) => ctx.stderr(`iamra: warning: ${m}`)
  const keys = createKeySet({
    jose, source: config.jwks, cooldownMs: config.cooldownMs, maxAgeMs: 10 * 60_000, now,
    onLoad: (r) => ('keys' in r ? logInfo(`loaded ${r.keys} key(s) from ${config.jwks.describe}`) : logWarn((r.error as Error).message)),
  })
  // A JWKS source down at start-up is not fatal: the agent retries on the first requests.
  await keys.load().catch(() => {})
  const cache = new CredentialCache({ refreshWindowMs: refreshSeconds * 1000, onEvent: metrics.onCacheEvent, now })
  const app = await buildAgentApp({
    verify: createTokenVerifier({ jose, keys, issuer: config.issuer, audiences: config.audiences, clockToleranceSeconds: config.clockTolerance, now: ctx.now }),
    bindings: cachedListing(dir, 1000, now),
    credentials: agentCredentials({
      cache, env: ctx.env, now: ctx.now, keys: ctx.keys, signal: ctx.stopSignal,
      onExchange: (b, result, seconds) => {
        metrics.createSession.inc({ binding: b.name, result })
        metrics.createSessionSeconds.observe({ binding: b.name }, seconds)
      },
    }),
    sessionNames: config.sessionNames,
    rateLimit: createRateLimiter({ rate: config.rate, burst: config.rate * 2, now }),
    unhealthy: () => (keys.loaded ? undefined : `no keys loaded from ${config.jwks.describe}`),
    onResponse: (route, status) => metrics.requests.inc({ route, status: String(status) }),
    logger: { level: String(a['log-level'] ?? 'info'), redact: ['req.headers.authorization', 'headers.authorization'] },
  })
  logInfo = (msg, extra = {}) => app.fastify.log.info(extra, msg)
  logWarn = (msg, extra = {}) => app.fastify.log.warn(extra, msg)
  const metricsServer = metricsAddress === undefined ? undefined : await startMetricsServer(metricsAddress, metrics)
  if (metricsAddress !== undefined) logInfo(`metrics on ${describeListen(metricsAddress)}/metrics`)
  try {
    await runServer({
      app, inherited, addresses: listen.length > 0 ? listen : defaultAddresses((m) => logWarn(m)),
      serviceManager: createServiceManager({ env: ctx.env, pid: process.pid, log: logInfo }), stopSignal: ctx.stopSignal, log: logInfo,
      label: `Kubernetes pod credentials (issuer ${config.issuer})`,
    })
  } finally {
    cache.clear()
    await metricsServer?.close()
  }
  return 0
}
