/**
 * The HTTP application: `GET /ecs/credentials` (ECS container-credentials protocol, many bindings),
 * `GET /healthz`, JSON errors everywhere. Built separately from listening, so tests use inject().
 */
import type { FastifyServerOptions } from 'fastify'
import { IamraError } from '../errors.js'
import { ECS_CREDENTIALS_PATH } from '../binding/modes.js'
import type { SessionCredentials } from '../rolesanywhere/response.js'
import { authorize } from './authorize.js'
import type { ResolveCredentials } from './binding-credentials.js'
import { BindingLookup } from './binding-lookup.js'
import { ecsBody } from './ecs-response.js'
import { jsonBytes, sendError, sendJsonBytes } from './json-reply.js'
import { answerUnexpected, createHttpApp, type App } from './http-app.js'
import { extractToken, redactUrl } from './token-extraction.js'
import { bindingAdvice, publicMessage } from './public-error.js'

export interface AppOptions {
  readonly configurationDirectory: string
  /** The server's lookup of binding files in configurationDirectory (default: a new one, owned by this app). */
  readonly lookup?: BindingLookup
  readonly resolveCredentials: ResolveCredentials
  /** fastify's logger option; false in tests. */
  readonly logger?: FastifyServerOptions['logger']
  /** Counts each answered request by route and status. */
  readonly onResponse?: (route: string, status: number) => void
  /** The /healthz body (default "ok"); must not name bindings. */
  readonly health?: () => string
}

export type { App } from './http-app.js'

export async function buildApp(opts: AppOptions): Promise<App> {
  const http = createHttpApp({ logger: opts.logger, onResponse: opts.onResponse })
  const { fastify } = http
  const lookup = opts.lookup ?? new BindingLookup(opts.configurationDirectory)
  // A cache hit hands back the same credentials object: its body is serialised once.
  const bodies = new WeakMap<SessionCredentials, Buffer>()
  fastify.get(ECS_CREDENTIALS_PATH, async (request, reply) => {
    const presented = extractToken(request.raw.rawHeaders, request.raw.url ?? '')
    const binding = await authorize(lookup, presented, http.socketName(request))
    const creds = await opts.resolveCredentials(binding)
    request.log.info({ binding: binding.name, status: 200, expiration: creds.expiration }, 'credentials served')
    let body = bodies.get(creds)
    if (body === undefined) {
      body = jsonBytes(ecsBody(creds))
      bodies.set(creds, body)
    }
    return sendJsonBytes(reply, 200, body)
  })
  fastify.get('/healthz', async (_request, reply) => reply.type('text/plain').send(opts.health?.() ?? 'ok'))
  fastify.setErrorHandler((error: unknown, request, reply) => {
    if (!(error instanceof IamraError)) return answerUnexpected(error, request, reply)
    // A refused token is the client's business, logged with its reason at info (never the token).
    const level = error.httpStatus >= 500 ? 'error' : error.code.startsWith('TOKEN_') ? 'info' : 'warn'
    const detail = error.cause instanceof Error ? error.cause.message : undefined
    request.log[level](
      { code: error.code, upstream: error.upstreamCode, url: redactUrl(request.raw.url ?? ''), ...(detail === undefined ? {} : { detail }) },
      error.message,
    )
    return sendError(reply, error.httpStatus, error.code, publicMessage(error, bindingAdvice))
  })
  return http.finish()
}
