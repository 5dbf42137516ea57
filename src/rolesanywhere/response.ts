/** The CreateSession wire response, checked field by field, and service errors mapped to codes. */
import { IamraError, type IamraErrorCode, type IamraField, type Phrase } from '../errors.js'
import type { HttpResponse } from './transport.js'

/** Temporary credentials as the service returned them. */
export interface SessionCredentials {
  readonly accessKeyId: string
  readonly secretAccessKey: string
  readonly sessionToken: string
  /** When the credentials stop working: a Date, the type AWS SDK credential identities carry. */
  readonly expiration: Date
  /** The same instant as `expiration` (older name, still read by the caches and servers). */
  readonly expiresAt: Date
  /** The role the credentials are for (from the response, else the request). */
  readonly roleArn: string
  readonly assumedRoleArn: string | undefined
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

export function parseSessionResponse(body: Buffer, requestedRoleArn: string): SessionCredentials {
  let json: unknown
  try {
    json = JSON.parse(body.toString('utf8'))
  } catch {
    throw new IamraError('UPSTREAM_BAD_RESPONSE', 'CreateSession answered with a body that is not JSON')
  }
  const set = isObj(json) ? json.credentialSet : undefined
  const first: unknown = Array.isArray(set) ? set[0] : undefined
  if (!isObj(first)) throw new IamraError('UPSTREAM_BAD_RESPONSE', 'unable to obtain temporary security credentials from CreateSession: empty credentialSet')
  const c = first.credentials
  const missing = ['accessKeyId', 'secretAccessKey', 'sessionToken', 'expiration'].filter((k) => !isObj(c) || typeof c[k] !== 'string' || c[k] === '')
  if (!isObj(c) || missing.length > 0) {
    throw new IamraError('UPSTREAM_BAD_RESPONSE', `CreateSession response lacks credential fields: ${missing.join(', ')}`)
  }
  // Keys and tokens are printable ASCII; anything else (a line break) would corrupt the files they go into.
  const unprintable = ['accessKeyId', 'secretAccessKey', 'sessionToken'].filter((k) => !/^[\x21-\x7e]+$/.test(c[k] as string))
  if (unprintable.length > 0)
    throw new IamraError('UPSTREAM_BAD_RESPONSE', `CreateSession returned ${unprintable.join(', ')} with characters other than printable ASCII`)
  const expiresAt = new Date(c.expiration as string)
  if (Number.isNaN(expiresAt.getTime()))
    throw new IamraError('UPSTREAM_BAD_RESPONSE', `CreateSession returned an unreadable expiration "${String(c.expiration)}"`)
  const user = first.assumedRoleUser
  return {
    accessKeyId: c.accessKeyId as string,
    secretAccessKey: c.secretAccessKey as string,
    sessionToken: c.sessionToken as string,
    expiration: expiresAt,
    expiresAt,
    roleArn: typeof first.roleArn === 'string' ? first.roleArn : requestedRoleArn,
    assumedRoleArn: isObj(user) && typeof user.arn === 'string' ? user.arn : undefined,
  }
}

export interface ServiceError {
  readonly code: IamraErrorCode
  readonly upstreamCode: string
  readonly message: Phrase
  /** The inputs the hint points at. */
  readonly fields: readonly IamraField[]
  readonly retryable: boolean
  readonly retryAfterMs: number | undefined
}

/** Maps a non-2xx answer to a coded error, keeping the service's own code and message. */
export function classifyServiceError(res: HttpResponse): ServiceError {
  const header = String(res.headers['x-amzn-errortype'] ?? '')
  let body: Record<string, unknown> = {}
  try {
    const parsed: unknown = JSON.parse(res.body.toString('utf8'))
    if (isObj(parsed)) body = parsed
  } catch {
    // not JSON: keep the status alone
  }
  const raw = header || String(body.code ?? body.__type ?? body.Code ?? '')
  const upstreamCode = raw.split(':')[0]?.split('#').pop() || `HTTP${res.status}`
  const serviceMessage = String(body.message ?? body.Message ?? '').slice(0, 500)
  const requestId = res.headers['x-amzn-requestid']
  let code: IamraErrorCode
  if (res.status === 429 || /throttl|toomanyrequests|slowdown/i.test(upstreamCode)) code = 'UPSTREAM_THROTTLED'
  else if (res.status >= 500) code = 'UPSTREAM_UNAVAILABLE'
  else if (res.status === 403 || res.status === 401) code = 'UPSTREAM_DENIED'
  else if (res.status === 404) code = 'UPSTREAM_NOT_FOUND'
  else if (res.status >= 400) code = 'UPSTREAM_INVALID_REQUEST'
  else code = 'UPSTREAM_BAD_RESPONSE'
  let hint: Phrase = () => ''
  let fields: IamraField[] = []
  if (/invalid signature/i.test(serviceMessage)) hint = () => ' (check that the key matches the certificate and that the clock is right)'
  if (/untrusted signing certificate/i.test(serviceMessage)) {
    hint = (name) => ` (the certificate does not chain to the trust anchor: check ${name('intermediates')} and the trust anchor)`
    fields = ['intermediates']
  }
  const message: Phrase = (name) =>
    `CreateSession failed: HTTP ${res.status} ${upstreamCode}${serviceMessage ? `: ${serviceMessage}` : ''}${hint(name)}${
      typeof requestId === 'string' ? ` (request id ${requestId})` : ''
    }`
  const retryAfter = Number(res.headers['retry-after'])
  return {
    code,
    upstreamCode,
    message,
    fields,
    retryable: code === 'UPSTREAM_THROTTLED' || code === 'UPSTREAM_UNAVAILABLE',
    retryAfterMs: Number.isFinite(retryAfter) && retryAfter >= 0 ? Math.min(retryAfter * 1000, 20_000) : undefined,
  }
}
