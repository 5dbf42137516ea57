/**
 * The server acts on binding files, so it trusts only files and directories owned by itself or
 * root and writable by nobody else: anyone who could write there could mint tokens for any role.
 */
import { statSync } from 'node:fs'
import { fail } from '../errors.js'

export function checkTrusted(path: string, what: string): void {
  checkTrustedStats(statSync(path), path, what)
}

/** checkTrusted on stats already taken (the server's per-request lookup stats each file once). */
export function checkTrustedStats(st: { readonly uid: number; readonly mode: number }, path: string, what: string): void {
  const uid = process.getuid?.()
  if (uid !== undefined && st.uid !== uid && st.uid !== 0)
    fail('BINDING_INVALID', `${what} ${path} is owned by uid ${st.uid}, not by the server's user or root; not trusted`)
  if ((st.mode & 0o022) !== 0) fail('BINDING_INVALID', `${what} ${path} is writable by group or others (mode ${(st.mode & 0o777).toString(8)}); not trusted`)
}
