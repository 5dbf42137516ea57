/**
 * Checks fromRolesAnywhere's options once, in the factory, without I/O: every problem at once, each
 * naming its option field; numbers are checked as numbers. Nothing here reads the environment: it
 * comes in.
 */
import { isPkcs11Uri } from '../pkcs11/uri.js'
import { IamraError, type IamraErrorCode } from '../errors.js'
import { inspectArns } from '../rolesanywhere/arn.js'
import { MAX_DURATION, MIN_DURATION, type SessionRequest } from '../rolesanywhere/create-session.js'
import { resolveEndpoint, type ResolvedEndpoint } from '../rolesanywhere/endpoint.js'
import { proxyFor } from '../rolesanywhere/proxy.js'
import { CredentialsProviderError, type OptionField } from './credentials-provider-error.js'
import type { FromRolesAnywhereInit, IdentitySource, Logger, Signer } from './types.js'

const DEFAULTS = {
  durationSeconds: 3600, // 1 h, as the CLI
  timeoutMs: 10_000, // 10 s per attempt, as the CLI
  maxRetries: 2, // 3 attempts in all, as the CLI
} as const
const MAX_TIMEOUT_MS = 300_000 // 5 min
const MAX_RETRIES = 10

/** The identity inputs, read on every call. */
export interface IdentityInputs {
  readonly certificate: IdentitySource
  readonly intermediates: readonly IdentitySource[]
  readonly privateKey: IdentitySource | undefined
  readonly passphrase: string | undefined
  readonly signer: Signer | undefined
}

export interface ResolvedOptions {
  readonly request: SessionRequest
  readonly endpoint: ResolvedEndpoint
  readonly proxy: URL | undefined
  /** AWS_CA_BUNDLE: a path, read on each call. */
  readonly caBundlePath: string | undefined
  readonly timeoutMs: number
  readonly maxAttempts: number
  readonly roleAccount: string
  readonly identity: IdentityInputs
}

interface Problem {
  readonly field: OptionField
  readonly code: IamraErrorCode
  readonly message: string
}

const given = (v: unknown): boolean => v !== undefined && v !== null && v !== ''
const isSource = (v: unknown): v is IdentitySource => typeof v === 'string' || v instanceof Uint8Array || typeof v === 'function'
const isSigner = (v: unknown): v is Signer =>
  typeof v === 'object' &&
  v !== null &&
  typeof (v as Signer).sign === 'function' &&
  ((v as Signer).algorithm === 'AWS4-X509-RSA-SHA256' || (v as Signer).algorithm === 'AWS4-X509-ECDSA-SHA256')

/** True when none of the options that say "use Roles Anywhere" is set: a chain should move on. */
export function isUnconfigured(init: Partial<FromRolesAnywhereInit>): boolean {
  return !given(init.trustAnchorArn) && !given(init.profileArn) && !given(init.roleArn) && !given(init.certificate) && !given(init.signer)
}

/** The checked options, or a CredentialsProviderError listing every problem. */
export function resolveOptions(init: FromRolesAnywhereInit, env: Readonly<Record<string, string | undefined>>, logger: Logger | undefined): ResolvedOptions {
  const problems: Problem[] = []
  const problem = (field: OptionField, message: string, code: IamraErrorCode = 'USAGE'): void => void problems.push({ field, code, message })

  const arns = inspectArns(init)
  for (const p of arns.problems) problem(p.field, p.message(p.field), p.code)

  if (!given(init.certificate)) problem('certificate', 'certificate is required: the end-entity certificate as a path, PEM text or bytes')
  else checkSource('certificate', init.certificate, problem)
  const intermediates: readonly unknown[] =
    init.intermediates === undefined ? [] : Array.isArray(init.intermediates) ? init.intermediates : [init.intermediates]
  for (const s of intermediates) checkSource('intermediates', s, problem)
  if (init.privateKey !== undefined) checkSource('privateKey', init.privateKey, problem)
  if (init.signer !== undefined && !isSigner(init.signer)) {
    problem('signer', 'signer must be an object with algorithm AWS4-X509-RSA-SHA256 or AWS4-X509-ECDSA-SHA256 and a sign(data) function')
  }
  if (init.signer !== undefined && init.privateKey !== undefined) problem('privateKey', 'give privateKey or signer, not both')
  if (init.passphrase !== undefined && typeof init.passphrase !== 'string') problem('passphrase', 'passphrase must be a string')
  if (init.region !== undefined && (typeof init.region !== 'string' || !/^[a-z0-9-]+$/.test(init.region)))
    problem('region', `region must be a region name such as eu-west-1, got ${JSON.stringify(init.region)}`)
  if (init.endpoint !== undefined && typeof init.endpoint !== 'string') problem('endpoint', 'endpoint must be a URL string')
  if (init.roleSessionName !== undefined && typeof init.roleSessionName !== 'string') problem('roleSessionName', 'roleSessionName must be a string')
  if (init.logger !== undefined && typeof init.logger?.debug !== 'function') problem('logger', 'logger must have a debug function')
  if (init.env !== undefined && (typeof init.env !== 'object' || init.env === null)) problem('env', 'env must be an object of environment variables')
  const durationSeconds = integer('durationSeconds', init.durationSeconds, MIN_DURATION, MAX_DURATION, DEFAULTS.durationSeconds, 'seconds', problem)
  const timeoutMs = integer('timeout', init.timeout, 1, MAX_TIMEOUT_MS, DEFAULTS.timeoutMs, 'milliseconds', problem)
  const maxRetries = integer('maxRetries', init.maxRetries, 0, MAX_RETRIES, DEFAULTS.maxRetries, 'retries', problem)

  let endpoint: ResolvedEndpoint | undefined
  let proxy: URL | undefined
  if (!problems.some((p) => p.field === 'region' || p.field === 'endpoint' || p.field === 'trustAnchorArn')) {
    try {
      endpoint = resolveEndpoint({ region: init.region ?? arns.region, endpoint: init.endpoint, env })
      proxy = proxyFor(endpoint.url, env)
      if (proxy !== undefined && proxy.protocol !== 'http:')
        problem('env', `proxy ${proxy.protocol}//${proxy.host}: only http:// proxies are supported`, 'ENDPOINT_INVALID')
    } catch (e) {
      if (!(e instanceof IamraError)) throw e
      problem(e.code === 'ENDPOINT_INVALID' ? 'endpoint' : 'region', e.message, e.code)
    }
  }
  if (problems.length > 0 || endpoint === undefined) {
    const first = problems[0] as Problem
    throw new CredentialsProviderError(`fromRolesAnywhere: ${problems.map((p) => p.message).join('; ')}`, {
      code: first.code,
      fields: [...new Set(problems.map((p) => p.field))],
      logger,
    })
  }
  const caBundle = env.AWS_CA_BUNDLE
  return {
    request: {
      trustAnchorArn: init.trustAnchorArn,
      profileArn: init.profileArn,
      roleArn: init.roleArn,
      durationSeconds,
      ...(given(init.roleSessionName) ? { roleSessionName: init.roleSessionName } : {}),
    },
    endpoint,
    proxy,
    caBundlePath: given(caBundle) ? caBundle : undefined,
    timeoutMs,
    maxAttempts: maxRetries + 1,
    roleAccount: arns.roleAccount,
    identity: {
      certificate: init.certificate,
      intermediates: intermediates as IdentitySource[],
      privateKey: init.privateKey,
      passphrase: init.passphrase,
      signer: init.signer,
    },
  }
}

function checkSource(field: OptionField, value: unknown, problem: (field: OptionField, message: string) => void): void {
  if (!isSource(value)) problem(field, `${field} must be a path, PEM text, bytes (Uint8Array) or a function returning one of those`)
  // Token URIs need a PKCS#11 module and sessions the caller owns: the signer option is that hook.
  else if (typeof value === 'string' && isPkcs11Uri(value))
    problem(field, `${field}: pkcs11: URIs are read by the iamra command, not the library; pass a signer that uses your token`)
}

function integer(
  field: OptionField,
  value: unknown,
  min: number,
  max: number,
  fallback: number,
  unit: string,
  problem: (field: OptionField, message: string) => void,
): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    problem(field, `${field} must be a whole number of ${unit} from ${min} to ${max}, got ${JSON.stringify(value) ?? String(value)}`)
    return fallback
  }
  return value
}
