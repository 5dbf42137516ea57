/**
 * The node agent's HTTP app: `GET /v1/credentials` as the EKS Pod Identity agent serves it (the
 * raw projected token in `Authorization`, the answer {AccessKeyId, SecretAccessKey, Token,
 * AccountId, Expiration}), and `GET /healthz` for probes. Requests are rate-limited per source
 * address, and a Host naming anything but the agent's address is refused (DNS rebinding, SSRF).
 */
import type { FastifyReply, FastifyRequest, FastifyServerOptions } from 'fastify'
import { isIP } from 'node:net'
import { IamraError } from '../errors.js'
import { formatExpiration } from '../credentials/process-output.js'
import { accountOf } from '../rolesanywhere/arn.js'
import type { SessionCredentials } from '../rolesanywhere/response.js'
import { sendError, sendJson } from '../server/json-reply.js'
import { answerUnexpected, createHttpApp, type App } from '../server/http-app.js'
import { bindingAdvice, publicMessage } from '../server/public-error.js'
import type { AgentCredentials } from './agent-credentials.js'
import { bindingsFor, type BindingListing } from './binding.js'
import type { RateLimiter } from './rate-limit.js'
import { sessionNameFor, type SessionNameStyle } from './session-name.js'
import type { TokenVerifier } from './token-verifier.js'

export const AGENT_PATH = '/v1/credentials'
/** The EKS Pod Identity agent's addresses, which the webhook's default URI names. */
export const AGENT_ADDRESSES = ['169.254.170.23', 'fd00:ec2::23'] as const

export interface AgentAppOptions {
  readonly verify: TokenVerifier
  readonly bindings: () => BindingListing
  readonly credentials: AgentCredentials
  readonly sessionNames: SessionNameStyle
  readonly rateLimit: RateLimiter
  /** /healthz: undefined when healthy, else what is wrong (no secrets). */
  readonly unhealthy?: () => string | undefined
  readonly logger?: FastifyServerOptions['logger']
  readonly onResponse?: (route: string, status: number) => void
}

/** The EKS agent's body: no Code, no RoleArn; AccountId from the role ARN. */
export function agentBody(c: SessionCredentials): Record<string, string> {
  const account = accountOf(c.roleArn)
  return {
    AccessKeyId: c.accessKeyId,
    SecretAccessKey: c.secretAccessKey,
    Token: c.sessionToken,
    ...(account === undefined ? {} : { AccountId: account }),
    Expiration: formatExpiration(c.expiresAt),
  }
}

/** The host part of a Host header, without port or brackets, lower-case; undefined if unparsable. */
export function hostOf(header: string | undefined): string | undefined {
  if (header === undefined) return undefined
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+))(?::\d{1,5})?$/.exec(header.trim())
  return m === null ? undefined : (m[1] ?? m[2] ?? '').toLowerCase()
}

const unmapped = (a: string): string => a.toLowerCase().replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, '')

/** The Host must be an agent address, or the very address this connection reached. */
export function hostAllowed(header: string | undefined, localAddress: string | undefined): boolean {
  const host = hostOf(header)
  if (host === undefined || isIP(host) === 0) return false
  if ((AGENT_ADDRESSES as readonly string[]).includes(host)) return true
  return localAddress !== undefined && unmapped(localAddress) === unmapped(host)
}

export async function buildAgentApp(opts: AgentAppOptions): Promise<App> {
  const http = createHttpApp({ logger: opts.logger, onResponse: opts.onResponse })
  const { fastify } = http
  fastify.addHook('onRequest', async (request, reply) => {
    if (request.routeOptions.url !== AGENT_PATH) return undefined
    if (!opts.rateLimit(unmapped(request.raw.socket.remoteAddress ?? 'unknown'))) {
      return sendError(reply.header('retry-after', '1'), 429, 'RATE_LIMITED', 'too many requests from this address; retry shortly')
    }
    if (!hostAllowed(request.headers.host, request.raw.socket.localAddress)) {
      request.log.warn(
        { code: 'AGENT_HOST_REFUSED', host: String(request.headers.host ?? '').slice(0, 100) },
        "request through an address that is not the agent's",
      )
      return sendError(
        reply,
        403,
        'AGENT_HOST_REFUSED',
        `called through an invalid address: use http://${AGENT_ADDRESSES[0]}${AGENT_PATH} or http://[${AGENT_ADDRESSES[1]}]${AGENT_PATH}`,
      )
    }
    return undefined
  })
  fastify.get(AGENT_PATH, async (request: FastifyRequest, reply: FastifyReply) => {
    const header = request.headers.authorization
    if (header === undefined || header === '')
      throw new IamraError('TOKEN_MISSING', 'no token: send the projected service-account token (AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE) in Authorization')
    const pod = await opts.verify(header.replace(/^Bearer\s+/i, '').trim())
    const listing = opts.bindings()
    for (const p of listing.problems) request.log.warn({ code: 'BINDING_INVALID' }, p)
    const matches = bindingsFor(listing, pod.namespace, pod.serviceAccount)
    const sa = `${pod.namespace}/${pod.serviceAccount}`
    if (matches.length !== 1) {
      const reason =
        matches.length === 0
          ? `no kubernetes binding names service account ${sa}`
          : `several bindings name service account ${sa}: ${matches
              .map((b) => b.name)
              .sort()
              .join(', ')}`
      throw new IamraError('SA_NOT_BOUND', `${reason}; ask the node's administrator for exactly one binding`)
    }
    const binding = matches[0] as (typeof matches)[number]
    const sessionName = sessionNameFor(pod, opts.sessionNames)
    const creds = await opts.credentials(binding, sessionName)
    request.log.info(
      {
        binding: binding.name,
        serviceAccount: sa,
        pod: pod.podName,
        session: binding.request.roleSessionName ?? sessionName ?? null,
        status: 200,
        expiration: creds.expiresAt,
      },
      'credentials served',
    )
    return sendJson(reply, 200, agentBody(creds))
  })
  fastify.get('/healthz', async (_request, reply) => {
    const problem = opts.unhealthy?.()
    return reply
      .code(problem === undefined ? 200 : 503)
      .type('text/plain')
      .send(problem ?? 'ok')
  })
  fastify.setErrorHandler((error: Error, request, reply) => {
    if (!(error instanceof IamraError)) return answerUnexpected(error, request, reply)
    const level = error.httpStatus >= 500 ? 'error' : 'warn'
    const detail = error.cause instanceof Error ? error.cause.message : undefined
    request.log[level]({ code: error.code, upstream: error.upstreamCode, ...(detail === undefined ? {} : { detail }) }, error.message)
    // Token refusals answer with the code only: the reason is for the node's log.
    const message = error.code === 'SA_TOKEN_REJECTED' ? "service-account token not accepted; the agent's log says why" : publicMessage(error, bindingAdvice)
    return sendError(reply, error.httpStatus, error.code, message)
  })
  return http.finish()
}
