/**
 * One HTTP(S) request with a timeout, an optional CA bundle, optional TLS verification and an
 * optional proxy (CONNECT tunnel for https). Built on node:http(s) only, so that `credential-process`
 * starts fast. node:http (about 8 ms to load) is imported on the first request and node:https
 * with node:tls (about 13 ms more) on the first https one, so a `--cache` hit, which sends
 * nothing, loads neither. Redirects are never followed.
 */
import type { IncomingHttpHeaders, RequestOptions } from 'node:http'
import type { Duplex } from 'node:stream'

type Tls = { request: typeof import('node:https').request; connect: typeof import('node:tls').connect; ca: string[] | undefined }

export interface HttpRequest {
  readonly method: string
  readonly url: URL
  readonly headers: Readonly<Record<string, string>>
  readonly body: Buffer
  /** Abandons the request (the server is stopping). */
  readonly signal?: AbortSignal | undefined
}

export interface HttpResponse {
  readonly status: number
  readonly headers: IncomingHttpHeaders
  readonly body: Buffer
  /** Abandons the request (the server is stopping). */
  readonly signal?: AbortSignal | undefined
}

export interface TransportOptions {
  /** Per-attempt limit for connecting, sending and receiving, in ms. */
  readonly timeoutMs: number
  readonly verifyTls: boolean
  /** Extra trusted CAs (PEM), added to the system roots (AWS_CA_BUNDLE). */
  readonly caPem?: string | undefined
  readonly proxy?: URL | undefined
}

export type Transport = (req: HttpRequest) => Promise<HttpResponse>

/** Error raised by the transport; `code` is Node's (ECONNREFUSED, ETIMEDOUT, CERT_HAS_EXPIRED, ...). */
export class TransportError extends Error {
  override readonly name = 'TransportError'
  constructor(
    message: string,
    readonly code: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }
}

const MAX_BODY = 1 << 20

export function createTransport(opts: TransportOptions): Transport {
  let http: Promise<typeof import('node:http').request> | undefined
  let tls: Promise<Tls> | undefined
  const loadTls = (): Promise<Tls> =>
    (tls ??= Promise.all([import('node:https'), import('node:tls')]).then(([h, t]) => ({
      request: h.request,
      connect: t.connect,
      ca: opts.caPem === undefined ? undefined : [...t.rootCertificates, opts.caPem],
    })))
  return async (req) => {
    http ??= import('node:http').then((m) => m.request)
    const httpRequest = await http
    const secure = req.url.protocol === 'https:' ? await loadTls() : undefined
    return new Promise<HttpResponse>((resolve, reject) => {
      let settled = false
      const done = (err: Error | undefined, res?: HttpResponse): void => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        req.signal?.removeEventListener('abort', abort)
        if (err !== undefined) reject(err)
        else resolve(res as HttpResponse)
      }
      const timer = setTimeout(() => {
        done(new TransportError(`no answer from ${req.url.host} within ${opts.timeoutMs} ms`, 'ETIMEDOUT'))
        active?.destroy()
      }, opts.timeoutMs)
      const abort = (): void => {
        done(new TransportError(`request to ${req.url.host} abandoned: stopping`, 'EABORTED'))
        active?.destroy()
      }
      if (req.signal?.aborted === true) queueMicrotask(abort)
      req.signal?.addEventListener('abort', abort, { once: true })
      let active: { destroy(): void } | undefined
      const https = secure !== undefined
      const base: RequestOptions = {
        method: req.method,
        headers: { ...req.headers, 'content-length': String(req.body.length) },
      }
      const send = (options: RequestOptions, overTls: boolean): void => {
        const r = (overTls && secure !== undefined ? secure.request : httpRequest)(options, (res) => {
          const chunks: Buffer[] = []
          let size = 0
          res.on('data', (c: Buffer) => {
            size += c.length
            if (size > MAX_BODY) {
              r.destroy()
              done(new TransportError(`response from ${req.url.host} exceeds ${MAX_BODY} bytes`, 'ERESPONSETOOBIG'))
            } else chunks.push(c)
          })
          res.on('end', () => done(undefined, { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }))
          res.on('error', (e) => done(wrap(e, req.url)))
        })
        active = r
        r.on('error', (e) => done(wrap(e, req.url)))
        r.end(req.body)
      }
      const ca = secure?.ca
      const tlsOpts = { rejectUnauthorized: opts.verifyTls, ...(ca === undefined ? {} : { ca }) }
      const targetPort = Number(req.url.port || (https ? 443 : 80))
      const path = req.url.pathname + req.url.search
      if (opts.proxy === undefined) {
        send({ ...base, ...tlsOpts, host: req.url.hostname.replace(/^\[|\]$/g, ''), port: targetPort, path, agent: false }, https)
        return
      }
      const proxy = opts.proxy
      const proxyAuth =
        proxy.username === ''
          ? {}
          : {
              'proxy-authorization': `Basic ${Buffer.from(`${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`).toString('base64')}`,
            }
      const proxyHost = proxy.hostname.replace(/^\[|\]$/g, '')
      const proxyPort = Number(proxy.port || (proxy.protocol === 'https:' ? 443 : 80))
      if (secure === undefined) {
        send({ ...base, host: proxyHost, port: proxyPort, path: req.url.href, headers: { ...base.headers, ...proxyAuth }, agent: false }, false)
        return
      }
      const connectReq = httpRequest({
        host: proxyHost,
        port: proxyPort,
        method: 'CONNECT',
        path: `${req.url.hostname}:${targetPort}`,
        headers: { host: `${req.url.hostname}:${targetPort}`, ...proxyAuth },
        agent: false,
      })
      active = connectReq
      connectReq.on('connect', (res, socket: Duplex) => {
        if (res.statusCode !== 200) {
          socket.destroy()
          done(new TransportError(`proxy ${proxy.host} refused the tunnel to ${req.url.host}: HTTP ${res.statusCode}`, 'EPROXY'))
          return
        }
        const servername = req.url.hostname.replace(/^\[|\]$/g, '')
        const tlsSocket = secure.connect({ socket, servername, ...tlsOpts })
        // No agent: with createConnection and no agent, node uses our tunnelled TLS socket.
        send({ ...base, host: servername, port: targetPort, path, createConnection: () => tlsSocket }, true)
      })
      connectReq.on('error', (e) => done(wrap(e, proxy)))
      connectReq.end()
    })
  }
}

function wrap(e: Error, url: URL): TransportError {
  const code = (e as NodeJS.ErrnoException).code ?? 'EUNKNOWN'
  return new TransportError(`${url.host}: ${systemMessage(e.message)}`, code, { cause: e })
}

/**
 * A system error's message on one line and without OpenSSL's source locations: Node's TLS errors
 * read `write EPROTO 40…:error:0A00010B:SSL routines:…:wrong version number:../deps/openssl/…/ssl3_record.c:355:`
 * followed by a newline.
 */
export function systemMessage(message: string): string {
  return message
    .replace(/:?(?:\.\.\/|\/)[^\s:]*\.c:\d+:?/g, '')
    .replace(/\s*[\r\n]+\s*/g, ' ')
    .trim()
}

/** TLS certificate problems: retrying does not help. */
export function isTlsCertificateError(code: string): boolean {
  return /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ERR_TLS_CERT_ALTNAME|HOSTNAME_MISMATCH/.test(code)
}
