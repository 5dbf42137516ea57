/**
 * Runs the credentials server until the stop signal: listens on the sockets systemd passed (every
 * one of them, TCP or unix) or on `--listen` addresses, tells systemd when ready, pings the
 * watchdog, and on stop lets in-flight requests finish.
 */
import { lstat, unlink } from 'node:fs/promises'
import type { Server } from 'node:http'
import { IamraError } from '../errors.js'
import type { App } from './app.js'
import { describeListen, type InheritedSocket, type ListenAddress } from './listen.js'
import type { ServiceManager } from './service-manager.js'

export interface RunServerInit {
  readonly app: App
  readonly inherited: readonly InheritedSocket[]
  readonly addresses: readonly ListenAddress[]
  readonly serviceManager: ServiceManager
  readonly stopSignal: AbortSignal
  readonly log: (msg: string, extra?: Record<string, unknown>) => void
  /** Called with the bound addresses once listening (tests read ports from it). */
  readonly onListening?: (addresses: string[]) => void
  readonly shutdownTimeoutMs?: number
  /** What is served, for the log and systemd's STATUS= (default "ECS credentials"). */
  readonly label?: string
  /** Runs `fn` every `ms` until the returned function is called (default: an unref'd setInterval). */
  readonly every?: (fn: () => void, ms: number) => () => void
}

const realEvery = (fn: () => void, ms: number): (() => void) => {
  const timer = setInterval(fn, ms)
  timer.unref()
  return () => clearInterval(timer)
}

function listenOn(server: Server, target: { fd: number } | ListenAddress): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    const done = (): void => {
      server.off('error', reject)
      const a = server.address()
      resolve(
        a === null
          ? 'fd' in target
            ? `fd ${target.fd}`
            : describeListen(target)
          : typeof a === 'string'
            ? a
            : `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`,
      )
    }
    if ('fd' in target) server.listen({ fd: target.fd, backlog: 511 }, done)
    else if (target.kind === 'unix') server.listen({ path: target.path, backlog: 511 }, done)
    else server.listen({ host: target.host, port: target.port, backlog: 511 }, done)
  })
}

async function removeStaleSocket(path: string): Promise<void> {
  try {
    if ((await lstat(path)).isSocket()) await unlink(path)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e
  }
}

export async function runServer(init: RunServerInit): Promise<void> {
  const { app, serviceManager: sm } = init
  const targets: Array<{ name: string; target: { fd: number } | ListenAddress }> =
    init.inherited.length > 0 ? init.inherited.map((s) => ({ name: s.name, target: { fd: s.fd } })) : init.addresses.map((a) => ({ name: '', target: a }))
  const servers: Server[] = []
  const bound: string[] = []
  try {
    for (const [i, { name, target }] of targets.entries()) {
      const server = i === 0 ? (app.fastify.server as Server) : app.createServer(name)
      if (i === 0) app.nameSocket(server, name)
      if (!('fd' in target) && target.kind === 'unix') await removeStaleSocket(target.path)
      bound.push(await listenOn(server, target))
      servers.push(server)
    }
  } catch (e) {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))))
    const err = e as NodeJS.ErrnoException
    throw new IamraError('LISTEN_FAILED', `cannot listen: ${err.code ?? ''} ${err.message}`.trim(), { cause: e })
  }
  const status = `serving ${init.label ?? 'ECS credentials'} on ${bound.join(', ')}`
  init.log(status, { sockets: bound, inherited: init.inherited.length > 0, notify: sm.kind })
  sm.ready(status)
  init.onListening?.(bound)
  const interval = sm.watchdogIntervalMs()
  const stopPinging = interval > 0 ? (init.every ?? realEvery)(() => sm.watchdog(), Math.max(500, Math.floor(interval / 2))) : undefined
  if (!init.stopSignal.aborted) await new Promise((r) => init.stopSignal.addEventListener('abort', r, { once: true }))
  stopPinging?.()
  sm.stopping()
  app.markStopping()
  sm.status('stopping: finishing in-flight requests')
  init.log('stopping: finishing in-flight requests')
  // fastify.close() only closes a server it listened on itself, so every server is closed here.
  const closing = Promise.all([
    ...servers.map(
      (s) =>
        new Promise<void>((r) => {
          s.close(() => r())
          s.closeIdleConnections()
        }),
    ),
  ]).then(() => app.fastify.close())
  const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), init.shutdownTimeoutMs ?? 10_000).unref())
  if ((await Promise.race([closing, timeout])) === 'timeout') {
    init.log('shutdown timed out; closing remaining connections')
    for (const s of servers) s.closeAllConnections()
  }
}
