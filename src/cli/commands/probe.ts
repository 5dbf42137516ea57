/**
 * `iamra probe URL`: GETs an http:// health URL and exits 0 on 200. For exec probes of servers
 * that listen on the pod's loopback only (IMDS mode), which the kubelet's httpGet cannot reach,
 * in images with no shell or curl.
 */
import { get } from 'node:http'
import { IamraError } from '../../errors.js'
import type { CliContext } from '../context.js'

export const HELP = 'Usage: iamra probe http://HOST:PORT/healthz [--timeout SECONDS]\nExits 0 when the URL answers 200, 5 otherwise.\n'

export async function run(args: readonly string[], ctx: CliContext): Promise<number> {
  if (args[0] === '--help') {
    ctx.stdout(HELP)
    return 0
  }
  const [target, flag, value, ...rest] = args
  if (target === undefined || rest.length > 0 || (flag !== undefined && (flag !== '--timeout' || value === undefined))) throw new IamraError('USAGE', `probe: ${HELP.split('\n')[0]}`)
  const seconds = value === undefined ? 3 : Number(value)
  if (!(seconds > 0 && seconds <= 60)) throw new IamraError('USAGE', `probe: --timeout must be 1 to 60 seconds, got ${value}`)
  let url: URL
  try {
    url = new URL(target)
  } catch {
    throw new IamraError('USAGE', `probe: "${target}" is not a URL`)
  }
  if (url.protocol !== 'http:') throw new IamraError('USAGE', 'probe: only http:// URLs')
  const status = await new Promise<number | string>((resolve) => {
    const req = get(url, { timeout: seconds * 1000 }, (res) => {
      res.resume()
      resolve(res.statusCode ?? 0)
    })
    req.on('timeout', () => req.destroy(new Error(`no answer within ${seconds} s`)))
    req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message))
  })
  if (status === 200) return 0
  throw new IamraError('SERVER_UNREACHABLE', `probe: ${url.origin}${url.pathname} answered ${typeof status === 'number' ? `HTTP ${status}` : status}`)
}
