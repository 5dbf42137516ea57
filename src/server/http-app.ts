/**
 * What every iamra HTTP app shares (the ECS server and IMDS mode): fastify built so that runServer
 * can listen on any number of sockets, a JSON 503 while stopping, request counting, JSON 404s and
 * a JSON fallback for unexpected errors. Each app adds its routes and its own error mapping.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify'
import { sendError } from './json-reply.js'
import { redactUrl } from './token-extraction.js'

export interface App {
  readonly fastify: FastifyInstance
  /** An extra http.Server on the same routes (one per inherited socket beyond the first). */
  createServer(socketName: string): Server
  /** Records which named socket a connection came in on. */
  nameSocket(server: Server, name: string): void
  /** From now on, new requests get 503 SERVER_STOPPING while in-flight ones finish. */
  markStopping(): void
}

export interface HttpAppInit {
  /** fastify's logger option; false in tests. */
  readonly logger?: FastifyServerOptions['logger'] | undefined
  /** Counts each answered request by route and status. */
  readonly onResponse?: ((route: string, status: number) => void) | undefined
  /** Extra fastify options (body limit, router options). */
  readonly options?: Pick<FastifyServerOptions, 'bodyLimit' | 'routerOptions'>
}

export interface HttpApp {
  readonly fastify: FastifyInstance
  /** The FileDescriptorName of the socket a request came in on, if named. */
  socketName(request: FastifyRequest): string | undefined
  /** Call after adding routes: readies fastify and returns the App for runServer. */
  finish(): Promise<App>
}

export function createHttpApp(init: HttpAppInit): HttpApp {
  const socketNames = new WeakMap<Socket, string>()
  let route: ((req: IncomingMessage, res: ServerResponse) => void) | undefined
  const fastify = Fastify({
    logger: init.logger ?? false,
    exposeHeadRoutes: false,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    ...init.options,
    serverFactory: (handler) => {
      route = handler
      return createServer(handler)
    },
  })
  let stopping = false
  // Callback-style hooks: they run on every request, and an async hook costs a promise each time.
  fastify.addHook('onRequest', (_request, reply, done) => {
    if (stopping) sendError(reply.header('connection', 'close'), 503, 'SERVER_STOPPING', 'the server is shutting down; retry shortly')
    else done()
  })
  if (init.onResponse !== undefined) {
    const count = init.onResponse
    fastify.addHook('onResponse', (request, reply, done) => {
      count(request.routeOptions.url ?? 'unmatched', reply.statusCode)
      done()
    })
  }
  fastify.setNotFoundHandler((request, reply) =>
    sendError(reply, 404, 'NOT_FOUND', `no route ${request.method} ${redactUrl(request.raw.url ?? '').split('?')[0]}`),
  )
  const nameSocket = (server: Server, name: string): void => {
    server.on('connection', (socket: Socket) => socketNames.set(socket, name))
  }
  return {
    fastify,
    socketName: (request) => socketNames.get(request.raw.socket),
    finish: async () => {
      await fastify.ready()
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
    },
  }
}

/**
 * Errors no app maps itself: a 4xx from fastify's parsing, else a 500 whose details stay in the log.
 * Whatever was thrown (even a non-Error), the body is ours: never a message derived from a stack.
 */
export function answerUnexpected(error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const e = error instanceof Error ? error : undefined
  const status = (e as { statusCode?: number } | undefined)?.statusCode
  if (e !== undefined && status !== undefined && status >= 400 && status < 500) return sendError(reply, status, 'BAD_REQUEST', oneLine(e.message))
  request.log.error({ err: e === undefined ? { thrown: String(error) } : { message: e.message, stack: e.stack } }, 'unexpected error')
  return sendError(reply, 500, 'INTERNAL', 'internal error; see the server log')
}

/** Messages are one line. */
export function oneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, ' ').trim()
}
