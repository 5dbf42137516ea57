/**
 * What `bind` takes for a binding's identity, for every mode: files as absolute paths the server can
 * read (regular files only), pkcs11: URIs and TPM handles as written, never an env: source, and a TPM
 * key's password only as a file.
 */
import { IamraError } from '../errors.js'
import { readIdentityFile } from '../identity/files.js'
import { UnreadableFileError } from '../fs/read-bounded.js'
import { isPkcs11Uri } from '../pkcs11/uri.js'
import { resolve } from 'node:path'

/**
 * Files become absolute paths (the server's working directory is not ours); pkcs11: URIs and TPM
 * handles stay as written. `env:NAME` sources are for one-shot commands: the server cannot see bind's environment.
 */
export function identityPath(value: string, flag: string): string {
  if (value.startsWith('env:')) {
    throw new IamraError(
      'USAGE',
      `${flag} env:…: bind cannot take a certificate or key from its environment, since the server reads them itself on every refresh and cannot see bind's environment; give a file the server can read, or a pkcs11: URI`,
    )
  }
  return isPkcs11Uri(value) || /^handle:/i.test(value) ? value : resolve(value)
}

/** A TPM key's password source for the server: a file, or none; never the password itself. */
export function tpmOptions(a: { readonly 'tpm-key-password-file'?: string; readonly 'tpm-key-password'?: string; readonly 'no-tpm-key-password'?: boolean }): {
  tpmKeyPasswordFile?: string
  noTpmKeyPassword?: true
} {
  const file = a['tpm-key-password-file']
  if (a['tpm-key-password'] !== undefined) {
    throw new IamraError('USAGE', 'a binding must not hold a TPM key password: use --tpm-key-password-file /path/to/file (or --no-tpm-key-password)')
  }
  const none = a['no-tpm-key-password'] === true
  if (file !== undefined && none) throw new IamraError('USAGE', '--tpm-key-password-file cannot be combined with --no-tpm-key-password')
  if (file !== undefined && !String(file).startsWith('/'))
    throw new IamraError('USAGE', '--tpm-key-password-file must be an absolute path (the server reads it)')
  return { ...(file === undefined ? {} : { tpmKeyPasswordFile: String(file) }), ...(none ? { noTpmKeyPassword: true as const } : {}) }
}

/**
 * A certificate or key file must be a regular file of sane size: the server reads it on every
 * refresh, and a FIFO or a device there would stall or flood it. Without validation a file that is
 * missing or unreadable now is accepted (it may be installed later); anything else is refused.
 */
export async function checkIdentityFile(path: string, code: 'CERT_UNREADABLE' | 'KEY_UNREADABLE', what: string, validate: boolean): Promise<void> {
  if (isPkcs11Uri(path) || /^handle:/i.test(path)) return
  try {
    await readIdentityFile(path, code, what)
  } catch (e) {
    const problem = e instanceof IamraError && e.cause instanceof UnreadableFileError ? e.cause.problem : undefined
    if (!validate && (problem === 'missing' || problem === 'denied')) return
    throw e
  }
}
