/**
 * Mints real (moto) STS credentials for the fake endpoint with sts:AssumeRole, signed by a small
 * SigV4-HMAC signer of its own; never logs or embeds a secret in an error message.
 */
import { createHash, createHmac } from 'node:crypto'
import { kitRuntime } from '../kit-runtime.js'
import type { MintedCredentials, MintRequest } from './handler.js'

export interface HmacSignInput {
  readonly method: string
  readonly url: URL
  /** Extra headers to sign (lower-case names), e.g. content-type. */
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
  readonly accessKeyId: string
  readonly secretAccessKey: string
  readonly sessionToken?: string
  readonly region: string
  readonly service: string
  readonly at: Date
}

/** The error the fake handler turns into a service-style answer. */
export class MintError extends Error {
  constructor(
    readonly status: number,
    readonly errorType: string,
    message: string,
  ) {
    super(message)
  }
}

const rfc3986 = (s: string): string =>
  Array.from(Buffer.from(s, 'utf8'), (b) =>
    /[A-Za-z0-9\-_.~]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`,
  ).join('')
const sha256 = (s: string): string => createHash('sha256').update(s, 'utf8').digest('hex')
const hmac = (key: Buffer | string, data: string): Buffer => createHmac('sha256', key).update(data, 'utf8').digest()

/** Form-encodes pairs with RFC 3986 encoding (space is %20). */
export function formEncode(pairs: ReadonlyArray<readonly [string, string]>): string {
  return pairs.map(([k, v]) => `${rfc3986(k)}=${rfc3986(v)}`).join('&')
}

/** Standard SigV4 (AWS4-HMAC-SHA256); returns the headers to send (host is left to the HTTP client). */
export function signV4Hmac(input: HmacSignInput): Record<string, string> {
  const amzDate = input.at
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '')
  const date = amzDate.slice(0, 8)
  const headers: Record<string, string> = { ...input.headers, 'x-amz-date': amzDate }
  if (input.sessionToken !== undefined) headers['x-amz-security-token'] = input.sessionToken
  const signed: Record<string, string> = { ...headers, host: input.url.host }
  const names = Object.keys(signed)
    .map((n) => n.toLowerCase())
    .sort()
  const lower = Object.fromEntries(Object.entries(signed).map(([k, v]) => [k.toLowerCase(), v.trim().replace(/\s+/g, ' ')]))
  const query = [...input.url.searchParams]
    .map(([k, v]) => `${rfc3986(k)}=${rfc3986(v)}`)
    .sort()
    .join('&')
  const canonical = [
    input.method,
    input.url.pathname.split('/').map(rfc3986).join('/') || '/', // non-S3 rule: the sent path encoded once more
    query,
    names.map((n) => `${n}:${lower[n] ?? ''}\n`).join(''),
    names.join(';'),
    sha256(input.body),
  ].join('\n')
  const scope = `${date}/${input.region}/${input.service}/aws4_request`
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonical)].join('\n')
  const key = hmac(hmac(hmac(hmac(`AWS4${input.secretAccessKey}`, date), input.region), input.service), 'aws4_request')
  const signature = createHmac('sha256', key).update(stringToSign, 'utf8').digest('hex')
  headers.authorization = `AWS4-HMAC-SHA256 Credential=${input.accessKeyId}/${scope}, SignedHeaders=${names.join(';')}, Signature=${signature}`
  return headers
}

/** The text of the first `<tag>` element, XML entities decoded. */
export function xmlTag(xml: string, tag: string): string | undefined {
  const m = new RegExp(`<${tag}>([^<]*)</${tag}>`).exec(xml)
  return m?.[1]
    ?.replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&')
}

/** A role session name STS accepts: [\w+=,.@-]{2,64}. */
export function sessionNameFor(req: MintRequest): string {
  if (req.roleSessionName !== undefined) return req.roleSessionName
  const cn = req.subject
    .replace(/[^\w+=,.@-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 64)
  return cn.length >= 2 ? cn : 'iamra'
}

/** Parses an STS timestamp (moto adds microseconds) into a Date. */
export function parseStsTime(value: string): Date | undefined {
  const at = new Date(value.trim().replace(/(\.\d{3})\d+/, '$1'))
  return Number.isNaN(at.getTime()) ? undefined : at
}

export function stsMinter(opts: {
  endpoint: string
  accessKeyId: string
  secretAccessKey: string
  region?: string
  fetchImpl?: typeof fetch
  /** The clock requests are signed at; default: the real one. */
  now?: () => Date
}): (req: MintRequest) => Promise<MintedCredentials> {
  const now = opts.now ?? kitRuntime.now
  const doFetch = opts.fetchImpl ?? fetch
  const url = new URL(opts.endpoint)
  if (url.pathname === '') url.pathname = '/'
  return async (req) => {
    const body = formEncode([
      ['Action', 'AssumeRole'],
      ['Version', '2011-06-15'],
      ['RoleArn', req.roleArn],
      ['RoleSessionName', sessionNameFor(req)],
      ['DurationSeconds', String(req.durationSeconds)],
    ])
    const headers = signV4Hmac({
      method: 'POST',
      url,
      body,
      headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
      accessKeyId: opts.accessKeyId,
      secretAccessKey: opts.secretAccessKey,
      region: opts.region ?? 'us-east-1',
      service: 'sts',
      at: now(),
    })
    let res: Response
    try {
      res = await doFetch(url, { method: 'POST', headers, body, redirect: 'manual', signal: AbortSignal.timeout(10_000) })
    } catch (e) {
      throw new MintError(500, 'InternalServerException', `STS AssumeRole failed: ${(e as Error).message}`)
    }
    const xml = await res.text()
    if (res.status !== 200) {
      const code = xmlTag(xml, 'Code') ?? 'UnknownError'
      throw res.status >= 500
        ? new MintError(500, 'InternalServerException', `STS AssumeRole failed: HTTP ${res.status} ${code}`)
        : new MintError(403, 'AccessDeniedException', `Unable to assume role ${req.roleArn}: STS ${code}`)
    }
    const field = (tag: string): string => {
      const v = xmlTag(xml, tag)
      if (v === undefined || v === '') throw new MintError(500, 'InternalServerException', `STS AssumeRole response lacks ${tag}`)
      return v
    }
    const expiration = parseStsTime(field('Expiration'))
    if (expiration === undefined) throw new MintError(500, 'InternalServerException', 'STS AssumeRole response has an unreadable Expiration')
    const user = /<AssumedRoleUser>([\s\S]*?)<\/AssumedRoleUser>/.exec(xml)?.[1] ?? ''
    const arn = xmlTag(user, 'Arn')
    const roleId = xmlTag(user, 'AssumedRoleId')
    return {
      accessKeyId: field('AccessKeyId'),
      secretAccessKey: field('SecretAccessKey'),
      sessionToken: field('SessionToken'),
      expiration,
      ...(arn === undefined ? {} : { assumedRoleArn: arn }),
      ...(roleId === undefined ? {} : { assumedRoleId: roleId }),
    }
  }
}
