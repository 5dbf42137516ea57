/**
 * Turns typed settings (numbers are numbers) and what the environment said (read at the edge, see
 * session-environment.ts) into a checked CreateSession configuration: ARNs, region, endpoint,
 * duration, TLS and proxy settings. No I/O: it reads neither files nor environment variables.
 */
import { IamraError, type IamraField } from '../errors.js'
import { checkArns } from './arn.js'
import { MAX_DURATION, MIN_DURATION, type SessionRequest } from './create-session.js'
import { resolveEndpoint, type ResolvedEndpoint } from './endpoint.js'
import { proxyFor } from './proxy.js'
import { environmentVariables, type SessionEnvironment } from './session-environment.js'
import type { TransportOptions } from './transport.js'

export interface SessionConfigInit {
  readonly trustAnchorArn?: string | undefined
  readonly profileArn?: string | undefined
  readonly roleArn?: string | undefined
  /** Seconds, 900 to 43200; 3600 when absent. */
  readonly durationSeconds?: number | undefined
  readonly roleSessionName?: string | undefined
  readonly region?: string | undefined
  readonly endpoint?: string | undefined
  readonly verifyTls: boolean
  /** Per attempt, 1 to 300 seconds; 10 when absent. */
  readonly timeoutSeconds?: number | undefined
  /** Endpoint and proxy variables and the CA bundle, from readSessionEnvironment (none: {}). */
  readonly environment: SessionEnvironment
}

export interface SessionConfig {
  readonly request: SessionRequest
  readonly endpoint: ResolvedEndpoint
  readonly transport: TransportOptions
}

export function resolveSessionConfig(init: SessionConfigInit): SessionConfig {
  const arns = checkArns(init)
  const durationSeconds = wholeNumber('durationSeconds', init.durationSeconds, MIN_DURATION, MAX_DURATION, 3600)
  const timeoutSeconds = wholeNumber('timeout', init.timeoutSeconds, 1, 300, 10)
  const region = init.region !== undefined && init.region !== '' ? init.region : arns.region
  const env = environmentVariables(init.environment)
  const endpoint = resolveEndpoint({ region, endpoint: init.endpoint, env })
  const caPem = init.environment.caPem
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
        const proxy = proxyFor(endpoint.url, env)
        if (proxy !== undefined && proxy.protocol !== 'http:') {
          throw new IamraError(
            'ENDPOINT_INVALID',
            `proxy ${proxy.protocol}//${proxy.host}: only http:// proxies are supported (the tunnel to the endpoint is TLS either way)`,
          )
        }
        return proxy === undefined ? {} : { proxy }
      })(),
    },
  }
}

function wholeNumber(field: IamraField, n: number | undefined, min: number, max: number, fallback: number): number {
  if (n === undefined) return fallback
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new IamraError('USAGE', (name) => `${name(field)} must be a whole number of seconds from ${min} to ${max}, got "${n}"`, { field })
  }
  return n
}
