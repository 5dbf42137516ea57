// The HTTPS transport against real loopback servers: private CA, verification off, CONNECT proxy, timeouts.
import t from 'tap'
import { createServer as createHttpsServer } from 'node:https'
import { createServer as createHttpServer } from 'node:http'
import { connect as netConnect, type AddressInfo, type Server } from 'node:net'
import { createTransport, TransportError } from '../src/rolesanywhere/transport.js'
import { createCa, createLeaf } from '../src/testing/pki.js'

const listen = (server: Server): Promise<number> =>
  new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)))

t.test('https transport', async (t) => {
  const ca = await createCa({ name: 'tls ca', key: 'p256' })
  const serverCert = await createLeaf({ name: 'localhost', key: 'p256', issuer: ca, serverNames: ['127.0.0.1', 'localhost'] })
  const seen: Array<{ url: string; host: string; body: string }> = []
  const https = createHttpsServer({ cert: serverCert.certPem, key: serverCert.keyPem }, (req, res) => {
    let body = ''
    req.on('data', (c: Buffer) => (body += c.toString()))
    req.on('end', () => {
      seen.push({ url: req.url ?? '', host: req.headers.host ?? '', body })
      if (req.url?.startsWith('/slow')) return // never answers
      res.writeHead(201, { 'content-type': 'application/json', 'x-amzn-requestid': 'r1' }).end('{"ok":true}')
    })
  })
  const port = await listen(https)
  t.teardown(() => {
    https.closeAllConnections()
    https.close()
  })
  const url = new URL(`https://127.0.0.1:${port}/prefix/sessions?a=b`)
  const send = (opts: Parameters<typeof createTransport>[0], target = url) =>
    createTransport(opts)({ method: 'POST', url: target, headers: { host: target.host, 'content-type': 'application/json' }, body: Buffer.from('{"x":1}') })

  const unverified = await send({ timeoutMs: 2000, verifyTls: true }).catch((e: TransportError) => e)
  t.type(unverified, TransportError)
  t.match((unverified as TransportError).code, /UNABLE_TO_(GET|VERIFY)|SELF_SIGNED/, 'private CA rejected by default')

  const res = await send({ timeoutMs: 2000, verifyTls: true, caPem: ca.certPem })
  t.equal(res.status, 201)
  t.equal(res.body.toString(), '{"ok":true}')
  t.same(seen.at(-1), { url: '/prefix/sessions?a=b', host: `127.0.0.1:${port}`, body: '{"x":1}' }, 'path, query, Host and body as given')

  t.equal((await send({ timeoutMs: 2000, verifyTls: false })).status, 201, 'verification off')

  const slow = await send({ timeoutMs: 300, verifyTls: false }, new URL(`https://127.0.0.1:${port}/slow`)).catch((e: TransportError) => e)
  t.equal((slow as TransportError).code, 'ETIMEDOUT')

  // A CONNECT proxy that records what it tunnels.
  const tunnels: string[] = []
  const proxy = createHttpServer()
  proxy.on('connect', (req, client, head) => {
    tunnels.push(`${req.url} ${req.headers['proxy-authorization'] ?? ''}`)
    const [host, p] = (req.url ?? '').split(':')
    const upstream = netConnect(Number(p), host ?? '127.0.0.1', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n')
      upstream.write(head)
      upstream.pipe(client)
      client.pipe(upstream)
    })
    upstream.on('error', () => client.destroy())
    client.on('error', () => upstream.destroy())
  })
  const proxyPort = await listen(proxy)
  t.teardown(() => {
    proxy.closeAllConnections()
    proxy.close()
  })
  const viaProxy = await send({ timeoutMs: 2000, verifyTls: true, caPem: ca.certPem, proxy: new URL(`http://user:p%40ss@127.0.0.1:${proxyPort}`) })
  t.equal(viaProxy.status, 201, 'through the CONNECT tunnel, TLS verified end to end')
  t.same(tunnels, [`127.0.0.1:${port} Basic ${Buffer.from('user:p@ss').toString('base64')}`])

  const refused = createHttpServer((_req, res) => res.end())
  refused.on('connect', (_req, client) => client.end('HTTP/1.1 407 Proxy Authentication Required\r\n\r\n'))
  const refusedPort = await listen(refused)
  t.teardown(() => {
    refused.closeAllConnections()
    refused.close()
  })
  const denied = await send({ timeoutMs: 2000, verifyTls: false, proxy: new URL(`http://127.0.0.1:${refusedPort}`) }).catch((e: TransportError) => e)
  t.equal((denied as TransportError).code, 'EPROXY')

  const nothing = await createTransport({ timeoutMs: 2000, verifyTls: true })({
    method: 'POST',
    url: new URL('http://127.0.0.1:1/'),
    headers: {},
    body: Buffer.alloc(0),
  }).catch((e: TransportError) => e)
  t.equal((nothing as TransportError).code, 'ECONNREFUSED')
})
