/**
 * What the environment says about reaching Roles Anywhere, read once at the edge: the endpoint
 * variables, FIPS and dual-stack switches, proxies, and the AWS_CA_BUNDLE file's contents. The
 * session configuration takes this typed record and reads neither variables nor files itself.
 */
import { readFileSync } from 'node:fs'
import { IamraError } from '../errors.js'

export interface SessionEnvironment {
  /** AWS_ENDPOINT_URL_ROLESANYWHERE, then AWS_ENDPOINT_URL (empty values skipped). */
  readonly endpointUrl?: string | undefined
  /** AWS_USE_FIPS_ENDPOINT, AWS_USE_DUALSTACK_ENDPOINT, as written. */
  readonly useFipsEndpoint?: string | undefined
  readonly useDualStackEndpoint?: string | undefined
  /** HTTPS_PROXY, HTTP_PROXY, NO_PROXY (or their lower-case spellings). */
  readonly httpsProxy?: string | undefined
  readonly httpProxy?: string | undefined
  readonly noProxy?: string | undefined
  /** The PEM text of AWS_CA_BUNDLE, already read. */
  readonly caPem?: string | undefined
}

type Env = Readonly<Record<string, string | undefined>>

const pick = (env: Env, ...names: string[]): string | undefined => names.map((n) => env[n]).find((v) => v !== undefined && v !== '')

/** The variables a session needs, and AWS_CA_BUNDLE read (ENDPOINT_INVALID when it cannot be). */
export function readSessionEnvironment(env: Env, readText: (path: string) => string = (p) => readFileSync(p, 'utf8')): SessionEnvironment {
  const caFile = env.AWS_CA_BUNDLE
  let caPem: string | undefined
  if (caFile !== undefined && caFile !== '') {
    try {
      caPem = readText(caFile)
    } catch (e) {
      throw new IamraError('ENDPOINT_INVALID', `AWS_CA_BUNDLE=${caFile} cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, {
        cause: e,
      })
    }
  }
  return {
    endpointUrl: pick(env, 'AWS_ENDPOINT_URL_ROLESANYWHERE', 'AWS_ENDPOINT_URL'),
    useFipsEndpoint: env.AWS_USE_FIPS_ENDPOINT,
    useDualStackEndpoint: env.AWS_USE_DUALSTACK_ENDPOINT,
    httpsProxy: pick(env, 'HTTPS_PROXY', 'https_proxy'),
    httpProxy: pick(env, 'HTTP_PROXY', 'http_proxy'),
    noProxy: pick(env, 'NO_PROXY', 'no_proxy'),
    caPem,
  }
}

/** The same record as the variables resolveEndpoint and proxyFor read (they are shared with the library). */
export function environmentVariables(e: SessionEnvironment): Env {
  return {
    AWS_ENDPOINT_URL_ROLESANYWHERE: e.endpointUrl,
    AWS_USE_FIPS_ENDPOINT: e.useFipsEndpoint,
    AWS_USE_DUALSTACK_ENDPOINT: e.useDualStackEndpoint,
    HTTPS_PROXY: e.httpsProxy,
    HTTP_PROXY: e.httpProxy,
    NO_PROXY: e.noProxy,
  }
}
