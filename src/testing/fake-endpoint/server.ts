/**
 * Serves the fake CreateSession handler over plain HTTP on loopback, passing the request target,
 * header values and body bytes through untouched so that signatures are checked as sent.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { kitRuntime, randomUuid, type KitRuntime } from '../kit-runtime.js'
import { createFakeHandler, type FakeCall, type FakeConfig, type FakeHandler } from './handler.js'

export const MAX_BODY_BYTES = 64 * 1024

export interface FakeEndpoint {
  /** Base URL, e.g. `http://127.0.0.1:PORT` (append the path prefix yourself). */
  readonly url: string
  readonly port: number
  readonly calls: FakeCall[]
  /** Stops listening and destroys every open (keep-alive) connection. */
  close(): Promise<void>
}

function rawHeaders(req: IncomingMessage): Record<string, string | string[] | undefined> {
  const out: Record<string, string | string[] | undefined> = {}
  for (const [name, values] of Object.entries(req.headersDistinct)) {
    if (values !== undefined) out[name] = values.length === 1 ? values[0] : values
  }
  return out
}

function serve(handler: FakeHandler, ids: Pick<KitRuntime, 'randomBytes'>, req: IncomingMessage, res: ServerResponse): void {
  const chunks: Buffer[] = []
  let size = 0
  req.on('data', (chunk: Buffer) => {
    size += chunk.length
    if (size <= MAX_BODY_BYTES) chunks.push(chunk)
  })
  req.on('error', () => res.destroy())
  req.on('end', () => {
    const send = (status: number, headers: Record<string, string>, body: Buffer): void => {
      res.writeHead(status, { ...headers, 'content-length': String(body.length) })
      res.end(body)
    }
    if (size > MAX_BODY_BYTES) {
      const body = Buffer.from(JSON.stringify({ message: `Request body exceeds ${MAX_BODY_BYTES} bytes` }))
      send(
        413,
        { 'content-type': 'application/json', 'x-amzn-ErrorType': 'ValidationException', 'x-amzn-RequestId': randomUuid(ids), connection: 'close' },
        body,
      )
      return
    }
    handler({ method: req.method ?? 'GET', target: req.url ?? '/', headers: rawHeaders(req), body: Buffer.concat(chunks) })
      .then((r) => send(r.statusCode, r.headers, r.body))
      .catch(() =>
        send(
          500,
          { 'content-type': 'application/json', 'x-amzn-ErrorType': 'InternalServerException', 'x-amzn-RequestId': randomUuid(ids) },
          Buffer.from('{"message":"Internal failure"}'),
        ),
      )
  })
}

export async function startFakeEndpoint(config: FakeConfig & { host?: string; port?: number }): Promise<FakeEndpoint> {
  const handler = createFakeHandler(config)
  // ML-DSA certificates and signatures make headers of 20 KB and more (node's default limit is 16 KiB)
  const server = createServer({ maxHeaderSize: 128 * 1024 }, (req, res) =>
    serve(handler, { randomBytes: config.randomBytes ?? kitRuntime.randomBytes }, req, res),
  )
  const host = config.host ?? '127.0.0.1'
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(config.port ?? 0, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const port = (server.address() as AddressInfo).port
  let closing: Promise<void> | undefined
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    calls: handler.calls,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
      return closing
    },
  }
}
