/** Binding names: letters, digits, `@`, `_`, `-`; 1 to 128 characters; nothing that can leave the directory. */
import { fail } from '../errors.js'

const NAME = /^[A-Za-z0-9@_-]{1,128}$/

export function isValidName(name: string): boolean {
  return NAME.test(name)
}

export function checkName(name: string): string {
  if (!isValidName(name)) {
    fail('USAGE', `invalid binding name "${name}": use 1 to 128 letters, digits, "@", "_" or "-"`)
  }
  return name
}
