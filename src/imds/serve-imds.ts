/**
 * `iamra serve` with the official helper's credential flags: the drop-in for
 * `aws_signing_helper serve`. One role, IMDSv2 routes, one CreateSession at start-up that must
 * succeed (as upstream PR #200), then the shared cache's refresh-ahead. Never logs tokens.
 */
import { commandFileReader } from '../cli/input-files.js'
import { isEnvSource, readEnvText } from '../secrets/env-source.js'
import { closeTokenSessions } from '../identity/identity.js'
import type { Argv } from 'yargs'
import { CredentialCache } from '../cache/credential-cache.js'
import { fromCertificate } from '../credentials/from-certificate.js'
import { IamraError } from '../errors.js'
import { resolveSessionConfig } from '../rolesanywhere/session-config.js'
import { parseListen, takeListenFds } from '../server/listen.js'
import { ServerMetrics } from '../server/metrics.js'
import { startMetricsServer } from '../server/metrics-server.js'
import { runServer } from '../server/run-server.js'
import { createServiceManager } from '../server/service-manager.js'
import { isMidRotation } from '../identity/rotation.js'
import type { CliContext } from '../cli/context.js'
import { last, list } from '../cli/flags.js'
import { checkIdentityFlags, IDENTITY_FLAGS, SESSION_FLAGS } from '../cli/identity-flags.js'
import { buildImdsApp } from './app.js'
import { imdsCredentialSource, roleNameOf } from './credentials.js'
import { checkImdsListen, isLoopbackHost, parseHopLimit, parsePort } from './listen-policy.js'
import { TokenStore } from './token-store.js'

const CREDENTIAL_FLAGS = { ...IDENTITY_FLAGS, ...SESSION_FLAGS }
const GROUP = 'IMDS mode (any of these flags; the official aws_signing_helper serve flags):'
/** yargs reads `--no-verify-ssl` as the negation of `verify-ssl`, so that spelling is declared too. */
const MODE_FLAGS = [...Object.keys(CREDENTIAL_FLAGS), 'verify-ssl', 'port', 'hop-limit']

export function imdsOptions(y: Argv): Argv {
  for (const [name, spec] of Object.entries(CREDENTIAL_FLAGS)) {
    const dflt = 'default' in spec ? ` (default ${spec.default})` : ''
    y = y.option(name, { type: spec.type, describe: spec.description + dflt, group: GROUP })
  }
  return y
    .option('verify-ssl', { type: 'boolean', hidden: true })
    .option('port', { type: 'string', describe: 'IMDS mode: port on 127.0.0.1; 0 = ephemeral (default 9911)', group: GROUP })
    .option('hop-limit', { type: 'string', describe: 'IMDS mode: 1 to 255, accepted for compatibility; Node cannot set IP_TTL, so --listen is loopback-only (see docs/imds.md) (default 64)', group: GROUP })
}

export function imdsModeRequested(a: Record<string, unknown>): boolean {
  return MODE_FLAGS.some((n) => a[n] !== undefined)
}

/** The official flags as checkIdentityFlags and resolveSessionConfig expect them. */
function officialFlags(a: Record<string, unknown>): Record<string, string | string[] | boolean> {
  const out: Record<string, string | string[] | boolean> = {}
  for (const [name, spec] of Object.entries(CREDENTIAL_FLAGS)) {
    const v = a[name]
    if (v === undefined || v === false) continue
    if (spec.type === 'boolean') out[name] = true
    else if ('multiple' in spec && spec.multiple) out[name] = list((Array.isArray(v) ? v : [v]).map(String))
    else out[name] = String(last((Array.isArray(v) ? v : [v]).map(String)))
  }
  if (a['tpm-key-password'] === false) out['no-tpm-key-password'] = true // `--no-tpm-key-password`, negated by yargs
  if (a['verify-ssl'] === false) out['no-verify-ssl'] = true
  return out
}

export async function serveImds(a: Record<string, unknown>, ctx: CliContext): Promise<number> {
  const f = officialFlags(a)
  const s = (n: string): string | undefined => (typeof f[n] === 'string' ? (f[n] as string) : undefined)
  checkIdentityFlags(f as Parameters<typeof checkIdentityFlags>[0])
  if (a.cache === false) throw new IamraError('USAGE', '--no-cache applies to the ECS server; IMDS mode always caches (one role, refreshed ahead)')
  const listen = ((a.listen as string[] | undefined) ?? []).map(parseListen)
  if (listen.length > 0 && a.port !== undefined) throw new IamraError('USAGE', '--port and --listen cannot be combined: give the port in --listen HOST:PORT')
  checkImdsListen(listen)
  const port = parsePort(a.port as string | undefined)
  parseHopLimit(a['hop-limit'] as string | undefined) // validated only: see listen-policy.ts
  const refreshSeconds = Number(a['refresh-window'] ?? 1200)
  if (!Number.isInteger(refreshSeconds) || refreshSeconds < 0 || refreshSeconds > 21_600) throw new IamraError('USAGE', `--refresh-window must be 0 to 21600 seconds, got ${String(a['refresh-window'])}`)
  const warnDays = Number(a['expiry-warning-days'] ?? 7)
  if (!(warnDays >= 0 && warnDays <= 3650)) throw new IamraError('USAGE', `--expiry-warning-days must be 0 to 3650, got ${String(a['expiry-warning-days'])}`)
  const session = resolveSessionConfig({
    trustAnchorArn: s('trust-anchor-arn'), profileArn: s('profile-arn'), roleArn: s('role-arn'),
    sessionDuration: s('session-duration'), roleSessionName: s('role-session-name'), region: s('region'), endpoint: s('endpoint'),
    verifyTls: f['no-verify-ssl'] !== true, timeoutSeconds: s('timeout'), env: ctx.env,
  })
  const roleName = roleNameOf(session.request.roleArn)
  const inherited = takeListenFds(ctx.env as Record<string, string | undefined>, process.pid)
  const metricsAddress = a['metrics-listen'] === undefined ? undefined : parseListen(String(a['metrics-listen']))
  const metrics = new ServerMetrics()
  const now = (): number => ctx.now().getTime()
  const provider = fromCertificate({
    identity: {
      certificateFiles: list(f.certificate as string[] | undefined), intermediatesFiles: list(f.intermediates as string[] | undefined),
      privateKeyFile: s('private-key'), prompt: ctx.promptPassword, readFile: commandFileReader(ctx.env),
      password: s('pkcs8-password') !== undefined && isEnvSource(s('pkcs8-password') ?? '') ? readEnvText(s('pkcs8-password') ?? '', ctx.env, 'USAGE', 'password') : s('pkcs8-password'),
      pkcs11Lib: s('pkcs11-lib'), reusePin: f['reuse-pin'] === true,
      tpmKeyPassword: s('tpm-key-password'), noTpmKeyPassword: f['no-tpm-key-password'] === true, tpmDevice: ctx.env.TPM_DEVICE,
    },
    session,
    now: ctx.now,
    signal: ctx.stopSignal,
    debug: f.debug === true ? (line: string) => ctx.stderr(`debug: ${line}`) : undefined,
    onIdentity: (id) => {
      metrics.notAfter.set({ binding: roleName }, id.notAfter.getTime() / 1000)
      const days = (id.notAfter.getTime() - now()) / 86_400_000
      if (days < warnDays) ctx.stderr(`iamra: warning: the certificate ${id.leaf.subject.replace(/\n/g, ', ')} expires on ${id.notAfter.toISOString()}, in ${days.toFixed(1)} days: renew it`)
    },
  })
  const fetch = async () => {
    const started = performance.now()
    try {
      // A refresh that meets a half-rotated certificate and key reads them again (in fromCertificate).
      const creds = await provider()
      metrics.createSession.inc({ binding: roleName, result: 'ok' })
      return creds
    } catch (e) {
      metrics.createSession.inc({ binding: roleName, result: (e as { code?: string }).code ?? 'INTERNAL' })
      throw e
    } finally {
      metrics.createSessionSeconds.observe({ binding: roleName }, (performance.now() - started) / 1000)
    }
  }
  const cache = new CredentialCache({ refreshWindowMs: refreshSeconds * 1000, onEvent: metrics.onCacheEvent, now, isLocalTransient: isMidRotation })
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
    tokens: new TokenStore({ now }),
    onResponse: (route, status) => metrics.requests.inc({ route, status: String(status) }),
    logger: { level: String(a['log-level'] ?? 'info'), serializers: { req: (req: { method: string; url: string }) => ({ method: req.method, url: req.url }) } },
  })
  const log = (msg: string, extra: Record<string, unknown> = {}): void => app.fastify.log.info(extra, msg)
  const metricsServer = metricsAddress === undefined ? undefined : await startMetricsServer(metricsAddress, metrics)
  try {
    await runServer({
      app, inherited, addresses: listen.length > 0 ? listen : [{ kind: 'tcp', host: '127.0.0.1', port }],
      serviceManager: createServiceManager({ env: ctx.env, pid: process.pid, log }), stopSignal: ctx.stopSignal, log,
      onListening: (bound) => announce(bound, roleName, ctx),
      label: 'IMDSv2 credentials',
    })
  } finally {
    cache.clear()
    await metricsServer?.close()
    await closeTokenSessions()
  }
  return 0
}

/** The official helper's two start-up lines (stderr), plus a warning for inherited non-loopback sockets. */
function announce(bound: readonly string[], roleName: string, ctx: CliContext): void {
  const tcp = bound.map((b) => /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(b)).filter((m) => m !== null)
  for (const m of tcp) {
    const host = m[1] ?? m[2] ?? ''
    if (!isLoopbackHost(host)) ctx.stderr(`iamra: warning: serving IMDS credentials on ${m[0]}, not loopback: make sure its socket unit sets IPTTL=1 (iamra cannot set the hop limit)`)
  }
  const first = tcp[0]
  if (first === undefined) return
  const host = first[1] ?? first[2] ?? '127.0.0.1'
  const origin = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host
  ctx.stderr(`Local server started on port: ${first[3] ?? ''} (role ${roleName})`)
  ctx.stderr(`export AWS_EC2_METADATA_SERVICE_ENDPOINT=http://${origin}:${first[3] ?? ''}/`)
}
