/**
 * CreateSession: sign (afresh for every attempt), send, retry throttling, 5xx and network errors
 * with full-jitter backoff, and return checked credentials.
 */
import { IamraError } from '../errors.js'
import type { Identity } from '../identity/identity.js'
import { canonicalQuery } from '../signing/canonical.js'
import { signRequest } from '../signing/sigv4x509.js'
import { hostHeader, sessionsPath, type ResolvedEndpoint } from './endpoint.js'
import { classifyServiceError, parseSessionResponse, type SessionCredentials } from './response.js'
import { isTlsCertificateError, TransportError, type Transport } from './transport.js'

export const MIN_DURATION = 900
export const MAX_DURATION = 43_200

export interface SessionRequest {
  readonly trustAnchorArn: string
  readonly profileArn: string
  readonly roleArn: string
  readonly durationSeconds: number
  readonly roleSessionName?: string | undefined
}

export interface CreateSessionDeps {
  readonly transport: Transport
  readonly now: () => Date
  readonly sleep: (ms: number) => Promise<void>
  /** Uniform in [0, 1): the jitter source. */
  readonly random: () => number
  readonly debug?: ((line: string) => void) | undefined
  /** Stops retrying and abandons the request in flight (the server is stopping). */
  readonly signal?: AbortSignal | undefined
  readonly userAgent: string
  /** Attempts in all, including the first. */
  readonly maxAttempts?: number
}

const BASE_DELAY_MS = 100
const THROTTLE_BASE_DELAY_MS = 1000
const MAX_DELAY_MS = 5000

export function requestBody(req: SessionRequest): Buffer {
  const body: Record<string, unknown> = { durationSeconds: req.durationSeconds }
  if (req.roleSessionName !== undefined && req.roleSessionName !== '') body.roleSessionName = req.roleSessionName
  return Buffer.from(JSON.stringify(body), 'utf8')
}

export function requestQuery(req: SessionRequest): string {
  return canonicalQuery([
    ['profileArn', req.profileArn],
    ['roleArn', req.roleArn],
    ['trustAnchorArn', req.trustAnchorArn],
  ])
}

export async function createSession(req: SessionRequest, identity: Identity, endpoint: ResolvedEndpoint, deps: CreateSessionDeps): Promise<SessionCredentials> {
  const maxAttempts = deps.maxAttempts ?? 3
  const body = requestBody(req)
  const query = requestQuery(req)
  const path = sessionsPath(endpoint.url)
  const url = new URL(`${endpoint.url.origin}${path}?${query}`)
  const debug = deps.debug ?? (() => {})
  const started = deps.now().getTime()
  /** After retries, a message says how many attempts were made over how long, not just the last one's limit. */
  const final = (error: IamraError, attempt: number): IamraError => {
    if (attempt <= 1) return error
    const seconds = ((deps.now().getTime() - started) / 1000).toFixed(1)
    return error.rephrase((text) => `${text} (gave up after ${attempt} attempts over ${seconds} s)`, error.cause)
  }
  for (let attempt = 1; ; attempt++) {
    const signed = await signRequest({
      method: 'POST',
      host: hostHeader(endpoint.url),
      path,
      query,
      body,
      region: endpoint.signingRegion,
      at: deps.now(),
      leafDer: identity.leafDer,
      serial: identity.serial,
      chainDer: identity.chainDer,
      signer: identity.signer,
    })
    debug(`attempt ${attempt}/${maxAttempts}: POST ${url.origin}${path}?${query}`)
    debug(`canonical request:\n${signed.canonicalRequest}`)
    debug(`string to sign:\n${signed.stringToSign}`)
    let delay: number
    let error: IamraError
    try {
      const res = await deps.transport({ method: 'POST', url, body, headers: { ...signed.headers, 'user-agent': deps.userAgent }, signal: deps.signal })
      debug(`response: HTTP ${res.status}${typeof res.headers['x-amzn-requestid'] === 'string' ? ` request id ${res.headers['x-amzn-requestid']}` : ''}`)
      if (res.status >= 200 && res.status < 300) {
        const creds = parseSessionResponse(res.body, req.roleArn)
        if (creds.expiresAt.getTime() <= deps.now().getTime()) {
          throw new IamraError(
            'CREDENTIALS_EXPIRED',
            `CreateSession returned credentials that already expired (${creds.expiresAt.toISOString()}); check the clock`,
          )
        }
        return creds
      }
      if (res.status >= 300 && res.status < 400) {
        throw new IamraError(
          'UPSTREAM_BAD_RESPONSE',
          (name) => `CreateSession answered with a redirect (HTTP ${res.status}); redirects are not followed: check ${name('endpoint')}`,
          { field: 'endpoint' },
        )
      }
      const se = classifyServiceError(res)
      error = new IamraError(se.code, se.message, { upstreamCode: se.upstreamCode, field: se.fields })
      if (!se.retryable || attempt >= maxAttempts) throw final(error, attempt)
      delay = se.retryAfterMs ?? backoff(attempt, se.code === 'UPSTREAM_THROTTLED' ? THROTTLE_BASE_DELAY_MS : BASE_DELAY_MS, deps.random)
    } catch (e) {
      if (!(e instanceof TransportError)) throw e
      if (e.code === 'EABORTED') throw stopping()
      error = transportError(e, url)
      const retryable = error.code !== 'UPSTREAM_TLS' && e.code !== 'ENOTFOUND'
      if (!retryable || attempt >= maxAttempts) throw final(error, attempt)
      delay = backoff(attempt, BASE_DELAY_MS, deps.random)
    }
    debug(`retrying in ${delay} ms after: ${error.message}`)
    if (isAborted(deps.signal)) throw stopping()
    await deps.sleep(delay)
    if (isAborted(deps.signal)) throw stopping()
  }
}

/** Full jitter: uniform in [0, min(cap, base * 2^(attempt-1))]. */
export function backoff(attempt: number, base: number, random: () => number): number {
  return Math.round(random() * Math.min(MAX_DELAY_MS, base * 2 ** (attempt - 1)))
}

/** Read live: the flag changes while we wait. */
const isAborted = (signal: AbortSignal | undefined): boolean => signal?.aborted === true

function stopping(): IamraError {
  return new IamraError('SERVER_STOPPING', 'CreateSession abandoned: the server is stopping')
}

function transportError(e: TransportError, url: URL): IamraError {
  if (isTlsCertificateError(e.code)) {
    return new IamraError('UPSTREAM_TLS', `TLS verification of ${url.host} failed: ${e.message} (set AWS_CA_BUNDLE for a private CA)`, { cause: e })
  }
  if (e.code === 'ETIMEDOUT') return new IamraError('UPSTREAM_TIMEOUT', `CreateSession timed out: ${e.message} per attempt`, { cause: e })
  return new IamraError('UPSTREAM_NETWORK', `cannot reach ${url.host}: ${e.message}`, { cause: e })
}
