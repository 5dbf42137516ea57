/** The values of bind's `--mode` and `--service-account`, checked with errors that name the flag. */
import { isMode, MODES, type Mode } from '../binding/modes.js'
import { fail } from '../errors.js'
import { serviceAccountOf, type ServiceAccountRef } from '../kubernetes/service-account.js'

export function parseMode(value: string): Mode {
  if (isMode(value)) return value
  return fail('USAGE', `--mode must be one of ${MODES.join(', ')}; got "${value}"`)
}

export function parseServiceAccount(value: string): ServiceAccountRef {
  const sa = serviceAccountOf(value)
  if (sa === undefined) {
    return fail('USAGE', `--service-account "${value}": expected NAMESPACE/NAME (lower-case letters, digits and "-"; NAME may also hold ".")`)
  }
  return sa
}
