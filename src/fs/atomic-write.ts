/**
 * Atomic file replacement: a temp file in the same directory (O_EXCL, the final mode from the
 * start), fsync, rename, fsync of the directory. Readers see the old or the new file, never a mix.
 * Several files can be prepared first and renamed together, so a failure changes none of them.
 */
import { randomBytes } from 'node:crypto'
import { open, rename, stat, unlink } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'

export interface AtomicWriteOptions {
  /** Mode for a new file (default 0600). An existing file keeps its mode, and its owner where we may. */
  readonly mode?: number
  /** false: always use `mode` (and uid/gid) as given, whatever the existing file had. */
  readonly preserve?: boolean
  /** Owner and group for the written file (numeric); changing them needs privilege. */
  readonly uid?: number | undefined
  readonly gid?: number | undefined
}

export interface PreparedWrite {
  readonly path: string
  /** Renames the temp file over the target. */
  commit(): Promise<void>
  /** Removes the temp file. */
  abort(): Promise<void>
}

/** Writes, fsyncs and sets mode and owner on a temp file beside `path`; nothing visible changes yet. */
export async function prepareWrite(path: string, data: string | Buffer, opts: AtomicWriteOptions = {}): Promise<PreparedWrite> {
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
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`)
  const fh = await open(tmp, 'wx', mode)
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
export async function writeFilesAtomic(files: ReadonlyArray<{ path: string; data: string | Buffer; opts?: AtomicWriteOptions }>): Promise<void> {
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

export async function writeFileAtomic(path: string, data: string | Buffer, opts: AtomicWriteOptions = {}): Promise<void> {
  await writeFilesAtomic([{ path, data, opts }])
}

export async function syncDirectory(dir: string): Promise<void> {
  const dh = await open(dir, 'r')
  try {
    await dh.sync()
  } finally {
    await dh.close()
  }
}
