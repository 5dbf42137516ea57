/**
 * The one catalogue of iamra's error codes. Every code has a documented exit code (for the CLI)
 * and an HTTP status (for the server); codes are stable: a retired code is never reused.
 */

export type ExitCode = 0 | 1 | 2 | 3 | 4 | 5

/** Process exit codes, documented in docs/credential-process.md. */
export const EXIT = {
  OK: 0,
  /** An unexpected failure, or an upstream answer that fits no other class. */
  OTHER: 1,
  /** The command line is wrong: unknown flag, missing value, out-of-range number. */
  USAGE: 2,
  /** The local identity is unusable: certificate, key or chain file problem; nothing was sent. */
  IDENTITY: 3,
  /** The service refused the request (4xx other than throttling): retrying will not help. */
  DENIED: 4,
  /** Throttled, service error or network failure: retrying later may help. */
  UNAVAILABLE: 5,
} as const satisfies Record<string, ExitCode>

interface CodeInfo {
  readonly exit: ExitCode
  readonly status: number
}

const CATALOGUE = {
  USAGE: { exit: EXIT.USAGE, status: 400 },
  UNSUPPORTED_ON_PLATFORM: { exit: EXIT.USAGE, status: 400 },
  ARN_INVALID: { exit: EXIT.USAGE, status: 400 },
  REGION_MISMATCH: { exit: EXIT.USAGE, status: 400 },
  ENDPOINT_INVALID: { exit: EXIT.USAGE, status: 400 },
  CONFIG_DIRECTORY_MISSING: { exit: EXIT.USAGE, status: 500 },
  CONFIG_DIRECTORY_UNUSABLE: { exit: EXIT.USAGE, status: 500 },
  CERT_UNREADABLE: { exit: EXIT.IDENTITY, status: 500 },
  CERT_MALFORMED: { exit: EXIT.IDENTITY, status: 500 },
  CERT_EXPIRED: { exit: EXIT.IDENTITY, status: 500 },
  CERT_NOT_YET_VALID: { exit: EXIT.IDENTITY, status: 500 },
  KEY_UNREADABLE: { exit: EXIT.IDENTITY, status: 500 },
  KEY_MALFORMED: { exit: EXIT.IDENTITY, status: 500 },
  KEY_UNSUPPORTED: { exit: EXIT.IDENTITY, status: 500 },
  KEY_PASSWORD_REQUIRED: { exit: EXIT.IDENTITY, status: 500 },
  KEY_PASSWORD_WRONG: { exit: EXIT.IDENTITY, status: 500 },
  KEY_CERT_MISMATCH: { exit: EXIT.IDENTITY, status: 500 },
  SIGNER_FAILED: { exit: EXIT.IDENTITY, status: 500 },
  HSM_URI_INVALID: { exit: EXIT.USAGE, status: 400 },
  HSM_MODULE_NOT_FOUND: { exit: EXIT.IDENTITY, status: 500 },
  HSM_TOKEN_NOT_FOUND: { exit: EXIT.IDENTITY, status: 500 },
  HSM_TOKEN_AMBIGUOUS: { exit: EXIT.IDENTITY, status: 500 },
  HSM_CERT_NOT_FOUND: { exit: EXIT.IDENTITY, status: 500 },
  HSM_KEY_NOT_FOUND: { exit: EXIT.IDENTITY, status: 500 },
  HSM_AMBIGUOUS: { exit: EXIT.IDENTITY, status: 500 },
  HSM_PIN_REQUIRED: { exit: EXIT.IDENTITY, status: 500 },
  HSM_PIN_WRONG: { exit: EXIT.IDENTITY, status: 500 },
  HSM_PIN_LOCKED: { exit: EXIT.IDENTITY, status: 500 },
  HSM_DEVICE_ERROR: { exit: EXIT.UNAVAILABLE, status: 503 },
  HSM_FAILED: { exit: EXIT.IDENTITY, status: 500 },
  TPM_UNAVAILABLE: { exit: EXIT.IDENTITY, status: 500 },
  TPM_KEY_NOT_FOUND: { exit: EXIT.IDENTITY, status: 500 },
  TPM_LOCKOUT: { exit: EXIT.IDENTITY, status: 500 },
  TPM_FAILED: { exit: EXIT.IDENTITY, status: 500 },
  UPSTREAM_DENIED: { exit: EXIT.DENIED, status: 403 },
  UPSTREAM_INVALID_REQUEST: { exit: EXIT.DENIED, status: 400 },
  UPSTREAM_NOT_FOUND: { exit: EXIT.DENIED, status: 404 },
  UPSTREAM_THROTTLED: { exit: EXIT.UNAVAILABLE, status: 503 },
  UPSTREAM_UNAVAILABLE: { exit: EXIT.UNAVAILABLE, status: 503 },
  UPSTREAM_NETWORK: { exit: EXIT.UNAVAILABLE, status: 503 },
  UPSTREAM_TLS: { exit: EXIT.UNAVAILABLE, status: 502 },
  UPSTREAM_TIMEOUT: { exit: EXIT.UNAVAILABLE, status: 504 },
  UPSTREAM_BAD_RESPONSE: { exit: EXIT.OTHER, status: 502 },
  CREDENTIALS_EXPIRED: { exit: EXIT.OTHER, status: 502 },
  BINDING_INVALID: { exit: EXIT.OTHER, status: 500 },
  TOKEN_MISSING: { exit: EXIT.DENIED, status: 401 },
  TOKEN_AMBIGUOUS: { exit: EXIT.DENIED, status: 400 },
  TOKEN_REJECTED: { exit: EXIT.DENIED, status: 403 },
  NOT_FOUND: { exit: EXIT.OTHER, status: 404 },
  SERVER_UNREACHABLE: { exit: EXIT.UNAVAILABLE, status: 503 },
  SERVER_STOPPING: { exit: EXIT.UNAVAILABLE, status: 503 },
  TOKEN_INVALID: { exit: EXIT.DENIED, status: 401 },
  INVALID_TOKEN_TTL: { exit: EXIT.USAGE, status: 400 },
  FORWARDED_REQUEST: { exit: EXIT.DENIED, status: 400 },
  HOST_REFUSED: { exit: EXIT.DENIED, status: 400 },
  METHOD_NOT_ALLOWED: { exit: EXIT.USAGE, status: 405 },
  BAD_REQUEST: { exit: EXIT.USAGE, status: 400 },
  LOCK_TIMEOUT: { exit: EXIT.UNAVAILABLE, status: 503 },
  FILE_UNWRITABLE: { exit: EXIT.OTHER, status: 500 },
  // Kubernetes node agent (src/kubernetes/)
  SA_TOKEN_REJECTED: { exit: EXIT.DENIED, status: 403 },
  SA_NOT_BOUND: { exit: EXIT.DENIED, status: 403 },
  AGENT_HOST_REFUSED: { exit: EXIT.DENIED, status: 403 },
  RATE_LIMITED: { exit: EXIT.UNAVAILABLE, status: 429 },
  JWKS_UNAVAILABLE: { exit: EXIT.UNAVAILABLE, status: 503 },
  INTERNAL: { exit: EXIT.OTHER, status: 500 },
} as const satisfies Record<string, CodeInfo>

export type IamraErrorCode = keyof typeof CATALOGUE

export const ERROR_CODES = Object.keys(CATALOGUE) as IamraErrorCode[]

/** An error a person can act on: a stable code, a message naming the file or value at fault. */
export class IamraError extends Error {
  override readonly name = 'IamraError'
  readonly code: IamraErrorCode
  /** The upstream service's own error code, when the error came from the service. */
  readonly upstreamCode: string | undefined

  constructor(code: IamraErrorCode, message: string, opts: { cause?: unknown; upstreamCode?: string } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause })
    this.code = code
    this.upstreamCode = opts.upstreamCode
  }

  get exitCode(): ExitCode {
    return CATALOGUE[this.code].exit
  }

  get httpStatus(): number {
    return CATALOGUE[this.code].status
  }
}

export function exitCodeOf(code: IamraErrorCode): ExitCode {
  return CATALOGUE[code].exit
}

export function httpStatusOf(code: IamraErrorCode): number {
  return CATALOGUE[code].status
}

/** Throws a coded error; for `catch` blocks and exhaustive checks. */
export function fail(code: IamraErrorCode, message: string, cause?: unknown): never {
  throw new IamraError(code, message, cause === undefined ? {} : { cause })
}
