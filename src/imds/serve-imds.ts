/**
 * `iamra serve` with the official helper's credential flags: the drop-in for
 * `aws_signing_helper serve`. One role, IMDSv2 routes, one CreateSession at start-up that must
 * succeed (as upstream PR #200), then the shared cache's refresh-ahead. Never logs tokens. The CLI
 * (src/cli/commands/serve.ts) parses and checks the flags; this takes typed options.
 */
import type { Runtime } from '../runtime.js'
import type { IdentityInit } from '../identity/identity.js'
import type { KeyBackends } from '../keys/key-backends.js'
import { CredentialCache } from '../cache/credential-cache.js'
import { fromCertificate } from '../credentials/from-certificate.js'
import { IamraError } from '../errors.js'
import type { SessionConfig } from '../rolesanywhere/session-config.js'
import { takeListenFds, type ListenAddress } from '../server/listen.js'
import { ExpiryWatch } from '../server/expiry-watch.js'
import { ServerMetrics } from '../server/metrics.js'
import { startMetricsServer } from '../server/metrics-server.js'
import { runServer } from '../server/run-server.js'
import { createServiceManager } from '../server/service-manager.js'
import { isMidRotation } from '../identity/rotation.js'
import { buildImdsApp } from './app.js'
import { roleName as roleNameOf } from '../rolesanywhere/arn.js'
import { imdsCredentialSource } from './credentials.js'
import { checkImdsListen, isLoopbackHost } from './listen-policy.js'
import { TokenStore } from './token-store.js'

export interface ImdsServeOptions {
  /** The one identity, as loadIdentity takes it (files, URIs, password, prompt, reader). */
  readonly identity: Omit<IdentityInit, 'now'>
  readonly session: SessionConfig
  /** Loopback TCP addresses (checked again here); ignored under socket activation. */
  readonly addresses: readonly ListenAddress[]
  readonly refreshWindowMs: number
  readonly expiryWarningDays: number
  readonly metricsAddress?: ListenAddress | undefined
  readonly logLevel: string
  readonly debug?: ((line: string) => void) | undefined
}

export interface ImdsServeDeps extends Runtime {
  /** Token and TPM keys of the entry point, which disposes of them. */
  readonly keys: KeyBackends
  /** Human notes (the official helper's start-up lines, warnings); never a secret. */
  readonly stderr: (line: string) => void
  readonly stopSignal: AbortSignal
}

export async function serveImds(options: ImdsServeOptions, ctx: ImdsServeDeps): Promise<number> {
  checkImdsListen(options.addresses)
  const { session, metricsAddress } = options
  const warnDays = options.expiryWarningDays
  const roleName = roleNameOf(session.request.roleArn)
  const inherited = takeListenFds(ctx.env as Record<string, string | undefined>, process.pid)
  const metrics = new ServerMetrics()
  const now = (): number => ctx.now().getTime()
  // The same expiry warning and metric as the ECS server, on stderr.
  const expiry = new ExpiryWatch({
    warnDays,
    now: ctx.now,
    warn: (m) => ctx.stderr(`iamra: warning: ${m}`),
    onNotAfter: (b, d) => metrics.notAfter.set({ binding: b }, d.getTime() / 1000),
  })
  const provider = fromCertificate({
    identity: options.identity,
    keys: ctx.keys,
    session,
    now: ctx.now,
    random: ctx.random,
    signal: ctx.stopSignal,
    debug: options.debug,
    onIdentity: (id) => expiry.record(roleName, id.notAfter, id.leaf.subject.replace(/\n/g, ', ')),
  })
  const fetch = async () => {
    const started = performance.now()
    const done = (result: string): void => metrics.onExchange(roleName, result, (performance.now() - started) / 1000)
    try {
      // A refresh that meets a half-rotated certificate and key reads them again (in fromCertificate).
      const creds = await provider()
      done('ok')
      return creds
    } catch (e) {
      done((e as { code?: string }).code ?? 'INTERNAL')
      throw e
    }
  }
  const cache = new CredentialCache({
    refreshWindowMs: options.refreshWindowMs,
    onEvent: metrics.onCacheEvent,
    now,
    random: ctx.random,
    isLocalTransient: isMidRotation,
  })
  const credentials = imdsCredentialSource(fetch, cache, now)
  try {
    await credentials() // PR #200: no server without a first good CreateSession
  } catch (e) {
    cache.clear()
    if (e instanceof IamraError) throw e.rephrase((text) => `serve: the first CreateSession failed, not starting: ${text}`)
    throw e
  }
  const app = await buildImdsApp({
    roleName,
    credentials,
    tokens: new TokenStore({ now, random: ctx.randomBytes }),
    onResponse: (route, status) => metrics.requests.inc({ route, status: String(status) }),
    logger: { level: options.logLevel, serializers: { req: (req: { method: string; url: string }) => ({ method: req.method, url: req.url }) } },
  })
  const log = (msg: string, extra: Record<string, unknown> = {}): void => app.fastify.log.info(extra, msg)
  const metricsServer = metricsAddress === undefined ? undefined : await startMetricsServer(metricsAddress, metrics)
  try {
    await runServer({
      app,
      inherited,
      addresses: options.addresses,
      serviceManager: createServiceManager({ env: ctx.env, pid: process.pid, log }),
      stopSignal: ctx.stopSignal,
      log,
      onListening: (bound) => announce(bound, roleName, ctx),
      label: 'IMDSv2 credentials',
    })
  } finally {
    cache.clear()
    await metricsServer?.close()
  }
  return 0
}

/** The official helper's two start-up lines (stderr), plus a warning for inherited non-loopback sockets. */
function announce(bound: readonly string[], roleName: string, ctx: Pick<ImdsServeDeps, 'stderr'>): void {
  const tcp = bound.map((b) => /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(b)).filter((m) => m !== null)
  for (const m of tcp) {
    const host = m[1] ?? m[2] ?? ''
    if (!isLoopbackHost(host))
      ctx.stderr(`iamra: warning: serving IMDS credentials on ${m[0]}, not loopback: make sure its socket unit sets IPTTL=1 (iamra cannot set the hop limit)`)
  }
  const first = tcp[0]
  if (first === undefined) return
  const host = first[1] ?? first[2] ?? '127.0.0.1'
  const origin = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host
  ctx.stderr(`Local server started on port: ${first[3] ?? ''} (role ${roleName})`)
  ctx.stderr(`export AWS_EC2_METADATA_SERVICE_ENDPOINT=http://${origin}:${first[3] ?? ''}/`)
}
