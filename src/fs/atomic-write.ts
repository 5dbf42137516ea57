/**
 * Atomic file replacement: a temp file in the same directory (O_EXCL, 0600 while it is written,
 * the final mode just before the rename), fsync, rename, fsync of the directory. Readers see the
 * old or the new file, never a mix. Several files can be prepared first and renamed together, so a
 * failure changes none of them. A writer that holds the target's lock uses a fixed temp name, so
 * the next writer removes what a killed one left (secrets must not outlive a crash on disk).
 */
import { open, readdir, rename, stat, unlink } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'

interface WriteOptions {
  /** Mode for a new file (default 0600). An existing file keeps its mode, and its owner where we may. */
  readonly mode?: number
  /** false: always use `mode` (and uid/gid) as given, whatever the existing file had. */
  readonly preserve?: boolean
  /** Owner and group for the written file (numeric); changing them needs privilege. */
  readonly uid?: number | undefined
  readonly gid?: number | undefined
}

/**
 * How the temp file is named. underLock: the caller holds the target's lock (src/fs/lock.ts), so no one else
 * writes it now: the temp file is `.<name>.iamra-new`, and any temp file a killed writer left for this target is
 * removed first. Otherwise `.<name>.<12 random hex>.tmp`, from the caller's random source.
 */
export type TempNaming = { readonly underLock: true } | { readonly underLock?: false; readonly randomBytes: (n: number) => Buffer }

export type AtomicWriteOptions = WriteOptions & TempNaming

export interface PreparedWrite {
  readonly path: string
  /** Renames the temp file over the target. */
  commit(): Promise<void>
  /** Removes the temp file. */
  abort(): Promise<void>
}

/** Writes, fsyncs and sets mode and owner on a temp file beside `path`; nothing visible changes yet. */
export async function prepareWrite(path: string, data: string | Buffer, opts: AtomicWriteOptions): Promise<PreparedWrite> {
  let mode = opts.mode ?? 0o600
  let owner: { uid: number; gid: number } | undefined
  if (opts.preserve !== false) {
    try {
      const st = await stat(path)
      mode = st.mode & 0o7777
      owner = { uid: st.uid, gid: st.gid }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e
    }
  }
  const tmp = opts.underLock === true ? lockedTempPath(path) : join(dirname(path), `.${basename(path)}.${opts.randomBytes(6).toString('hex')}.tmp`)
  if (opts.underLock === true) await removeLeftovers(path)
  // 0600 while the content is written: a temp file left by a crash never shows more than its owner may see.
  const fh = await open(tmp, 'wx', 0o600)
  try {
    await fh.writeFile(data)
    await fh.chmod(mode) // the umask may have narrowed the mode given to open()
    const uid = opts.uid ?? owner?.uid
    const gid = opts.gid ?? owner?.gid
    if (uid !== undefined && gid !== undefined && (uid !== process.getuid?.() || gid !== process.getgid?.())) {
      try {
        await fh.chown(uid, gid)
      } catch (e) {
        // Keeping another user's ownership needs root; an explicitly requested owner must not be lost.
        if ((e as NodeJS.ErrnoException).code !== 'EPERM' || opts.uid !== undefined || opts.gid !== undefined) throw e
      }
    }
    await fh.sync()
  } catch (e) {
    await fh.close()
    await unlink(tmp).catch(() => {})
    throw e
  }
  await fh.close()
  return {
    path,
    commit: async () => {
      try {
        await rename(tmp, path)
      } catch (e) {
        await unlink(tmp).catch(() => {})
        throw e
      }
    },
    abort: () => unlink(tmp).catch(() => {}),
  }
}

/** Replaces several files: all are prepared first, then renamed in the order given. */
export async function writeFilesAtomic(files: ReadonlyArray<{ path: string; data: string | Buffer; opts: AtomicWriteOptions }>): Promise<void> {
  const prepared: PreparedWrite[] = []
  try {
    for (const f of files) prepared.push(await prepareWrite(f.path, f.data, f.opts))
  } catch (e) {
    await Promise.all(prepared.map((p) => p.abort()))
    throw e
  }
  for (const p of prepared) await p.commit()
  for (const dir of new Set(prepared.map((p) => dirname(p.path)))) await syncDirectory(dir)
}

export async function writeFileAtomic(path: string, data: string | Buffer, opts: AtomicWriteOptions): Promise<void> {
  await writeFilesAtomic([{ path, data, opts }])
}

const lockedTempPath = (path: string): string => join(dirname(path), `.${basename(path)}.iamra-new`)

/**
 * Removes the temp files of `path` that writers killed mid-write left: the fixed-name one, and the random-named
 * ones (`.<name>.<12 hex>.tmp`) of versions before it. Only call it holding the target's lock.
 */
export async function removeLeftovers(path: string): Promise<void> {
  const base = basename(path)
  const random = /^\.(.*)\.[0-9a-f]{12}\.tmp$/
  const names = await readdir(dirname(path)).catch(() => [] as string[])
  for (const name of names) {
    if (name === `.${base}.iamra-new` || random.exec(name)?.[1] === base) {
      await unlink(join(dirname(path), name)).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'ENOENT') throw e
      })
    }
  }
}

export async function syncDirectory(dir: string): Promise<void> {
  const dh = await open(dir, 'r')
  try {
    await dh.sync()
  } finally {
    await dh.close()
  }
}
