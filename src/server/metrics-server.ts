/** The opt-in metrics listener: GET /metrics in Prometheus text format, nothing else. */
import { createServer, type Server } from 'node:http'
import type { ListenAddress } from './listen.js'
import type { ServerMetrics } from './metrics.js'

export async function startMetricsServer(
  address: ListenAddress,
  metrics: ServerMetrics,
  beforeScrape: () => void = () => {},
): Promise<{ server: Server; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n')
      return
    }
    beforeScrape()
    metrics.text().then(
      (body) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(body),
      () => res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics unavailable\n'),
    )
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    const done = (): void => {
      server.off('error', reject)
      resolve()
    }
    if (address.kind === 'unix') server.listen(address.path, done)
    else server.listen(address.port, address.host, done)
  })
  return {
    server,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r())
        server.closeAllConnections()
      }),
  }
}
