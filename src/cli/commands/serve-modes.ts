/**
 * `iamra serve`'s IMDS and node-agent modes: their flags (already typed by the flag layer) checked
 * together and turned into the typed options of the services in src/imds and src/kubernetes.
 */
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { configurationDirectory } from '../../binding/store.js'
import { IamraError } from '../../errors.js'
import { serveImds } from '../../imds/serve-imds.js'
import { fileJwks, httpsJwks, type JwksSource } from '../../kubernetes/jwks-source.js'
import { serveKubernetes, type AgentConfig } from '../../kubernetes/serve-agent.js'
import { parseListen } from '../listen-flag.js'
import type { CliContext } from '../context.js'
import type { Parsed, ParsedFlags } from '../flags.js'
import { checkIdentityFlags, identityInputs, sessionFromFlags } from '../identity-flags.js'
import { AGENT_SWITCHES, IMDS_FLAGS, type SERVE_FLAGS } from './serve-flags.js'

type ServeParsed = Parsed<typeof SERVE_FLAGS>
type ServeFlags = ParsedFlags<typeof SERVE_FLAGS>

export const imdsModeRequested = (given: ServeParsed['given']): boolean => Object.keys(IMDS_FLAGS).some((n) => given.has(n as keyof typeof SERVE_FLAGS))
export const agentModeRequested = (given: ServeParsed['given']): boolean => AGENT_SWITCHES.some((n) => given.has(n))

const metricsAddressOf = (flags: ServeFlags) => (flags['metrics-listen'] === undefined ? undefined : parseListen(flags['metrics-listen'], '--metrics-listen'))

export async function serveImdsMode({ flags, given }: ServeParsed, ctx: CliContext): Promise<number> {
  checkIdentityFlags(flags)
  if (flags.cache === false) throw new IamraError('USAGE', '--no-cache applies to the ECS server; IMDS mode always caches (one role, refreshed ahead)')
  const listen = (flags.listen ?? []).map((v) => parseListen(v))
  if (listen.length > 0 && given.has('port')) throw new IamraError('USAGE', '--port and --listen cannot be combined: give the port in --listen HOST:PORT')
  const session = sessionFromFlags(flags, ctx.env)
  return serveImds(
    {
      identity: identityInputs(flags, ctx.promptPassword, ctx.env),
      session,
      addresses: listen.length > 0 ? listen : [{ kind: 'tcp', host: '127.0.0.1', port: flags.port }],
      refreshWindowMs: flags['refresh-window'] * 1000,
      expiryWarningDays: flags['expiry-warning-days'],
      metricsAddress: metricsAddressOf(flags),
      logLevel: flags['log-level'],
      debug: flags.debug === true ? (line: string) => ctx.stderr(`debug: ${line}`) : undefined,
    },
    ctx,
  )
}

export async function serveAgentMode({ flags, given }: ServeParsed, ctx: CliContext): Promise<number> {
  if (imdsModeRequested(given))
    throw new IamraError(
      'USAGE',
      'the node agent takes its identities from kubernetes bindings: drop the IMDS-mode flags (--certificate, --role-arn, ...) and use iamra bind --mode kubernetes',
    )
  const config = agentConfig(flags)
  const dir = resolve(configurationDirectory(flags['configuration-directory'], ctx.env))
  const addresses = (flags.listen ?? []).map((v) => parseListen(v))
  const metricsAddress = metricsAddressOf(flags)
  if (flags.cache === false) throw new IamraError('USAGE', '--no-cache does not apply to the node agent: its cache is what keeps CreateSession calls bounded')
  return serveKubernetes(
    {
      ...config,
      configurationDirectory: dir,
      addresses,
      metricsAddress,
      refreshWindowMs: flags['refresh-window'] * 1000,
      logLevel: flags['log-level'],
    },
    ctx,
  )
}

/** The agent's options, checked together; every problem is a USAGE error naming the flag. */
function agentConfig(flags: ServeFlags): AgentConfig {
  const issuer = flags['kubernetes-issuer']
  const audiences = (flags['kubernetes-audience'] ?? []).filter((s) => s !== '')
  const jwks = flags['kubernetes-jwks']
  if (issuer === undefined || issuer === '')
    throw new IamraError('USAGE', "the node agent needs --kubernetes-issuer URL (the cluster's service-account issuer)")
  if (audiences.length === 0) throw new IamraError('USAGE', 'the node agent needs --kubernetes-audience AUD (what the webhook puts in the projected tokens)')
  if (jwks === undefined || jwks === '') throw new IamraError('USAGE', 'the node agent needs --kubernetes-jwks FILE or https://URL')
  const caFile = flags['kubernetes-ca']
  const tokenFile = flags['kubernetes-token-file']
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
    const url = new URL(jwks)
    if (url.protocol !== 'https:') throw new IamraError('USAGE', `--kubernetes-jwks ${url.href}: only https:// URLs (or a file)`)
    source = httpsJwks({ url, ca, tokenFile: tokenFile === undefined ? undefined : resolve(tokenFile) })
  } else {
    if (caFile !== undefined || tokenFile !== undefined)
      throw new IamraError('USAGE', '--kubernetes-ca and --kubernetes-token-file are for an https:// --kubernetes-jwks URL')
    source = fileJwks(resolve(jwks))
  }
  return {
    issuer,
    audiences,
    jwks: source,
    sessionNames: flags['kubernetes-session-name'],
    rate: flags['kubernetes-rate-limit'],
    cooldownMs: flags['kubernetes-jwks-cooldown'] * 1000,
    clockTolerance: flags['kubernetes-clock-tolerance'],
  }
}
