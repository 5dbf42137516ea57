/**
 * Atomic file replacement: a temp file in the same directory (O_EXCL, the final mode from the
 * start), fsync, rename, fsync of the directory. Readers see the old or the new file, never a mix.
 */
import { randomBytes } from 'node:crypto'
import { open, rename, stat, unlink } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'

export interface AtomicWriteOptions {
  /** Mode for a new file (default 0600). An existing file keeps its mode and owner. */
  readonly mode?: number
  /** Override owner/group (numeric) of the written file; needs privilege unless unchanged. */
  readonly uid?: number | undefined
  readonly gid?: number | undefined
}

export async function writeFileAtomic(path: string, data: string | Buffer, opts: AtomicWriteOptions = {}): Promise<void> {
  let mode = opts.mode ?? 0o600
  let owner: { uid: number; gid: number } | undefined
  try {
    const st = await stat(path)
    mode = st.mode & 0o7777
    owner = { uid: st.uid, gid: st.gid }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e
  }
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`)
  const fh = await open(tmp, 'wx', mode)
  try {
    await fh.writeFile(data)
    await fh.chmod(mode) // the umask may have narrowed the mode given to open()
    const uid = opts.uid ?? owner?.uid
    const gid = opts.gid ?? owner?.gid
    if (uid !== undefined && gid !== undefined && (uid !== process.getuid?.() || gid !== process.getgid?.())) await fh.chown(uid, gid)
    await fh.sync()
  } catch (e) {
    await fh.close()
    await unlink(tmp).catch(() => {})
    throw e
  }
  await fh.close()
  try {
    await rename(tmp, path)
  } catch (e) {
    await unlink(tmp).catch(() => {})
    throw e
  }
  await syncDirectory(dirname(path))
}

export async function syncDirectory(dir: string): Promise<void> {
  const dh = await open(dir, 'r')
  try {
    await dh.sync()
  } finally {
    await dh.close()
  }
}

