/**
 * Verifies a SigV4-X509 CreateSession request the way IAM Roles Anywhere does, written from the
 * protocol reference alone: it must never import the signer, so a shared bug cannot pass both sides.
 */
import { createHash, X509Certificate } from 'node:crypto'
import { certKey, signedBy, verifyWithCertKey, type CertKey } from './cert-keys.js'

export type RawHeaders = Readonly<Record<string, string | readonly string[] | undefined>>

export interface RawRequest {
  readonly method: string
  /** Path and raw query exactly as received, e.g. `/sessions?profileArn=...`. */
  readonly target: string
  /** Lower-case names. */
  readonly headers: RawHeaders
  readonly body: Buffer
}

/** A refusal, shaped like the service's rest-json error. */
export class VerifyError extends Error {
  constructor(
    readonly status: number,
    readonly errorType: string,
    message: string,
  ) {
    super(message)
  }
}

const denied = (m: string): VerifyError => new VerifyError(403, 'AccessDeniedException', m)

export interface ParsedAuthorization {
  readonly algorithm: 'AWS4-X509-RSA-SHA256' | 'AWS4-X509-ECDSA-SHA256' | 'AWS4-X509-MLDSA'
  readonly serial: string
  readonly date: string
  readonly region: string
  readonly service: string
  readonly scope: string
  readonly signedHeaders: readonly string[]
  readonly signature: Buffer
}

/** SigV4 URI encoding of UTF-8 bytes: only A-Z a-z 0-9 - _ . ~ stay literal, hex is upper case. */
export function sigv4Encode(value: string): string {
  let out = ''
  for (const b of Buffer.from(value, 'utf8')) {
    const literal = (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || b === 0x2d || b === 0x2e || b === 0x5f || b === 0x7e
    out += literal ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`
  }
  return out
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

/** Strict percent-decoding of one query component; `+` reads as a space (form semantics). */
function percentDecode(s: string): string {
  const bytes: number[] = []
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c === 0x25) {
      const hex = s.slice(i + 1, i + 3)
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) throw new VerifyError(400, 'ValidationException', 'Malformed query string')
      bytes.push(parseInt(hex, 16))
      i += 2
    } else if (c === 0x2b) bytes.push(0x20)
    else if (c < 0x80) bytes.push(c)
    else throw new VerifyError(400, 'ValidationException', 'Malformed query string')
  }
  try {
    return utf8.decode(new Uint8Array(bytes))
  } catch {
    throw new VerifyError(400, 'ValidationException', 'Malformed query string')
  }
}

/** Decoded `[name, value]` pairs of a raw query string, in wire order. */
export function parseQuery(raw: string): Array<[string, string]> {
  return raw
    .split('&')
    .filter((p) => p !== '')
    .map((p) => {
      const i = p.indexOf('=')
      return i < 0 ? [percentDecode(p), ''] : [percentDecode(p.slice(0, i)), percentDecode(p.slice(i + 1))]
    })
}

/** Canonical query: pairs re-encoded, sorted by name then value (byte order), joined with `&`. */
export function canonicalQueryOf(raw: string): string {
  return parseQuery(raw)
    .map(([k, v]) => `${sigv4Encode(k)}=${sigv4Encode(v)}`)
    .sort((a, b) => {
      const [ak = '', av = ''] = a.split('=')
      const [bk = '', bv = ''] = b.split('=')
      return ak < bk ? -1 : ak > bk ? 1 : av < bv ? -1 : av > bv ? 1 : 0
    })
    .join('&')
}

/** Canonical URI (non-S3 SigV4): each segment of the path as received is encoded once more. */
export function canonicalUriOf(rawPath: string): string {
  return rawPath === '' ? '/' : rawPath.split('/').map(sigv4Encode).join('/')
}

function headerValue(headers: RawHeaders, name: string): string | undefined {
  const v = headers[name]
  if (v === undefined) return undefined
  return (typeof v === 'string' ? [v] : v).map((x) => x.trim().replace(/\s+/g, ' ')).join(',')
}

export const sha256Hex = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex')

/** The canonical request the service recomputes from the received request and `SignedHeaders`. */
export function canonicalRequestOf(req: RawRequest, signedHeaders: readonly string[]): string {
  const q = req.target.indexOf('?')
  const path = q < 0 ? req.target : req.target.slice(0, q)
  const query = q < 0 ? '' : req.target.slice(q + 1)
  let block = ''
  for (const name of signedHeaders) {
    const value = headerValue(req.headers, name)
    if (value === undefined) throw denied(`Signed header ${name} is missing from the request`)
    block += `${name}:${value}\n`
  }
  return [req.method, canonicalUriOf(path), canonicalQueryOf(query), block, signedHeaders.join(';'), sha256Hex(req.body)].join('\n')
}

export function stringToSignOf(algorithm: string, amzDate: string, scope: string, canonicalRequest: string): string {
  return [algorithm, amzDate, scope, sha256Hex(canonicalRequest)].join('\n')
}

/** RSA PKCS#1 v1.5 or DER ECDSA with SHA-256 inside the scheme, or pure ML-DSA over the string itself. */
export function verifySignature(stringToSign: string, key: CertKey, signature: Buffer): boolean {
  return verifyWithCertKey(key, Buffer.from(stringToSign, 'utf8'), signature)
}

const ALGORITHM_OF: Record<string, ParsedAuthorization['algorithm']> = {
  rsa: 'AWS4-X509-RSA-SHA256',
  ec: 'AWS4-X509-ECDSA-SHA256',
  'ml-dsa': 'AWS4-X509-MLDSA',
}

export function parseAuthorization(value: string | undefined): ParsedAuthorization {
  if (value === undefined) throw denied('Missing Authentication Token')
  const m = /^(\S+) +Credential=([^,\s]+), *SignedHeaders=([^,\s]+), *Signature=([^,\s]+)$/.exec(value.trim())
  if (m === null) throw denied('Authorization header is malformed')
  const [, algorithm = '', credential = '', signed = '', sig = ''] = m
  if (algorithm !== 'AWS4-X509-RSA-SHA256' && algorithm !== 'AWS4-X509-ECDSA-SHA256' && algorithm !== 'AWS4-X509-MLDSA')
    throw denied(`Unsupported signing algorithm ${algorithm}`)
  const parts = credential.split('/')
  if (parts.length !== 5 || parts[3] !== 'rolesanywhere' || parts[4] !== 'aws4_request') throw denied('Credential scope is malformed')
  const [serial = '', date = '', region = ''] = parts
  const signedHeaders = signed.split(';')
  const sorted = [...new Set(signedHeaders)].sort()
  if (signedHeaders.some((h) => h === '' || h !== h.toLowerCase()) || sorted.join(';') !== signed) {
    throw denied('SignedHeaders must be unique lower-case header names in sorted order')
  }
  if (!/^([0-9a-f]{2})+$/.test(sig)) throw denied('Signature must be lower-case hex')
  return { algorithm, serial, date, region, service: 'rolesanywhere', scope: parts.slice(1).join('/'), signedHeaders, signature: Buffer.from(sig, 'hex') }
}

/** Parses `YYYYMMDDTHHMMSSZ`; undefined when malformed or not a real instant. */
export function parseAmzDate(value: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value)
  if (m === null) return undefined
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number]
  const at = new Date(Date.UTC(y, mo - 1, d, h, mi, s))
  return at.getUTCMonth() === mo - 1 && at.getUTCDate() === d && h < 24 && mi < 60 && s < 60 ? at : undefined
}

function decodeCert(b64: string, what: string): X509Certificate {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || b64.length % 4 !== 0) throw denied(`${what} is not valid base64`)
  try {
    return new X509Certificate(Buffer.from(b64, 'base64'))
  } catch {
    throw denied(`${what} is not a valid X.509 certificate`)
  }
}

function issuedBy(child: X509Certificate, parent: X509Certificate): boolean {
  return signedBy(child, parent)
}

/** The path leaf → ... → trust anchor through the chain certificates, or undefined. */
export function trustPath(leaf: X509Certificate, chain: readonly X509Certificate[], anchors: readonly X509Certificate[]): X509Certificate[] | undefined {
  const path = [leaf]
  const pool = [...chain]
  let current = leaf
  for (let i = 0; i <= chain.length; i++) {
    if (anchors.some((a) => a.fingerprint256 === current.fingerprint256)) return path
    const anchor = anchors.find((a) => issuedBy(current, a))
    if (anchor !== undefined) return [...path, anchor]
    const next = pool.findIndex((c) => issuedBy(current, c))
    const found = next < 0 ? undefined : pool.splice(next, 1)[0]
    if (found === undefined) return undefined
    path.push(found)
    current = found
  }
  return undefined
}

export interface SignatureCheck {
  readonly now: Date
  readonly region: string
  readonly maxSkewMs: number
  readonly anchors: readonly X509Certificate[]
}

export interface VerifiedSigner {
  readonly leaf: X509Certificate
  /** Decimal serial. */
  readonly serial: string
  readonly chainLength: number
}

/** Every authentication check, in the service's order; throws a VerifyError (403) on the first failure. */
export function verifySigner(req: RawRequest, c: SignatureCheck, seen: { serial?: string } = {}): VerifiedSigner {
  const auth = parseAuthorization(typeof req.headers.authorization === 'string' ? req.headers.authorization : undefined)
  const rawDate = typeof req.headers['x-amz-date'] === 'string' ? req.headers['x-amz-date'] : ''
  const at = parseAmzDate(rawDate)
  if (at === undefined) throw denied('X-Amz-Date header is missing or not in YYYYMMDDTHHMMSSZ format')
  if (Math.abs(at.getTime() - c.now.getTime()) > c.maxSkewMs) throw denied('Request timestamp is outside the allowed window')
  if (auth.date !== rawDate.slice(0, 8)) throw denied('Credential scope date does not match X-Amz-Date')
  if (auth.region !== c.region) throw denied(`Credential scope region ${auth.region} does not match the endpoint region ${c.region}`)
  for (const h of ['host', 'x-amz-date', 'x-amz-x509']) if (!auth.signedHeaders.includes(h)) throw denied(`SignedHeaders must include ${h}`)
  const chainHeader = req.headers['x-amz-x509-chain']
  if (chainHeader !== undefined && !auth.signedHeaders.includes('x-amz-x509-chain')) throw denied('SignedHeaders must include x-amz-x509-chain when it is sent')
  const leafHeader = req.headers['x-amz-x509']
  if (typeof leafHeader !== 'string') throw denied('X-Amz-X509 header is missing or repeated')
  const leaf = decodeCert(leafHeader, 'X-Amz-X509')
  if (typeof chainHeader !== 'string' && chainHeader !== undefined) throw denied('X-Amz-X509-Chain must be sent once')
  const chain = chainHeader === undefined ? [] : chainHeader.split(',').map((b, i) => decodeCert(b.trim(), `X-Amz-X509-Chain certificate ${i + 1}`))
  const serial = BigInt(`0x${leaf.serialNumber}`).toString(10)
  seen.serial = serial
  let key: CertKey
  try {
    key = certKey(leaf)
  } catch {
    throw denied('X-Amz-X509 certificate has an unreadable public key')
  }
  if (key.type === 'other') throw denied(`Unsupported certificate key type ${key.name}`)
  if (ALGORITHM_OF[key.type] !== auth.algorithm) throw denied(`Signing algorithm ${auth.algorithm} does not match the certificate key type ${key.type}`)
  if (!/^(0|[1-9][0-9]*)$/.test(auth.serial)) throw denied('Credential must carry the certificate serial number in decimal')
  if (auth.serial !== serial) throw denied('Credential serial number does not match the signing certificate')
  const sts = stringToSignOf(auth.algorithm, rawDate, auth.scope, canonicalRequestOf(req, auth.signedHeaders))
  if (!verifySignature(sts, key, auth.signature)) throw denied('Invalid signature')
  const path = trustPath(leaf, chain, c.anchors)
  if (path === undefined) throw denied('Untrusted Signing Certificate')
  for (const [i, cert] of path.entries()) {
    const what = i === 0 ? 'Signing certificate' : 'A certificate in the signing chain'
    if (c.now.getTime() > new Date(cert.validTo).getTime()) throw denied(`${what} expired`)
    if (c.now.getTime() < new Date(cert.validFrom).getTime()) throw denied(`${what} is not yet valid`)
  }
  return { leaf, serial, chainLength: chain.length }
}

export interface ParameterCheck {
  readonly region: string
  readonly trustAnchorArns?: readonly string[] | undefined
  readonly profileArns?: readonly string[] | undefined
}

export interface SessionParameters {
  readonly trustAnchorArn: string
  readonly profileArn: string
  readonly roleArn: string
  readonly durationSeconds: number
  readonly roleSessionName?: string
}

const ARN_KEYS = ['profileArn', 'roleArn', 'trustAnchorArn'] as const
const BODY_KEYS = new Set<string>([...ARN_KEYS, 'durationSeconds', 'roleSessionName', 'sessionName', 'instanceProperties'])
const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'
const ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\x21-\x7e]+$/
const invalid = (m: string): VerifyError => new VerifyError(400, 'ValidationException', m)
const constraint = (value: unknown, member: string, rule: string): VerifyError =>
  invalid(`1 validation error detected: Value '${String(value)}' at '${member}' failed to satisfy constraint: ${rule}`)

function parseBody(body: Buffer): Record<string, unknown> {
  if (body.length === 0) return {}
  let parsed: unknown
  try {
    parsed = JSON.parse(utf8.decode(body))
  } catch {
    throw invalid('Request body is not valid JSON')
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw invalid('Request body must be a JSON object')
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(parsed)) {
    if (!BODY_KEYS.has(k)) throw invalid(`Unknown parameter in request body: ${k}`)
    if (v !== null) out[k] = v // explicit nulls mean "absent" (needroleshere sends them)
  }
  return out
}

function checkResourceArn(
  arn: string,
  member: 'trustAnchorArn' | 'profileArn',
  kind: string,
  c: ParameterCheck,
  accepted: readonly string[] | undefined,
): void {
  const m = new RegExp(`^arn:aws[a-z-]*:rolesanywhere:([a-z0-9-]+):\\d{12}:${kind}/${UUID}$`).exec(arn)
  if (m === null) throw constraint(arn, member, `Member must be a valid ${kind} ARN`)
  if (m[1] !== c.region) throw invalid(`${member} region ${m[1] ?? ''} does not match the endpoint region ${c.region}`)
  if (accepted !== undefined && !accepted.includes(arn))
    throw new VerifyError(404, 'ResourceNotFoundException', `${kind === 'profile' ? 'Profile' : 'Trust anchor'} not found: ${arn}`)
}

/** The CreateSession parameters from the query form or the body form (never both); 400/404 on failure. */
export function verifyParameters(req: RawRequest, c: ParameterCheck, seen: { roleArn?: string } = {}): SessionParameters {
  const q = req.target.indexOf('?')
  const query = new Map<string, string>()
  for (const [k, v] of parseQuery(q < 0 ? '' : req.target.slice(q + 1))) {
    if (!(ARN_KEYS as readonly string[]).includes(k)) throw invalid(`Unknown query parameter: ${k}`)
    if (query.has(k)) throw invalid(`Query parameter ${k} is repeated`)
    query.set(k, v)
  }
  const body = parseBody(req.body)
  const inBody = ARN_KEYS.filter((k) => k in body)
  if (query.size > 0 && inBody.length > 0) throw invalid('Pass the ARNs either as query parameters or in the body, not both')
  const arn = (k: (typeof ARN_KEYS)[number]): string => {
    const v = query.size > 0 ? query.get(k) : body[k]
    if (v === undefined) throw constraint('null', k, 'Member must not be null')
    if (typeof v !== 'string') throw constraint(v, k, 'Member must be a string')
    return v
  }
  const roleArn = arn('roleArn')
  seen.roleArn = roleArn
  const trustAnchorArn = arn('trustAnchorArn')
  const profileArn = arn('profileArn')
  checkResourceArn(trustAnchorArn, 'trustAnchorArn', 'trust-anchor', c, c.trustAnchorArns)
  checkResourceArn(profileArn, 'profileArn', 'profile', c, c.profileArns)
  if (!ROLE_ARN.test(roleArn)) throw constraint(roleArn, 'roleArn', 'Member must be an IAM role ARN')
  const duration = body.durationSeconds ?? 3600
  if (typeof duration !== 'number' || !Number.isInteger(duration)) throw constraint(duration, 'durationSeconds', 'Member must be an integer')
  if (duration < 900) throw constraint(duration, 'durationSeconds', 'Member must have value greater than or equal to 900')
  if (duration > 43200) throw constraint(duration, 'durationSeconds', 'Member must have value less than or equal to 43200')
  const name = body.roleSessionName
  if (name !== undefined && (typeof name !== 'string' || !/^[\w+=,.@-]{2,64}$/.test(name))) {
    throw constraint(name, 'roleSessionName', 'Member must match [\\w+=,.@-]{2,64}')
  }
  if (body.sessionName !== undefined && typeof body.sessionName !== 'string') throw constraint(body.sessionName, 'sessionName', 'Member must be a string')
  const props = body.instanceProperties
  if (props !== undefined && (typeof props !== 'object' || Array.isArray(props) || Object.values(props as object).some((v) => typeof v !== 'string'))) {
    throw constraint('...', 'instanceProperties', 'Member must be a map of strings')
  }
  return { trustAnchorArn, profileArn, roleArn, durationSeconds: duration, ...(typeof name === 'string' ? { roleSessionName: name } : {}) }
}
