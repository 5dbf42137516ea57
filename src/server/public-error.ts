/**
 * What an HTTP door (ECS server, IMDS mode, node agent) tells its client about an error. Errors about
 * the request or the service's answer are told as they are, with their fields in the door's words.
 * Errors from the server's own files and settings (certificate, key, PIN or password file, binding
 * file, configuration directory) would show local paths and errno details, which any local caller
 * could read: the client gets the code and what to check; the server log keeps the whole message.
 */
import type { FieldNamer, IamraError, IamraErrorCode, IamraField } from '../errors.js'

/** Codes whose messages speak of the request or of the service's answer, never of local files. */
const TOLD: ReadonlySet<IamraErrorCode> = new Set<IamraErrorCode>([
  'ARN_INVALID',
  'REGION_MISMATCH',
  'UPSTREAM_DENIED',
  'UPSTREAM_INVALID_REQUEST',
  'UPSTREAM_NOT_FOUND',
  'UPSTREAM_THROTTLED',
  'UPSTREAM_UNAVAILABLE',
  'UPSTREAM_NETWORK',
  'UPSTREAM_TLS',
  'UPSTREAM_TIMEOUT',
  'UPSTREAM_BAD_RESPONSE',
  'CREDENTIALS_EXPIRED',
  'TOKEN_MISSING',
  'TOKEN_AMBIGUOUS',
  'TOKEN_REJECTED',
  'TOKEN_INVALID',
  'INVALID_TOKEN_TTL',
  'NOT_FOUND',
  'SERVER_STOPPING',
  'FORWARDED_REQUEST',
  'HOST_REFUSED',
  'METHOD_NOT_ALLOWED',
  'BAD_REQUEST',
  'SA_NOT_BOUND',
  'AGENT_HOST_REFUSED',
  'RATE_LIMITED',
])

/** The input a local error is about when its constructor named none. */
function implied(code: IamraErrorCode): IamraField | undefined {
  if (code.startsWith('CERT_')) return 'certificate'
  if (code === 'KEY_PASSWORD_REQUIRED' || code === 'KEY_PASSWORD_WRONG') return 'passphrase'
  if (code.startsWith('KEY_') || code.startsWith('TPM_KEY') || code.startsWith('HSM_KEY')) return 'privateKey'
  if (code.startsWith('HSM_PIN')) return 'pin'
  return undefined
}

export function publicMessage(e: IamraError, name: FieldNamer): string {
  if (TOLD.has(e.code)) return e.describe(name)
  const field = e.field ?? implied(e.code)
  return `the server cannot get credentials for this role (${e.code})${field === undefined ? '' : `: check ${name(field)}`}; the server log says why`
}

const BINDING: Readonly<Record<IamraField, string>> = {
  certificate: "the binding's certificate_files (iamra bind --certificate)",
  privateKey: "the binding's private_key_file (iamra bind --private-key)",
  intermediates: "the binding's intermediates_files (iamra bind --intermediates)",
  passphrase: "the binding's private key: a binding holds no key password, so bind an unencrypted key or a token key",
  tpmKeyPassword: "the binding's tpm_key_password_file (iamra bind --tpm-key-password-file)",
  pin: "pin-source= in the binding's pkcs11: URI (iamra bind --private-key)",
  reusePin: "the binding's reuse_pin (iamra bind --reuse-pin)",
  pkcs11Module: "the binding's pkcs11_lib (iamra bind --pkcs11-lib)",
  trustAnchorArn: "the binding's request.trustAnchorArn (iamra bind --trust-anchor-arn)",
  profileArn: "the binding's request.profileArn (iamra bind --profile-arn)",
  roleArn: "the binding's request.roleArn (iamra bind --role-arn)",
  region: "the binding's region (iamra bind --region)",
  endpoint: "the binding's endpoint (iamra bind --endpoint)",
  durationSeconds: "the binding's request.durationSeconds (iamra bind --session-duration)",
  timeout: "the server's CreateSession timeout (set by whoever runs the server)",
  roleSessionName: "the binding's request.roleSessionName (iamra bind --role-session-name)",
  configurationDirectory: "the server's configuration directory",
  cacheDirectory: "the server's cache directory",
  containerCredentials: "the consumer's container credentials settings",
  listen: "the server's listen addresses (iamra serve --listen)",
}

/** The multi-role server and the node agent: each input is a key of the binding file, set by `iamra bind`. */
export const bindingAdvice: FieldNamer = (field) => BINDING[field]

/** IMDS mode serves one role configured where the server runs: its client can only report what to check. */
export const serverSetting: FieldNamer = (field) => `the server's ${field} setting`
