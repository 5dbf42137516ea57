/**
 * The HTTP application: `GET /ecs/credentials` (ECS container-credentials protocol, many bindings),
 * `GET /healthz`, JSON errors everywhere. Built separately from listening, so tests use inject().
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import { IamraError } from '../errors.js'
import { CREDENTIALS_PATH } from '../binding/modes.js'
import { authorize } from './authorize.js'
import type { ResolveCredentials } from './binding-credentials.js'
import { ecsBody, sendError, sendJson } from './ecs-response.js'
import { extractToken, redactUrl } from './token-extraction.js'

export interface AppOptions {
  readonly configurationDirectory: string
  readonly resolveCredentials: ResolveCredentials
  /** fastify's logger option; false in tests. */
  readonly logger?: FastifyServerOptions['logger']
  /** Counts each answered request by route and status. */
  readonly onResponse?: (route: string, status: number) => void
  /** The /healthz body (default "ok"); must not name bindings. */
  readonly health?: () => string
}

export interface App {
  readonly fastify: FastifyInstance
  /** An extra http.Server on the same routes (one per inherited socket beyond the first). */
  createServer(socketName: string): Server
  /** Records which named socket a connection came in on. */
  nameSocket(server: Server, name: string): void
  /** From now on, new requests get 503 SERVER_STOPPING while in-flight ones finish. */
  markStopping(): void
}

export async function buildApp(opts: AppOptions): Promise<App> {
  const socketNames = new WeakMap<Socket, string>()
  let route: ((req: IncomingMessage, res: ServerResponse) => void) | undefined
  const fastify = Fastify({
    logger: opts.logger ?? false,
    exposeHeadRoutes: false,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    serverFactory: (handler) => {
      route = handler
      return createServer(handler)
    },
  })

  let stopping = false
  fastify.addHook('onRequest', async (_request, reply) => {
    if (stopping) return sendError(reply.header('connection', 'close'), 503, 'SERVER_STOPPING', 'the server is shutting down; retry shortly')
    return undefined
  })

  fastify.get(CREDENTIALS_PATH, async (request, reply) => {
    const presented = extractToken(request.raw.rawHeaders, request.raw.url ?? '')
    const binding = await authorize(opts.configurationDirectory, presented, socketNames.get(request.raw.socket))
    const creds = await opts.resolveCredentials(binding)
    request.log.info({ binding: binding.name, status: 200, expiration: creds.expiration }, 'credentials served')
    return sendJson(reply, 200, ecsBody(creds))
  })
  fastify.get('/healthz', async (_request, reply) => reply.type('text/plain').send(opts.health?.() ?? 'ok'))
  if (opts.onResponse !== undefined) {
    const count = opts.onResponse
    fastify.addHook('onResponse', async (request, reply) => count(request.routeOptions.url ?? 'unmatched', reply.statusCode))
  }
  fastify.setNotFoundHandler((request, reply) => sendError(reply, 404, 'NOT_FOUND', `no route ${request.method} ${redactUrl(request.raw.url ?? '').split('?')[0]}`))
  fastify.setErrorHandler((error: Error, request, reply) => {
    if (error instanceof IamraError) {
      const level = error.httpStatus >= 500 ? 'error' : 'warn'
      const detail = error.cause instanceof Error ? error.cause.message : undefined
      request.log[level]({ code: error.code, upstream: error.upstreamCode, url: redactUrl(request.raw.url ?? ''), ...(detail === undefined ? {} : { detail }) }, error.message)
      return sendError(reply, error.httpStatus, error.code, error.message)
    }
    const status = (error as { statusCode?: number }).statusCode
    if (status !== undefined && status >= 400 && status < 500) return sendError(reply, status, 'BAD_REQUEST', error.message)
    request.log.error({ err: { message: error.message, stack: error.stack } }, 'unexpected error')
    return sendError(reply, 500, 'INTERNAL', 'internal error; see the server log')
  })
  await fastify.ready()
  const nameSocket = (server: Server, name: string): void => {
    server.on('connection', (socket: Socket) => socketNames.set(socket, name))
  }
  return {
    fastify,
    nameSocket,
    markStopping: () => {
      stopping = true
    },
    createServer: (name) => {
      if (route === undefined) throw new Error('fastify did not build its server')
      const server = createServer(route)
      nameSocket(server, name)
      return server
    },
  }
}
