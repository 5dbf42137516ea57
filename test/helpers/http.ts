// Plain HTTP/1.1 GETs from tests to a server on loopback TCP or a unix socket: no keep-alive, the
// whole body as text, and a deadline after which the request is destroyed.
import { request } from 'node:http'

export interface HttpResult {
  readonly status: number
  readonly body: string
}

export type HttpTarget = { readonly host?: string; readonly port: number } | { readonly socketPath: string }

/** GET `path` from `target` (TCP on 127.0.0.1 unless `host` says otherwise); rejects on a socket error or after `timeoutMs`. */
export function httpGet(target: HttpTarget, path: string, headers: Record<string, string> = {}, timeoutMs = 15_000): Promise<HttpResult> {
  const where = 'socketPath' in target ? { socketPath: target.socketPath } : { host: target.host ?? '127.0.0.1', port: target.port }
  return new Promise((resolve, reject) => {
    const done = (): void => clearTimeout(timer)
    const req = request({ ...where, path, headers, agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => {
        body += c
      })
      res.on('end', () => {
        done()
        resolve({ status: res.statusCode ?? 0, body })
      })
      res.on('error', (e) => {
        done()
        reject(e)
      })
    })
    const timer = setTimeout(() => {
      const e = new Error(`GET ${path}: no complete answer within ${timeoutMs} ms`)
      req.destroy(e)
      reject(e)
    }, timeoutMs)
    req.on('error', (e) => {
      done()
      reject(e)
    })
    req.end()
  })
}
