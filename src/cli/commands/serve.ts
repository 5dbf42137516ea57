/**
 * `iamra serve`: the multi-role ECS credentials server, or, given the official helper's credential
 * flags (--certificate, --role-arn, ...), the IMDSv2 drop-in for `aws_signing_helper serve`.
 */
import { readdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { Argv } from 'yargs'
import { IamraError } from '../../errors.js'
import { configurationDirectory } from '../../binding/store.js'
import { CredentialCache } from '../../cache/credential-cache.js'
import { buildApp } from '../../server/app.js'
import { bindingLookup } from '../../server/authorize.js'
import { bindingCredentials } from '../../server/binding-credentials.js'
import { cachedCredentials } from '../../server/cached-credentials.js'
import { ExpiryWatch } from '../../server/expiry-watch.js'
import { DEFAULT_LISTEN, describeListen, parseListen, takeListenFds } from '../../server/listen.js'
import { ServerMetrics } from '../../server/metrics.js'
import { startMetricsServer } from '../../server/metrics-server.js'
import { runServer } from '../../server/run-server.js'
import { imdsModeRequested, imdsOptions, serveImds } from '../../imds/serve-imds.js'
import { createServiceManager } from '../../server/service-manager.js'
import { redactUrl } from '../../server/token-extraction.js'
import { isMidRotation, retryMidRotation } from '../../identity/rotation.js'
import { describeInventory, inventory, scanCertificateExpiry } from '../../server/startup-scan.js'
import { kubernetesModeRequested, kubernetesOptions, serveKubernetes } from '../../kubernetes/serve-agent.js'
import type { CliContext } from '../context.js'
import type { YargsCommand } from '../yargs-cli.js'

export const command: YargsCommand = {
  command: 'serve',
  describe: 'serve credentials to bound consumers (ECS container-credentials protocol); with --certificate ... --role-arn: one role over IMDSv2 (as aws_signing_helper serve)',
  builder: (y: Argv) =>
    kubernetesOptions(imdsOptions(y))
      .option('configuration-directory', { type: 'string', describe: 'where bind writes; default: $RUNTIME_DIRECTORY' })
      .option('listen', { type: 'string', array: true, describe: 'HOST:PORT, [IPV6]:PORT or /path.sock; ignored under socket activation (default 127.0.0.1:7224; IMDS mode: loopback only, default 127.0.0.1:9911)' })
      .option('cache', { type: 'boolean', default: true, describe: 'cache credentials per binding (--no-cache: one CreateSession per request)' })
      .option('refresh-window', { type: 'number', default: 1200, describe: 'seconds: credentials with less left are refreshed before being served' })
      .option('metrics-listen', { type: 'string', describe: 'HOST:PORT or /path.sock for GET /metrics (Prometheus); off by default' })
      .option('expiry-warning-days', { type: 'number', default: 7, describe: 'warn when a binding\'s certificate expires within this many days' })
      .option('log-level', { type: 'string', choices: ['fatal', 'error', 'warn', 'info', 'debug'], default: 'info' }),
  handler: serve,
}

async function serve(a: Record<string, unknown>, ctx: CliContext): Promise<number> {
  if (kubernetesModeRequested(a)) return serveKubernetes(a, ctx)
  if (imdsModeRequested(a)) return serveImds(a, ctx)
  const dir = resolve(configurationDirectory(a['configuration-directory'] as string | undefined, ctx.env))
  const addresses = ((a.listen as string[] | undefined) ?? []).map(parseListen)
  const metricsAddress = a['metrics-listen'] === undefined ? undefined : parseListen(String(a['metrics-listen']))
  const warnDays = Number(a['expiry-warning-days'])
  if (!(warnDays >= 0 && warnDays <= 3650)) throw new IamraError('USAGE', `--expiry-warning-days must be 0 to 3650, got ${String(a['expiry-warning-days'])}`)
  // Only main() passes the real process.env; the LISTEN_* variables are consumed from it.
  const inherited = takeListenFds(ctx.env as Record<string, string | undefined>, process.pid)
  const metrics = new ServerMetrics()
  let warn: (msg: string, extra: Record<string, unknown>) => void = () => {}
  const expiry = new ExpiryWatch({ warnDays, now: ctx.now, warn: (m, e) => warn(m, e), onNotAfter: (b, d) => metrics.notAfter.set({ binding: b }, d.getTime() / 1000) })
  /** Unbound bindings leave /healthz and the certificate metric (checked when either is read). */
  const pruneUnbound = (): void => {
    let names: string[]
    try {
      names = readdirSync(join(dir, 'bindings')).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5))
    } catch {
      names = []
    }
    for (const gone of expiry.retain(new Set(names))) metrics.notAfter.remove({ binding: gone })
  }
  const fetchFor = bindingCredentials({
    env: ctx.env,
    keys: ctx.keys,
    now: ctx.now,
    signal: ctx.stopSignal,
    onIdentity: (b, notAfter) => expiry.record(b.name, notAfter),
    onExchange: (b, result, seconds) => {
      metrics.createSession.inc({ binding: b.name, result })
      metrics.createSessionSeconds.observe({ binding: b.name }, seconds)
    },
  })
  const cache = new CredentialCache({ refreshWindowMs: refreshWindowMs(a['refresh-window']), onEvent: metrics.onCacheEvent, isLocalTransient: isMidRotation })
  const app = await buildApp({
    configurationDirectory: dir,
    // Without a cache, a half-rotated pair is still read again after short waits.
    resolveCredentials: a.cache === false ? (b) => retryMidRotation(() => fetchFor(b)) : cachedCredentials(fetchFor, cache),
    onResponse: (route, status) => metrics.requests.inc({ route, status: String(status) }),
    health: () => {
      pruneUnbound()
      const { expiringSoon, earliest } = expiry.summary()
      return expiringSoon === 0 ? 'ok' : `ok; warning: ${expiringSoon} certificate(s) expire within ${warnDays} days, the first on ${earliest?.toISOString()}`
    },
    logger: {
      level: String(a['log-level']),
      serializers: { req: (req: { method: string; url: string }) => ({ method: req.method, url: redactUrl(req.url) }) },
      redact: ['req.headers.authorization', 'headers.authorization'],
    },
  })
  const log = (msg: string, extra: Record<string, unknown> = {}): void => app.fastify.log.info(extra, msg)
  warn = (msg, extra) => app.fastify.log.warn(extra, msg)
  const inv = inventory(dir)
  const described = describeInventory(dir, inv)
  log(described.info, { configurationDirectory: dir, bindings: inv.names.length })
  if (described.warning !== undefined) warn(described.warning, { configurationDirectory: dir })
  await scanCertificateExpiry(bindingLookup(dir), inv.names, (b, d) => expiry.record(b, d), (b, m) => warn(`binding ${b}: ${m}`, { binding: b }))
  const metricsServer = metricsAddress === undefined ? undefined : await startMetricsServer(metricsAddress, metrics, pruneUnbound)
  if (metricsServer !== undefined && metricsAddress !== undefined) {
    const bound = metricsServer.server.address()
    log(`metrics on ${typeof bound === 'object' && bound !== null ? `${bound.address}:${bound.port}` : describeListen(metricsAddress)}/metrics`)
  }
  const serviceManager = createServiceManager({ env: ctx.env, pid: process.pid, log })
  try {
    await runServer({
      app, inherited, addresses: addresses.length > 0 ? addresses : [DEFAULT_LISTEN], serviceManager, stopSignal: ctx.stopSignal, log,
    })
  } finally {
    cache.clear()
    await metricsServer?.close()
  }
  return 0
}

function refreshWindowMs(raw: unknown): number {
  const seconds = Number(raw)
  if (!Number.isInteger(seconds) || seconds < 0 || seconds > 6 * 3600) throw new IamraError('USAGE', `--refresh-window must be 0 to 21600 seconds, got ${String(raw)}`)
  return seconds * 1000
}
