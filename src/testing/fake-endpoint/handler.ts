/**
 * A transport-free fake of the IAM Roles Anywhere CreateSession endpoint: routes, verifies (verify.ts),
 * mints credentials and answers in the service's rest-json shapes, recording every call.
 */
import { createHash, X509Certificate } from 'node:crypto'
import { kitRuntime, randomUuid, type KitRuntime } from '../kit-runtime.js'
import { parseQuery, verifyParameters, verifySigner, VerifyError } from './verify.js'

export interface FakeRequest {
  method: string
  /** Raw path and query as received, e.g. `/sessions?profileArn=...`. */
  target: string
  /** Lower-case names. */
  headers: Record<string, string | string[] | undefined>
  body: Buffer
}

export interface FakeResponse {
  statusCode: number
  headers: Record<string, string>
  body: Buffer
}

export type FakeHandler = (req: FakeRequest) => Promise<FakeResponse>

export interface MintRequest {
  roleArn: string
  durationSeconds: number
  roleSessionName?: string
  /** Decimal serial of the leaf. */
  serial: string
  /** Common name of the leaf (its full subject when it has no CN). */
  subject: string
}

export interface MintedCredentials {
  accessKeyId: string
  secretAccessKey: string
  sessionToken: string
  expiration: Date
  assumedRoleArn?: string
  assumedRoleId?: string
}

export interface FakeFailure {
  status: number
  errorType: string
  message: string
  headers?: Record<string, string>
}

export interface FakeConfig {
  /** PEM text; each may hold several CERTIFICATE blocks. */
  trustAnchors: string[]
  region: string
  /** Accepted trust-anchor ARNs; when absent any valid ARN in `region`. */
  trustAnchorArns?: string[]
  profileArns?: string[]
  /** The fake's clock; default: the real one. */
  now?: () => Date
  /** The fake's random source (minted keys, request ids); default: the real one. */
  randomBytes?: (n: number) => Buffer
  /** Allowed X-Amz-Date skew; default 5 minutes. */
  maxSkewMs?: number
  /** Default '': only POST {prefix}/sessions is served. */
  pathPrefix?: string
  /** Default: random ASIA... keys expiring at now + durationSeconds. */
  mint?: (req: MintRequest) => Promise<MintedCredentials>
  /** Consumed (shifted) by the next CreateSession requests before any verification. */
  failures?: FakeFailure[]
  /** Called after each request is answered (for logs); a FakeCall never holds secrets. */
  onCall?: (call: FakeCall) => void
}

export interface FakeCall {
  at: Date
  status: number
  errorMessage?: string
  roleArn?: string
  /** Decimal serial of the leaf, once the certificate was parsed. */
  serial?: string
  chainLength: number
}

/** The PEM CERTIFICATE blocks of a text, parsed. */
export function certificatesOf(pem: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []
  if (blocks.length === 0) throw new Error('trust anchor PEM holds no CERTIFICATE block')
  return blocks.map((b) => new X509Certificate(b))
}

/** `YYYY-MM-DDTHH:MM:SSZ`, as the service writes expirations. */
export function rfc3339(at: Date): string {
  return at.toISOString().replace(/\.\d{3}Z$/, 'Z')
}

const randomId = (rt: KitRuntime, n: number): string => Array.from(rt.randomBytes(n), (b) => 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'[b & 31]).join('')
const roleName = (roleArn: string): string => roleArn.slice(roleArn.lastIndexOf('/') + 1)
const accountOf = (arn: string): string => arn.split(':')[4] ?? '000000000000'

function defaultMinter(rt: KitRuntime): (req: MintRequest) => Promise<MintedCredentials> {
  return async (req) => ({
    accessKeyId: `ASIA${randomId(rt, 16)}`,
    secretAccessKey: rt.randomBytes(30).toString('base64'),
    sessionToken: `FwoGZXIvYXdzE${rt.randomBytes(240).toString('base64')}`,
    expiration: new Date(rt.now().getTime() + req.durationSeconds * 1000),
  })
}

function json(rt: KitRuntime, statusCode: number, value: unknown, extra: Record<string, string> = {}): FakeResponse {
  return {
    statusCode,
    headers: { 'content-type': 'application/json', 'x-amzn-RequestId': randomUuid(rt), ...extra },
    body: Buffer.from(JSON.stringify(value), 'utf8'),
  }
}

function error(rt: KitRuntime, status: number, errorType: string, message: string, extra: Record<string, string> = {}): FakeResponse {
  return json(rt, status, { message }, { 'x-amzn-ErrorType': errorType, ...extra })
}

function commonName(cert: X509Certificate): string {
  const cn = /(?:^|\n)CN=([^\n]*)/.exec(cert.subject)?.[1]
  return cn ?? cert.subject.replace(/\n/g, ', ')
}

/** The role ARN a request names, read leniently before verification (for the call record only). */
function peekRoleArn(req: FakeRequest): string | undefined {
  try {
    const q = req.target.indexOf('?')
    const fromQuery = q < 0 ? undefined : parseQuery(req.target.slice(q + 1)).find(([k]) => k === 'roleArn')?.[1]
    const fromBody = req.body.length > 0 ? (JSON.parse(req.body.toString('utf8')) as { roleArn?: unknown }).roleArn : undefined
    return fromQuery ?? (typeof fromBody === 'string' ? fromBody : undefined)
  } catch {
    return undefined
  }
}

function stableUuid(der: Buffer): string {
  const h = createHash('sha256').update(der).digest('hex')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`
}

export function createFakeHandler(config: FakeConfig): FakeHandler & { calls: FakeCall[] } {
  const anchors = config.trustAnchors.flatMap(certificatesOf)
  const rt: KitRuntime = { now: config.now ?? kitRuntime.now, randomBytes: config.randomBytes ?? kitRuntime.randomBytes }
  const now = rt.now
  const mint = config.mint ?? defaultMinter(rt)
  const route = `${(config.pathPrefix ?? '').replace(/\/+$/, '')}/sessions`
  const calls: FakeCall[] = []

  async function answer(req: FakeRequest, seen: { serial?: string; roleArn?: string }): Promise<FakeResponse> {
    const path = req.target.split('?', 1)[0] ?? ''
    if (path !== route) return error(rt, 404, 'UnknownOperationException', `No operation at ${path}`)
    if (req.method !== 'POST') return error(rt, 405, 'MethodNotAllowedException', `Method ${req.method} is not allowed on ${path}`, { allow: 'POST' })
    const failure = config.failures?.shift()
    if (failure !== undefined) return error(rt, failure.status, failure.errorType, failure.message, failure.headers)
    const at = now()
    const signer = verifySigner(req, { now: at, region: config.region, maxSkewMs: config.maxSkewMs ?? 300_000, anchors }, seen)
    const params = verifyParameters(req, { region: config.region, trustAnchorArns: config.trustAnchorArns, profileArns: config.profileArns }, seen)
    const subject = commonName(signer.leaf)
    const creds = await mint({
      roleArn: params.roleArn,
      durationSeconds: params.durationSeconds,
      serial: signer.serial,
      subject,
      ...(params.roleSessionName === undefined ? {} : { roleSessionName: params.roleSessionName }),
    })
    const sessionName = params.roleSessionName ?? signer.leaf.serialNumber.toLowerCase()
    const account = accountOf(params.roleArn)
    return json(rt, 201, {
      credentialSet: [
        {
          assumedRoleUser: {
            arn: creds.assumedRoleArn ?? `arn:aws:sts::${account}:assumed-role/${roleName(params.roleArn)}/${sessionName}`,
            assumedRoleId: creds.assumedRoleId ?? `AROA${randomId(rt, 17)}:${sessionName}`,
          },
          credentials: {
            accessKeyId: creds.accessKeyId,
            expiration: rfc3339(creds.expiration),
            secretAccessKey: creds.secretAccessKey,
            sessionToken: creds.sessionToken,
          },
          packedPolicySize: 0,
          roleArn: params.roleArn,
          sourceIdentity: subject,
        },
      ],
      subjectArn: `arn:aws:rolesanywhere:${config.region}:${accountOf(params.trustAnchorArn)}:subject/${stableUuid(signer.leaf.raw)}`,
    })
  }

  const handler = async (req: FakeRequest): Promise<FakeResponse> => {
    const seen: { serial?: string; roleArn?: string } = {}
    const peeked = peekRoleArn(req)
    if (peeked !== undefined) seen.roleArn = peeked
    let res: FakeResponse
    try {
      res = await answer(req, seen)
    } catch (e) {
      const status = (e as { status?: unknown }).status
      const errorType = (e as { errorType?: unknown }).errorType
      res =
        e instanceof VerifyError || (typeof status === 'number' && typeof errorType === 'string')
          ? error(rt, status as number, errorType as string, (e as Error).message)
          : error(rt, 500, 'InternalServerException', 'Internal failure')
    }
    const chain = req.headers['x-amz-x509-chain']
    const call: FakeCall = {
      at: now(),
      status: res.statusCode,
      chainLength: typeof chain === 'string' ? chain.split(',').length : 0,
      ...(res.statusCode >= 300 ? { errorMessage: (JSON.parse(res.body.toString('utf8')) as { message: string }).message } : {}),
      ...(seen.roleArn === undefined ? {} : { roleArn: seen.roleArn }),
      ...(seen.serial === undefined ? {} : { serial: seen.serial }),
    }
    calls.push(call)
    config.onCall?.(call)
    return res
  }
  return Object.assign(handler, { calls })
}
