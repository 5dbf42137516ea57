/**
 * `iamra serve`: the multi-role ECS credentials server, or, given the official helper's credential
 * flags (--certificate, --role-arn, ...), the IMDSv2 drop-in for `aws_signing_helper serve`.
 */
import { readdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { configurationDirectory } from '../../binding/store.js'
import { CredentialCache } from '../../cache/credential-cache.js'
import { buildApp } from '../../server/app.js'
import { bindingCredentials } from '../../server/binding-credentials.js'
import { BindingLookup } from '../../server/binding-lookup.js'
import { BindingKeys } from '../../server/binding-key.js'
import { cachedCredentials } from '../../server/cached-credentials.js'
import { FileDigests } from '../../fs/file-digests.js'
import { ExpiryWatch } from '../../server/expiry-watch.js'
import { DEFAULT_LISTEN, describeListen, takeListenFds } from '../../server/listen.js'
import { parseListen } from '../listen-flag.js'
import { ServerMetrics } from '../../server/metrics.js'
import { startMetricsServer } from '../../server/metrics-server.js'
import { runServer } from '../../server/run-server.js'
import { createServiceManager } from '../../server/service-manager.js'
import { redactUrl } from '../../server/token-extraction.js'
import { isMidRotation } from '../../identity/rotation.js'
import { describeInventory, inventory, scanCertificateExpiry } from '../../server/startup-scan.js'
import type { CliContext } from '../context.js'
import type { ParsedFlags, TableCommand } from '../flags.js'
import { SERVE_FLAGS } from './serve-flags.js'
import { agentModeRequested, imdsModeRequested, serveAgentMode, serveImdsMode } from './serve-modes.js'

export const command: TableCommand<typeof SERVE_FLAGS> = {
  usage:
    'iamra serve [--configuration-directory DIR] [--listen ADDRESS] [flags] | iamra serve --certificate FILE --private-key FILE --trust-anchor-arn ARN --profile-arn ARN --role-arn ARN [flags] | iamra serve --kubernetes-issuer URL --kubernetes-audience AUD --kubernetes-jwks FILE|URL [flags]',
  summary:
    'Serves credentials to bound consumers (ECS container-credentials protocol); with --certificate ... --role-arn: one role over IMDSv2 (as aws_signing_helper serve); with --kubernetes-issuer: the node agent for kubernetes bindings.',
  flags: SERVE_FLAGS,
  run: async (parsed, ctx) => {
    if (agentModeRequested(parsed.given)) return serveAgentMode(parsed, ctx)
    if (imdsModeRequested(parsed.given)) return serveImdsMode(parsed, ctx)
    return serve(parsed.flags, ctx)
  },
}

async function serve(a: ParsedFlags<typeof SERVE_FLAGS>, ctx: CliContext): Promise<number> {
  const dir = resolve(configurationDirectory(a['configuration-directory'], ctx.env))
  const addresses = (a.listen ?? []).map((v) => parseListen(v))
  const metricsAddress = a['metrics-listen'] === undefined ? undefined : parseListen(a['metrics-listen'], '--metrics-listen')
  const warnDays = a['expiry-warning-days']
  // Only main() passes the real process.env; the LISTEN_* variables are consumed from it.
  const inherited = takeListenFds(ctx.env as Record<string, string | undefined>, process.pid)
  const metrics = new ServerMetrics()
  let warn: (msg: string, extra: Record<string, unknown>) => void = () => {}
  const expiry = new ExpiryWatch({
    warnDays,
    now: ctx.now,
    warn: (m, e) => warn(m, e),
    onNotAfter: (b, d) => metrics.notAfter.set({ binding: b }, d.getTime() / 1000),
  })
  /** Unbound bindings leave /healthz and the certificate metric (checked when either is read). */
  const pruneUnbound = (): void => {
    let names: string[]
    try {
      names = readdirSync(join(dir, 'bindings'))
        .filter((f) => f.endsWith('.json'))
        .map((f) => f.slice(0, -5))
    } catch {
      names = []
    }
    for (const gone of expiry.retain(new Set(names))) metrics.notAfter.remove({ binding: gone })
  }
  const fetchFor = bindingCredentials({
    env: ctx.env,
    keys: ctx.keys,
    now: ctx.now,
    random: ctx.random,
    signal: ctx.stopSignal,
    onIdentity: (b, notAfter) => expiry.record(b.name, notAfter),
    onExchange: (b, result, seconds) => metrics.onExchange(b.name, result, seconds),
  })
  // One clock for the whole server: the cache's refresh decisions and the expiry warnings read the same one.
  const cache = new CredentialCache({
    refreshWindowMs: a['refresh-window'] * 1000,
    onEvent: metrics.onCacheEvent,
    isLocalTransient: isMidRotation,
    now: () => ctx.now().getTime(),
    random: ctx.random,
  })
  // One event loop, one notion of a turn: the lookup and the file digests forget what they saw when it ends.
  const afterTurn = (forget: () => void): void => void setImmediate(forget)
  const lookup = new BindingLookup(dir, { afterTurn, now: () => ctx.now().getTime() })
  const app = await buildApp({
    configurationDirectory: dir,
    lookup,
    // Without a cache too, a half-rotated pair is read again after short waits (by the loader itself).
    resolveCredentials:
      a.cache === false ? fetchFor : cachedCredentials(fetchFor, cache, new BindingKeys(new FileDigests({ now: () => ctx.now().getTime(), afterTurn }))),
    onResponse: (route, status) => metrics.requests.inc({ route, status: String(status) }),
    health: () => {
      pruneUnbound()
      const { expiringSoon, earliest } = expiry.summary()
      return expiringSoon === 0 ? 'ok' : `ok; warning: ${expiringSoon} certificate(s) expire within ${warnDays} days, the first on ${earliest?.toISOString()}`
    },
    logger: {
      level: a['log-level'],
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
  await scanCertificateExpiry(
    lookup,
    inv.names,
    (b, d) => expiry.record(b, d),
    (b, m) => warn(`binding ${b}: ${m}`, { binding: b }),
  )
  const metricsServer = metricsAddress === undefined ? undefined : await startMetricsServer(metricsAddress, metrics, pruneUnbound)
  if (metricsServer !== undefined && metricsAddress !== undefined) {
    const bound = metricsServer.server.address()
    log(`metrics on ${typeof bound === 'object' && bound !== null ? `${bound.address}:${bound.port}` : describeListen(metricsAddress)}/metrics`)
  }
  const serviceManager = createServiceManager({ env: ctx.env, pid: process.pid, log })
  try {
    await runServer({
      app,
      inherited,
      addresses: addresses.length > 0 ? addresses : [DEFAULT_LISTEN],
      serviceManager,
      stopSignal: ctx.stopSignal,
      log,
    })
  } finally {
    cache.clear()
    await metricsServer?.close()
  }
  return 0
}
