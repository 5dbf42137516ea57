/**
 * `iamra probe URL`: GETs an http:// health URL and exits 0 on 200. For exec probes of servers
 * that listen on the pod's loopback only (IMDS mode), which the kubelet's httpGet cannot reach,
 * in images with no shell or curl.
 */
import { get } from 'node:http'
import { IamraError } from '../../errors.js'
import type { CliContext } from '../context.js'
import { helpText } from '../flag-help.js'
import { parseFlags } from '../flags.js'

const FLAGS = {
  timeout: { type: 'number', unit: 'seconds', min: 1, max: 60, default: 3, placeholder: 'SECONDS', description: 'how long to wait for the answer' },
  help: { type: 'boolean', description: 'show this help' },
} as const

export const HELP = helpText('iamra probe http://HOST:PORT/healthz [--timeout SECONDS]', 'Exits 0 when the URL answers 200, 5 otherwise.', FLAGS, [
  ['URL', 'an http:// URL'],
])

export async function run(args: readonly string[], ctx: CliContext): Promise<number> {
  const { flags, positionals } = parseFlags('probe', FLAGS, args)
  if (flags.help === true) {
    ctx.stdout(HELP)
    return 0
  }
  const [target, ...rest] = positionals
  if (target === undefined || rest.length > 0) throw new IamraError('USAGE', 'probe: Usage: iamra probe http://HOST:PORT/healthz [--timeout SECONDS]')
  const seconds = flags.timeout
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
