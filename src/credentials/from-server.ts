/**
 * Credentials from a running `iamra serve` (or any ECS container-credentials endpoint), configured
 * by the AWS_CONTAINER_* variables of a binding's env file or of this process: the fallback for
 * tools that only speak credential_process. The caller needs the token, never the private key.
 */
import { ERROR_CODES, IamraError, type IamraErrorCode } from '../errors.js'
import { readBoundedFile, SECRET_FILE_LIMIT, UnreadableFileError } from '../fs/read-bounded.js'
import type { SessionCredentials } from '../rolesanywhere/response.js'
import { TransportError, type Transport } from '../rolesanywhere/transport.js'

const RELATIVE_BASE = 'http://169.254.170.2'
/** Hosts SDKs accept for plain-http FULL_URI; a token is never sent in clear text elsewhere. */
const LOCAL_HOSTS = /^(127\.\d+\.\d+\.\d+|\[::1\]|localhost|169\.254\.170\.2|169\.254\.170\.23|\[fd00:ec2::23\])$/

export interface ContainerEndpoint {
  readonly url: URL
  readonly authorization: string | undefined
}

export async function containerEndpointFrom(vars: Readonly<Record<string, string | undefined>>, source: string): Promise<ContainerEndpoint> {
  const relative = vars.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI
  const full = vars.AWS_CONTAINER_CREDENTIALS_FULL_URI
  let url: URL
  try {
    if (relative !== undefined && relative !== '') url = new URL(relative, RELATIVE_BASE)
    else if (full !== undefined && full !== '') url = new URL(full)
    else
      throw new IamraError('USAGE', `${source} sets neither AWS_CONTAINER_CREDENTIALS_FULL_URI nor AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`, {
        field: 'containerCredentials',
      })
  } catch (e) {
    if (e instanceof IamraError) throw e
    throw new IamraError('USAGE', `${source}: the container credentials URI is not a URL`, { cause: e, field: 'containerCredentials' })
  }
  if (url.protocol === 'http:' && !LOCAL_HOSTS.test(url.host.replace(/:\d+$/, ''))) {
    throw new IamraError('USAGE', `${source}: refusing to send a token over plain http to ${url.host}; use a loopback address or https`, {
      field: 'containerCredentials',
    })
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new IamraError('USAGE', `${source}: unsupported URI scheme ${url.protocol}`, { field: 'containerCredentials' })
  let authorization = vars.AWS_CONTAINER_AUTHORIZATION_TOKEN
  const tokenFile = vars.AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE
  if (tokenFile !== undefined && tokenFile !== '') {
    authorization = (await readSmallFile(tokenFile, 'the token file')).replace(/\r?\n$/, '')
  }
  return { url, authorization: authorization === '' ? undefined : authorization }
}

/**
 * A token or env file named by the user: a regular file (or a link to one) of at most 64 KiB, as `bind` and
 * Kubernetes write them; a directory, FIFO, device or socket is refused at once rather than read or waited on.
 * Errors name the file, never its content.
 */
export async function readSmallFile(path: string, what: string): Promise<string> {
  try {
    return (await readBoundedFile(path, { maxBytes: SECRET_FILE_LIMIT })).toString('utf8')
  } catch (e) {
    if (!(e instanceof UnreadableFileError)) throw e
    throw new IamraError('FILE_UNREADABLE', `cannot read ${what} ${path}: ${e.message}`, { cause: e })
  }
}

export interface FromServerDeps {
  readonly transport: Transport
  readonly sleep: (ms: number) => Promise<void>
  readonly now: () => Date
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

export async function credentialsFromServer(endpoint: ContainerEndpoint, deps: FromServerDeps): Promise<SessionCredentials> {
  const headers: Record<string, string> = {
    host: endpoint.url.host,
    ...(endpoint.authorization === undefined ? {} : { authorization: endpoint.authorization }),
  }
  for (let attempt = 1; ; attempt++) {
    let retry: IamraError
    try {
      const res = await deps.transport({ method: 'GET', url: endpoint.url, headers, body: Buffer.alloc(0) })
      let body: unknown
      try {
        body = JSON.parse(res.body.toString('utf8'))
      } catch {
        body = undefined
      }
      if (res.status === 200) return parseEcsBody(body, deps.now())
      retry = serverError(res.status, body, endpoint.url)
      if (res.status < 500 || attempt >= 3) throw retry
    } catch (e) {
      if (!(e instanceof TransportError)) throw e
      retry = new IamraError('SERVER_UNREACHABLE', `cannot reach the credentials server at ${endpoint.url.host}: ${e.message} (is iamra serve running?)`, {
        cause: e,
      })
      if (attempt >= 3) throw retry
    }
    await deps.sleep(200 * attempt)
  }
}

function serverError(status: number, body: unknown, url: URL): IamraError {
  const code = isObj(body) ? String(body.Code ?? body.code ?? '') : ''
  const message = isObj(body) ? String(body.Message ?? body.message ?? '') : ''
  const known: IamraErrorCode | undefined = (ERROR_CODES as readonly string[]).includes(code) ? (code as IamraErrorCode) : undefined
  const fallback: IamraErrorCode = status === 401 || status === 403 ? 'TOKEN_REJECTED' : status >= 500 ? 'UPSTREAM_UNAVAILABLE' : 'UPSTREAM_INVALID_REQUEST'
  return new IamraError(
    known ?? fallback,
    `the credentials server at ${url.host} answered HTTP ${status}${code ? ` ${code}` : ''}${message ? `: ${message}` : ''}`,
  )
}

function parseEcsBody(body: unknown, now: Date): SessionCredentials {
  const fields = ['AccessKeyId', 'SecretAccessKey', 'Token', 'Expiration'] as const
  if (!isObj(body) || fields.some((f) => typeof body[f] !== 'string')) {
    throw new IamraError('UPSTREAM_BAD_RESPONSE', 'the credentials server answered 200 without AccessKeyId, SecretAccessKey, Token and Expiration')
  }
  const expiresAt = new Date(body.Expiration as string)
  if (Number.isNaN(expiresAt.getTime())) throw new IamraError('UPSTREAM_BAD_RESPONSE', 'the credentials server sent an unreadable Expiration')
  if (expiresAt <= now) throw new IamraError('CREDENTIALS_EXPIRED', 'the credentials server sent expired credentials')
  return {
    accessKeyId: body.AccessKeyId as string,
    secretAccessKey: body.SecretAccessKey as string,
    sessionToken: body.Token as string,
    expiration: expiresAt,
    expiresAt,
    roleArn: typeof body.RoleArn === 'string' ? body.RoleArn : '',
    assumedRoleArn: undefined,
  }
}
