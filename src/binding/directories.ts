/**
 * The configuration directory's subdirectories, as bind and unbind find or make them: real
 * directories (never followed through a symbolic link), owned by the user binding, with their
 * modes; and the files bind replaces there: regular files or nothing.
 */
import { constants, type Stats } from 'node:fs'
import { lstat, mkdir, open } from 'node:fs/promises'
import { join } from 'node:path'
import { IamraError } from '../errors.js'

/** bindings/ and env/ private to the owner; tokens/ traversable for consumers' groups. */
const SUBDIRECTORIES = [
  ['bindings', 0o700],
  ['env', 0o700],
  ['tokens', 0o711],
] as const

const DIRECTORY_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW

/** Creates or checks DIR and its subdirectories, and sets the subdirectories' modes. */
export async function ensureDirectories(dir: string): Promise<void> {
  // A directory we create must stay traversable for token-file readers (tokens/ is 0711). DIR itself
  // is the administrator's choice and may be a symbolic link; what bind makes inside it may not.
  await mkdir(dir, { recursive: true, mode: 0o711 }).catch((e: unknown) => {
    throw unusable(dir, dir, e, 'cannot create')
  })
  for (const [sub, mode] of SUBDIRECTORIES) {
    const path = join(dir, sub)
    await mkdir(path, { mode }).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'EEXIST') throw unusable(dir, path, e, 'cannot create')
    })
    const st = await lstat(path).catch((e: unknown) => {
      throw unusable(dir, path, e, 'cannot examine')
    })
    if (st.isSymbolicLink()) throw symlink(path)
    // Opened without following a link, and its mode set through the open directory: whatever is
    // renamed into its place meanwhile, the chmod can only reach this directory.
    const fh = await open(path, DIRECTORY_FLAGS).catch((e: unknown) => {
      throw unusable(dir, path, e, 'cannot open')
    })
    try {
      checkOwner(dir, path, await fh.stat())
      // mkdir's mode is narrowed by the umask and not applied to an existing directory.
      await fh.chmod(mode)
    } finally {
      await fh.close()
    }
  }
}

/** Checks the subdirectories that exist, for unbind: it removes files in them and must not reach elsewhere. */
export async function checkDirectories(dir: string): Promise<{ readonly [sub: string]: boolean }> {
  const present: Record<string, boolean> = {}
  for (const [sub] of SUBDIRECTORIES) {
    const path = join(dir, sub)
    const st = await lstat(path).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT' || e.code === 'ENOTDIR') return undefined
      throw unusable(dir, path, e, 'cannot examine')
    })
    present[sub] = st !== undefined
    if (st === undefined) continue
    if (st.isSymbolicLink()) throw symlink(path)
    if (!st.isDirectory()) throw new IamraError('CONFIG_DIRECTORY_UNUSABLE', `${path} is not a directory; bind makes it a directory: remove what is there`)
    checkOwner(dir, path, st)
  }
  return present
}

/**
 * What is at a path bind is about to replace: a regular file (its stats), or nothing. A symbolic
 * link there was not made by bind; replacing it would be harmless, but it means someone else writes
 * in this directory, so bind stops and says so.
 */
export async function regularOrAbsent(path: string): Promise<Stats | undefined> {
  const st = await lstat(path).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return undefined
    throw unusable(path, path, e, 'cannot examine')
  })
  if (st === undefined || st.isFile()) return st
  if (st.isSymbolicLink()) throw symlink(path)
  throw new IamraError('CONFIG_DIRECTORY_UNUSABLE', `${path} is not a regular file; bind keeps a regular file there: remove what is there and bind again`)
}

function checkOwner(dir: string, path: string, st: Stats): void {
  const uid = process.getuid?.()
  // Root may write anywhere (and the server then cannot read what it wrote: see docs/server.md).
  if (uid !== undefined && uid !== 0 && st.uid !== uid) {
    throw new IamraError(
      'CONFIG_DIRECTORY_UNUSABLE',
      `${path} belongs to uid ${st.uid}: bind as the user that owns ${dir} (the server trusts only its own or root's files)`,
    )
  }
}

function symlink(path: string): IamraError {
  return new IamraError(
    'CONFIG_DIRECTORY_UNUSABLE',
    `${path} is a symbolic link, which bind never makes: someone else has written here; remove it and check the directory before binding again`,
  )
}

function unusable(dir: string, path: string, e: unknown, what: string): IamraError {
  const code = (e as NodeJS.ErrnoException).code
  const why =
    code === 'EACCES' || code === 'EPERM'
      ? `permission denied: run bind as the user that owns ${dir} (the server's user), or choose another --configuration-directory`
      : code === 'ELOOP'
        ? 'it is a symbolic link, which bind never makes: someone else has written here; remove it and check the directory before binding again'
        : code === 'ENOTDIR' || code === 'EEXIST'
          ? 'it, or a directory above it, is not a directory'
          : code === 'EROFS'
            ? 'read-only file system'
            : `error ${code ?? String(e)}`
  return new IamraError('CONFIG_DIRECTORY_UNUSABLE', `${what} ${path}: ${why}`, { cause: e })
}
