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
  /** The local identity is unusable: certificate, key, chain, PIN or token file problem; nothing was sent. */
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
  FILE_UNREADABLE: { exit: EXIT.IDENTITY, status: 500 },
  LISTEN_FAILED: { exit: EXIT.OTHER, status: 500 },
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

/**
 * The core's names for its inputs. Errors about an input carry its field; each door names it its own
 * way (the CLI a flag, the server the binding, the library its option), so the core never speaks CLI.
 */
export type IamraField =
  | 'certificate'
  | 'privateKey'
  | 'intermediates'
  | 'passphrase'
  | 'tpmKeyPassword'
  | 'pin'
  | 'reusePin'
  | 'pkcs11Module'
  | 'trustAnchorArn'
  | 'profileArn'
  | 'roleArn'
  | 'region'
  | 'endpoint'
  | 'durationSeconds'
  | 'timeout'
  | 'roleSessionName'
  | 'configurationDirectory'
  | 'cacheDirectory'
  | 'containerCredentials'
  | 'listen'

/** How a door names a field: `--private-key`, `privateKey`, "the binding's private key". */
export type FieldNamer = (field: IamraField) => string

/** A message that names fields; written once, worded per door. */
export type Phrase = (name: FieldNamer) => string

export interface IamraErrorOptions {
  readonly cause?: unknown
  /** The upstream service's own error code, when the error came from the service. */
  readonly upstreamCode?: string | undefined
  /** The input (or inputs, the main one first) at fault. */
  readonly field?: IamraField | readonly IamraField[] | undefined
}

/** The core's own names: what `message` says, and what logs show. */
const coreName: FieldNamer = (field) => field

/** An error a person can act on: a stable code, a message naming the file or value at fault. */
export class IamraError extends Error {
  override readonly name = 'IamraError'
  readonly code: IamraErrorCode
  /** The upstream service's own error code, when the error came from the service. */
  readonly upstreamCode: string | undefined
  /** The inputs at fault, the main one first; empty when the error is not about an input. */
  readonly fields: readonly IamraField[]
  readonly #phrase: Phrase | undefined

  constructor(code: IamraErrorCode, message: string | Phrase, opts: IamraErrorOptions = {}) {
    super(typeof message === 'string' ? message : message(coreName), opts.cause === undefined ? undefined : { cause: opts.cause })
    this.code = code
    this.upstreamCode = opts.upstreamCode
    this.fields = opts.field === undefined ? [] : typeof opts.field === 'string' ? [opts.field] : [...opts.field]
    this.#phrase = typeof message === 'string' ? undefined : message
  }

  /** The main input at fault, if the error is about one. */
  get field(): IamraField | undefined {
    return this.fields[0]
  }

  /** The message with its fields named by `name` (a door's own words); `message` uses the core names. */
  describe(name: FieldNamer): string {
    return this.#phrase === undefined ? this.message : this.#phrase(name)
  }

  /** The same error (code, fields, upstream code) with its text edited, e.g. context added; `cause` defaults to this. */
  rephrase(edit: (text: string) => string, cause: unknown = this): IamraError {
    const phrase = this.#phrase
    const message: string | Phrase = phrase === undefined ? edit(this.message) : (name) => edit(phrase(name))
    return new IamraError(this.code, message, { cause, upstreamCode: this.upstreamCode, field: this.fields })
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
export function fail(code: IamraErrorCode, message: string | Phrase, opts: IamraErrorOptions = {}): never {
  throw new IamraError(code, message, opts)
}
