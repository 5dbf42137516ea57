/**
 * The `update` loop: get credentials, rewrite one profile of the shared credentials file under a lock
 * with an atomic replace, then sleep until the refresh policy says the credentials are due (20
 * minutes before expiry, half the lifetime for short sessions). Failures are retried with
 * jittered exponential backoff instead of exiting; the loop ends when `signal` aborts.
 */
import type { Stats } from 'node:fs'
import { lstat, mkdir, readlink, realpath, stat } from 'node:fs/promises'
import { dirname, isAbsolute, join, resolve } from 'node:path'
import { IamraError } from '../errors.js'
import { writeFileAtomic } from '../fs/atomic-write.js'
import { readBoundedFile, UnreadableFileError } from '../fs/read-bounded.js'
import { unwritable } from '../fs/unwritable.js'
import { updateProfile, type FileCredentials } from './credentials-file.js'
import type { FileLocks, LockOptions } from '../fs/lock.js'
import { DEFAULT_REFRESH_WINDOW_MS, refreshDueAt } from '../cache/refresh-policy.js'

export interface UpdateCredentials extends FileCredentials {
  readonly expiresAt: Date
}

export interface RunUpdateInit {
  readonly provider: () => Promise<UpdateCredentials>
  readonly file: string
  readonly profile: string
  readonly once: boolean
  readonly now: () => Date
  /** Resolves after `ms`, or early when `signal` aborts. */
  readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>
  readonly random: () => number
  /** Human notes (stderr); never given a secret. */
  readonly log: (line: string) => void
  readonly signal: AbortSignal
  /** This process's file locks (src/fs/lock.ts), from the entry point. */
  readonly locks: FileLocks
  readonly lock?: LockOptions
}

const MIN_WAIT_MS = 5_000 // never a tight loop, even on credentials that are almost expired
const RETRY_BASE_MS = 5_000 // first retry after 2.5–5 s
const RETRY_CAP_MS = 5 * 60_000 // 5 min
const SLEEP_SLICE_MS = 60_000 // re-read the clock every minute, so a suspended machine wakes on time

/** `$AWS_SHARED_CREDENTIALS_FILE` (a leading `~/` is expanded, as botocore does), else `$HOME/.aws/credentials`. */
export function credentialsFilePath(env: Readonly<Record<string, string | undefined>>, cwd: string): string {
  const home = env.HOME
  const given = env.AWS_SHARED_CREDENTIALS_FILE
  if (given !== undefined && given !== '') {
    if (given === '~' || given.startsWith('~/')) {
      if (home === undefined || home === '') throw new IamraError('USAGE', 'AWS_SHARED_CREDENTIALS_FILE starts with ~ but HOME is not set')
      return join(home, given.slice(1))
    }
    return isAbsolute(given) ? given : resolve(cwd, given)
  }
  if (home === undefined || home === '') throw new IamraError('USAGE', 'set HOME or AWS_SHARED_CREDENTIALS_FILE to say which credentials file to update')
  return join(home, '.aws', 'credentials')
}

/** Runs until `signal` aborts (returns 0), or once; with `once` a failure is thrown. */
export async function runUpdate(init: RunUpdateInit): Promise<number> {
  const { log, signal } = init
  for (let failures = 0; !signal.aborted; ) {
    let expiresAt: Date
    try {
      const creds = await untilAborted(init.provider(), signal)
      if (creds === undefined) break
      await writeProfile(init.file, init.profile, creds, init.locks, init.lock)
      expiresAt = creds.expiresAt
    } catch (e) {
      if (init.once) throw e
      failures++
      const delay = retryDelay(failures, init.random)
      const code = e instanceof IamraError ? e.code : 'INTERNAL'
      log(`iamra update: attempt ${failures} failed: ${(e as Error).message} [${code}]; retrying in ${Math.round(delay / 1000)} s`)
      await waitUntil(init.now().getTime() + delay, init)
      continue
    }
    failures = 0
    const nowMs = init.now().getTime()
    // The refresh policy's due time (20 min before expiry, half the lifetime for short sessions; upstream: 5 min).
    const next = Math.max(nowMs + MIN_WAIT_MS, refreshDueAt(DEFAULT_REFRESH_WINDOW_MS, { fetchedAt: nowMs, expiresAt: expiresAt.getTime() }))
    log(`iamra update: wrote profile [${init.profile}] to ${init.file}, expiring ${expiresAt.toISOString()}`)
    const mode = await stat(init.file).then(
      (st) => st.mode & 0o777,
      () => 0o600,
    )
    if ((mode & 0o077) !== 0)
      log(`iamra update: warning: ${init.file} is readable by others (mode ${mode.toString(8)}) and now holds session credentials: chmod 600 ${init.file}`)
    if (init.once) return 0
    log(`iamra update: credentials will be refreshed at ${new Date(next).toISOString()}`)
    await waitUntil(next, init)
  }
  log('iamra update: stopped')
  return 0
}

/** Equal jitter: uniform in [d/2, d] with d = min(cap, base · 2^(n−1)), so a retry never comes at once. */
export function retryDelay(failures: number, random: () => number): number {
  const d = Math.min(RETRY_CAP_MS, RETRY_BASE_MS * 2 ** (failures - 1))
  return Math.round(d / 2 + (random() * d) / 2)
}

/** Far beyond any real credentials file; a bigger one is not edited (nor read into memory). */
const CREDENTIALS_FILE_LIMIT = 16 * 1024 * 1024

/**
 * Read, edit and atomically replace the file under the lock; a new file is 0600 in a 0700 directory. Only a regular
 * file (or a symlink to one, which stays a link) is edited: a device such as /dev/null, a FIFO or a directory is
 * refused before anything is created beside it.
 */
export async function writeProfile(file: string, profile: string, creds: FileCredentials, locks: FileLocks, lock: LockOptions = {}): Promise<void> {
  // Edit the target of a symlinked credentials file rather than replacing the link with a file.
  const target = await realpath(file).catch(() => resolveLinks(file))
  await refuseIrregular(file, target)
  await mkdir(dirname(target), { recursive: true, mode: 0o700 }).catch((e: unknown) => {
    throw unwritable(dirname(target), 'create the directory', e)
  })
  await locks.withLock(
    target,
    async () => {
      let text = ''
      try {
        // latin1 maps bytes 1:1 to code units, so bytes outside the edited lines survive whatever the encoding.
        text = (await readBoundedFile(target, { maxBytes: CREDENTIALS_FILE_LIMIT })).toString('latin1')
      } catch (e) {
        if (!(e instanceof UnreadableFileError)) throw e
        if (e.problem !== 'missing') throw new IamraError('FILE_UNWRITABLE', `cannot update ${describe(file, target)}: ${e.message}`, { cause: e })
      }
      const latin1Profile = Buffer.from(profile, 'utf8').toString('latin1')
      await writeFileAtomic(target, Buffer.from(updateProfile(text, latin1Profile, creds), 'latin1'), { mode: 0o600, underLock: true }).catch((e: unknown) => {
        throw unwritable(target, 'replace', e)
      })
    },
    lock,
  )
}

/** Fails at once, before any CreateSession, when `file` exists and is not a regular file (or a link to one). */
export async function checkCredentialsFile(file: string): Promise<void> {
  await refuseIrregular(file, await realpath(file).catch(() => resolveLinks(file)))
}

const describe = (file: string, target: string): string => (file === target ? file : `${file} (a link to ${target})`)

/** Refuses an existing target that is not a regular file; a missing one is created. */
async function refuseIrregular(file: string, target: string): Promise<void> {
  let st: Stats
  try {
    st = await stat(target)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return
    throw unwritable(target, 'update', e)
  }
  if (st.isFile()) return
  const kind = st.isDirectory()
    ? 'a directory'
    : st.isCharacterDevice()
      ? 'a character device'
      : st.isBlockDevice()
        ? 'a block device'
        : st.isFIFO()
          ? 'a named pipe'
          : st.isSocket()
            ? 'a socket'
            : 'not a regular file'
  throw new IamraError(
    'FILE_UNWRITABLE',
    `refusing to update ${describe(file, target)}: it is ${kind}, not a regular file; point AWS_SHARED_CREDENTIALS_FILE at a regular file`,
  )
}

/** The path with symlinks followed, also a dangling one (its target is created); at most 40 links, like the kernel. */
async function resolveLinks(file: string): Promise<string> {
  let path = file
  for (let i = 0; i < 40; i++) {
    let st: Stats
    try {
      st = await lstat(path)
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return path
      throw unwritable(path, 'update', e)
    }
    if (!st.isSymbolicLink()) return path
    path = resolve(dirname(path), await readlink(path))
  }
  throw new IamraError('FILE_UNWRITABLE', `cannot update ${file}: too many levels of symbolic links`)
}

async function waitUntil(at: number, init: RunUpdateInit): Promise<void> {
  for (let left = at - init.now().getTime(); left > 0 && !init.signal.aborted; left = at - init.now().getTime()) {
    await init.sleep(Math.min(left, SLEEP_SLICE_MS), init.signal)
  }
}

/** The promise's value, or undefined as soon as `signal` aborts (the promise is left to settle). */
async function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T | undefined> {
  if (signal.aborted) return undefined
  p.catch(() => {}) // a provider abandoned on abort may still fail later: not an unhandled rejection
  let onAbort = (): void => {}
  const aborted = new Promise<undefined>((r) => {
    onAbort = () => r(undefined)
    signal.addEventListener('abort', onAbort, { once: true })
  })
  try {
    return await Promise.race([p, aborted])
  } finally {
    signal.removeEventListener('abort', onAbort)
  }
}
