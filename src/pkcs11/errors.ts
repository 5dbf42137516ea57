/**
 * Turns pkcs11js failures (Pkcs11Error: `.message` is the CKR_ name, `.method` the function) into
 * coded IamraErrors, and says which failures a fresh session (and login) can cure.
 */
import { IamraError, type IamraErrorCode } from '../errors.js'

/** The CKR_ name of a pkcs11js error, or undefined for anything else. */
export function ckrName(e: unknown): string | undefined {
  const m = /\b(CKR_[A-Z0-9_]+)/.exec(e instanceof Error ? e.message : '')
  return m?.[1]
}

/** Failures after which iamra closes the session, finds the token again, logs in again and retries once. */
const SESSION_LOST = new Set([
  'CKR_SESSION_HANDLE_INVALID',
  'CKR_SESSION_CLOSED',
  'CKR_USER_NOT_LOGGED_IN',
  'CKR_DEVICE_REMOVED',
  'CKR_TOKEN_NOT_PRESENT',
  'CKR_TOKEN_NOT_RECOGNIZED',
  'CKR_DEVICE_ERROR',
  'CKR_OBJECT_HANDLE_INVALID',
  'CKR_KEY_HANDLE_INVALID',
  'CKR_CRYPTOKI_NOT_INITIALIZED',
  'CKR_SLOT_ID_INVALID',
  'CKR_OPERATION_ACTIVE',
])

export function isSessionLost(e: unknown): boolean {
  const name = ckrName(e)
  return name !== undefined && SESSION_LOST.has(name)
}

const DEVICE = new Set([
  'CKR_DEVICE_REMOVED',
  'CKR_TOKEN_NOT_PRESENT',
  'CKR_TOKEN_NOT_RECOGNIZED',
  'CKR_DEVICE_ERROR',
  'CKR_DEVICE_MEMORY',
  'CKR_SLOT_ID_INVALID',
])

/** A coded error for a PKCS#11 failure while doing `what` (e.g. `logging in to token "x"`). */
export function pkcs11Error(e: unknown, what: string): IamraError {
  if (e instanceof IamraError) return e
  const name = ckrName(e)
  const method = (e as { method?: string }).method
  const where = method ? ` in ${method}` : ''
  let code: IamraErrorCode = 'HSM_FAILED'
  let hint = ''
  if (name === 'CKR_PIN_INCORRECT')
    [code, hint] = ['HSM_PIN_WRONG', '; the PIN was not retried, check it before trying again (tokens lock after a few wrong PINs)']
  else if (name === 'CKR_PIN_LOCKED') [code, hint] = ['HSM_PIN_LOCKED', '; unlock it with the security officer PIN or PUK']
  else if (name === 'CKR_PIN_INVALID' || name === 'CKR_PIN_LEN_RANGE')
    [code, hint] = ['HSM_PIN_WRONG', '; the PIN has characters or a length the token does not accept']
  else if (name === 'CKR_PIN_EXPIRED') [code, hint] = ['HSM_PIN_LOCKED', '; the PIN has expired, set a new one']
  else if (name !== undefined && DEVICE.has(name)) [code, hint] = ['HSM_DEVICE_ERROR', '; check that the token is inserted and working']
  else if (name === 'CKR_KEY_TYPE_INCONSISTENT' || name === 'CKR_MECHANISM_INVALID')
    [code, hint] = ['KEY_UNSUPPORTED', '; the token cannot sign with this key for IAM Roles Anywhere']
  const detail = name ?? (e instanceof Error ? e.message : String(e))
  return new IamraError(code, `PKCS#11: ${what} failed: ${detail}${where}${hint}`, { cause: e })
}
