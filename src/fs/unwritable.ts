/** The coded error for a path iamra must create or replace but cannot: permission, read-only file system, no space. */
import { IamraError } from '../errors.js'

const REASONS: Record<string, string> = {
  EACCES: 'permission denied (check the mode of the file and its directory, and the user iamra runs as)',
  EPERM: 'operation not permitted (check the mode and owner of the file and its directory)',
  EROFS: 'the file system is read-only',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  ENOTDIR: 'a part of the path is not a directory',
  EEXIST: 'a part of the path exists and is not a directory',
  EISDIR: 'it is a directory',
  ENOENT: 'a part of the path does not exist',
  ELOOP: 'too many levels of symbolic links',
  ENAMETOOLONG: 'the name is too long',
}

/** `FILE_UNWRITABLE` for an errno error met while `doing` (e.g. "create the lock file") at `path`; other errors pass through. */
export function unwritable(path: string, doing: string, e: unknown): Error {
  if (e instanceof IamraError) return e
  const code = (e as NodeJS.ErrnoException | undefined)?.code
  if (typeof code !== 'string') return e instanceof Error ? e : new Error(String(e))
  return new IamraError('FILE_UNWRITABLE', `cannot ${doing} ${path}: ${REASONS[code] ?? code}`, { cause: e })
}
