/**
 * The IMDSv2 look-alike as a fastify app with the `App` interface of src/server/app.ts, so that
 * runServer listens, signals readiness and stops it: the token PUT, the role list, the role's
 * credentials; both trailing-slash forms; JSON errors with an exact `application/json` type.
 */
import type { FastifyReply, FastifyRequest, FastifyServerOptions } from 'fastify'
import { IamraError } from '../errors.js'
import { answerUnexpected, createHttpApp, type App } from '../server/http-app.js'
import { publicMessage, serverSetting } from '../server/public-error.js'
import { sendError, sendJson } from '../server/json-reply.js'
import { imdsBody, type ImdsCredentialSource } from './credentials.js'
import { MAX_TOKEN_TTL, MIN_TOKEN_TTL, type TokenStore } from './token-store.js'

export const TOKEN_PATH = '/latest/api/token'
export const IMDS_CREDENTIALS_PATH = '/latest/meta-data/iam/security-credentials'
const TTL_HEADER = 'X-Aws-Ec2-Metadata-Token-Ttl-Seconds'

export interface ImdsAppOptions {
  /** The one role served: the last segment of the role ARN. */
  readonly roleName: string
  readonly credentials: ImdsCredentialSource
  readonly tokens: TokenStore
  /** fastify's logger option; false in tests. */
  readonly logger?: FastifyServerOptions['logger']
  /** Counts each answered request by route and status. */
  readonly onResponse?: (route: string, status: number) => void
}

function sendText(reply: FastifyReply, status: number, text: string): FastifyReply {
  // A Buffer keeps the type exactly text/plain (fastify appends a charset to strings).
  return reply.code(status).header('content-type', 'text/plain').header('cache-control', 'no-store').send(Buffer.from(text))
}

function methodNotAllowed(reply: FastifyReply, method: string, allow: string): FastifyReply {
  return sendError(reply.header('allow', allow), 405, 'METHOD_NOT_ALLOWED', `${method} is not allowed here; use ${allow}`)
}

/** Seconds left on the request's token, or undefined after answering 401. */
function checkToken(request: FastifyRequest, reply: FastifyReply, tokens: TokenStore): number | undefined {
  const token = request.headers['x-aws-ec2-metadata-token']
  if (token === undefined || token === '') {
    sendError(reply, 401, 'TOKEN_MISSING', 'no token provided: PUT /latest/api/token first, then send X-aws-ec2-metadata-token')
    return undefined
  }
  const left = typeof token === 'string' ? tokens.check(token) : undefined
  if (left === undefined) sendError(reply, 401, 'TOKEN_INVALID', 'invalid token provided (unknown or expired)')
  return left
}

/** The TTL header as an integer from 1 to 21600, or an error message. */
function parseTtl(raw: string | string[] | undefined): number | string {
  if (raw === undefined) return `the ${TTL_HEADER} header is required`
  const n = typeof raw === 'string' && /^\d{1,10}$/.test(raw) ? Number(raw) : NaN
  return n >= MIN_TOKEN_TTL && n <= MAX_TOKEN_TTL ? n : `invalid token TTL: ${TTL_HEADER} must be an integer from ${MIN_TOKEN_TTL} to ${MAX_TOKEN_TTL}`
}

export async function buildImdsApp(opts: ImdsAppOptions): Promise<App> {
  const http = createHttpApp({
    logger: opts.logger,
    onResponse: opts.onResponse,
    options: { bodyLimit: 64 * 1024, routerOptions: { ignoreTrailingSlash: true } },
  })
  const { fastify } = http
  // Bodies are never read: accept any content type (a PUT must not get 415) and ignore it.
  fastify.removeAllContentTypeParsers()
  fastify.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, _body, done) => done(null, undefined))
  fastify.addHook('onRequest', async (request, reply) => {
    // DNS rebinding: a web page whose name now points at 127.0.0.1 is same-origin with us and
    // could PUT for a token. SDKs always send an IP literal or localhost as Host.
    if (!hostAllowed(request.headers.host)) return sendError(reply, 400, 'HOST_REFUSED', 'the Host header must be an IP address or localhost')
    return undefined
  })

  // PUT only; every other status here is 200 or 400 (403/404/405 would make SDKs fall back to IMDSv1).
  fastify.all(TOKEN_PATH, async (request, reply) => {
    if (request.method !== 'PUT') return methodNotAllowed(reply, request.method, 'PUT')
    if (request.headers['x-forwarded-for'] !== undefined) {
      return sendError(reply, 400, 'FORWARDED_REQUEST', 'unable to process requests with X-Forwarded-For header')
    }
    const raw = request.headers['x-aws-ec2-metadata-token-ttl-seconds']
    const ttl = parseTtl(raw)
    if (typeof ttl === 'string') return sendError(reply, 400, 'INVALID_TOKEN_TTL', ttl)
    const token = opts.tokens.issue(ttl)
    return sendText(reply.header(TTL_HEADER, String(raw)), 200, token) // the request's value, as EC2 and the official helper
  })

  fastify.all(IMDS_CREDENTIALS_PATH, async (request, reply) => {
    if (request.method !== 'GET') return methodNotAllowed(reply, request.method, 'GET')
    const left = checkToken(request, reply, opts.tokens)
    if (left === undefined) return reply
    return sendText(reply.header(TTL_HEADER, String(left)), 200, opts.roleName)
  })

  fastify.all(`${IMDS_CREDENTIALS_PATH}/:role`, async (request, reply) => {
    if (request.method !== 'GET') return methodNotAllowed(reply, request.method, 'GET')
    const left = checkToken(request, reply, opts.tokens)
    if (left === undefined) return reply
    if ((request.params as { role: string }).role !== opts.roleName) {
      return sendError(reply, 404, 'NOT_FOUND', `no such role; list ${IMDS_CREDENTIALS_PATH}/ for the role served here`)
    }
    try {
      const served = await opts.credentials()
      request.log.info({ role: opts.roleName, status: 200, expiration: served.creds.expiration }, 'credentials served')
      return sendJson(reply.header(TTL_HEADER, String(left)), 200, imdsBody(served))
    } catch (e) {
      // No valid credentials: 503 whatever the cause (never empty or expired credentials).
      // Whatever was thrown (even a non-Error), the answer is ours; details of a bug go to the log.
      const code = e instanceof IamraError ? e.code : 'INTERNAL'
      // The whole message (local paths included) goes to the log; the client gets what it may know.
      const message = e instanceof IamraError ? publicMessage(e, serverSetting) : 'internal error; see the server log'
      const err = e instanceof IamraError ? { message: e.message } : e instanceof Error ? { message: e.message, stack: e.stack } : { thrown: String(e) }
      request.log.error({ code, upstream: e instanceof IamraError ? e.upstreamCode : undefined, err }, 'no valid credentials to serve')
      return sendError(reply.header('retry-after', '10'), 503, code, message)
    }
  })

  // Liveness/readiness probes (Kubernetes sidecar): no token needed, nothing secret in the answer.
  // The server listens only after its first CreateSession succeeded, so answering means ready.
  fastify.get('/healthz', async (_request, reply) => sendText(reply, 200, 'ok'))

  fastify.setErrorHandler((error: Error, request, reply) => answerUnexpected(error, request, reply))
  return http.finish()
}

/** IP literals (v4, [v6]) and localhost, with an optional port; nothing that needs a DNS name. */
export function hostAllowed(host: string | undefined): boolean {
  if (host === undefined) return false
  return /^(?:\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:.]+\]|localhost)(?::\d{1,5})?$/i.test(host)
}
