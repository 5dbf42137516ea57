/**
 * Turns flag values and the environment into a checked CreateSession configuration: ARNs,
 * region, endpoint, duration, TLS and proxy settings. All problems are reported before any I/O.
 */
import { readFileSync } from 'node:fs'
import { IamraError, type IamraField } from '../errors.js'
import { checkArns } from './arn.js'
import { MAX_DURATION, MIN_DURATION, type SessionRequest } from './create-session.js'
import { resolveEndpoint, type ResolvedEndpoint } from './endpoint.js'
import { proxyFor } from './proxy.js'
import type { TransportOptions } from './transport.js'

export interface SessionConfigInit {
  readonly trustAnchorArn?: string | undefined
  readonly profileArn?: string | undefined
  readonly roleArn?: string | undefined
  readonly sessionDuration?: string | number | undefined
  readonly roleSessionName?: string | undefined
  readonly region?: string | undefined
  readonly endpoint?: string | undefined
  readonly verifyTls: boolean
  readonly timeoutSeconds?: string | number | undefined
  readonly env: Readonly<Record<string, string | undefined>>
}

export interface SessionConfig {
  readonly request: SessionRequest
  readonly endpoint: ResolvedEndpoint
  readonly transport: TransportOptions
}

export function resolveSessionConfig(init: SessionConfigInit): SessionConfig {
  const arns = checkArns(init)
  const durationSeconds = wholeNumber('durationSeconds', init.sessionDuration, MIN_DURATION, MAX_DURATION, 3600)
  const timeoutSeconds = wholeNumber('timeout', init.timeoutSeconds, 1, 300, 10)
  const region = init.region !== undefined && init.region !== '' ? init.region : arns.region
  const endpoint = resolveEndpoint({ region, endpoint: init.endpoint, env: init.env })
  const caFile = init.env.AWS_CA_BUNDLE
  let caPem: string | undefined
  if (caFile !== undefined && caFile !== '') {
    try {
      caPem = readFileSync(caFile, 'utf8')
    } catch (e) {
      throw new IamraError('ENDPOINT_INVALID', `AWS_CA_BUNDLE=${caFile} cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e })
    }
  }
  return {
    request: {
      trustAnchorArn: init.trustAnchorArn ?? '',
      profileArn: init.profileArn ?? '',
      roleArn: init.roleArn ?? '',
      durationSeconds,
      ...(init.roleSessionName !== undefined && init.roleSessionName !== '' ? { roleSessionName: init.roleSessionName } : {}),
    },
    endpoint,
    transport: {
      timeoutMs: timeoutSeconds * 1000,
      verifyTls: init.verifyTls,
      ...(caPem === undefined ? {} : { caPem }),
      ...(() => {
        const proxy = proxyFor(endpoint.url, init.env)
        if (proxy !== undefined && proxy.protocol !== 'http:') {
          throw new IamraError('ENDPOINT_INVALID', `proxy ${proxy.protocol}//${proxy.host}: only http:// proxies are supported (the tunnel to the endpoint is TLS either way)`)
        }
        return proxy === undefined ? {} : { proxy }
      })(),
    },
  }
}

function wholeNumber(field: IamraField, raw: string | number | undefined, min: number, max: number, fallback: number): number {
  if (raw === undefined || raw === '') return fallback
  const n = typeof raw === 'number' ? raw : /^\s*\d+\s*$/.test(raw) ? Number(raw) : NaN
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new IamraError('USAGE', (name) => `${name(field)} must be a whole number of seconds from ${min} to ${max}, got "${raw}"`, { field })
  }
  return n
}
