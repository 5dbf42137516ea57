/**
 * An advisory lock beside a file: `<path>.lock`, holding `<pid>@<host> <nonce> <start>` from the moment it exists
 * (written to `<path>.lock.<pid>.new` first, then hard-linked into place, which fails if a lock is there). A lock
 * whose process is gone (no such pid, a zombie, or a pid reused by a process started at another time), or older
 * than `staleMs`, is removed under a guard
 * (`<path>.lock.break`, see takeOverIfStale) and then competed for like any other. What killed processes leave
 * beside it (pending files, guards) is removed by the next process to take the lock. Waiting is bounded, with
 * jittered backoff, and the lock is always released. Callers sharing one FileLocks (one per process, made where
 * the entry point's clock and randomness are) queue in memory first, so the file lock only ever arbitrates between
 * processes.
 */
import { constants, readFileSync } from 'node:fs'
import { link, open, readdir, unlink, utimes } from 'node:fs/promises'
import { hostname } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { IamraError } from '../errors.js'
import type { Randomness } from '../runtime.js'
import { unwritable } from './unwritable.js'

/** What the locks of one process run on: its clock and randomness, from the entry point. */
export interface LockDeps extends Randomness {
  /** Wall clock: also compared with lock files' mtimes, and written into them by the heartbeat. */
  readonly now: () => Date
  /** Default: setTimeout. */
  readonly sleep?: ((ms: number) => Promise<void>) | undefined
  /** Default: this process's pid. */
  readonly pid?: number | undefined
  /** Default: /proc (or kill(2) without it). */
  readonly isAlive?: ((pid: number) => boolean) | undefined
}

export interface LockOptions {
  /** Give up after this long (default 10 s). */
  readonly timeoutMs?: number
  /** A lock not touched for this long is stale whatever its pid says (default 30 s; holders touch it every third). */
  readonly staleMs?: number
}

const STALE_MS = 30_000
const TIMEOUT_MS = 10_000

/** LockDeps with every default applied, and one lock's options: what each step below reads. */
interface Held {
  readonly now: () => Date
  readonly sleep: (ms: number) => Promise<void>
  readonly random: () => number
  readonly randomBytes: (n: number) => Buffer
  /** Our pid, and whether it is a real one (written with our start time) or a test's. */
  readonly pid: number
  readonly realPid: boolean
  readonly isAlive: ((pid: number) => boolean) | undefined
  readonly timeoutMs: number
  readonly staleMs: number
}

/**
 * The file locks of one process (or of one simulated process in tests): the entry point makes one and passes it to
 * whatever locks files. Callers queue in memory per lock file first (a lock with our own pid is then never a live
 * one of ours), so the file lock only arbitrates between processes.
 */
export class FileLocks {
  /** The last in-process claim on each lock file. */
  readonly #queues = new Map<string, Promise<void>>()
  readonly #deps: Omit<Held, 'timeoutMs' | 'staleMs'>

  constructor(deps: LockDeps) {
    this.#deps = {
      now: deps.now,
      sleep: deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms))),
      random: deps.random,
      randomBytes: deps.randomBytes,
      pid: deps.pid ?? process.pid,
      realPid: deps.pid === undefined,
      isAlive: deps.isAlive,
    }
  }

  async withLock<T>(path: string, fn: () => Promise<T>, opts: LockOptions = {}): Promise<T> {
    const held: Held = { ...this.#deps, timeoutMs: opts.timeoutMs ?? TIMEOUT_MS, staleMs: opts.staleMs ?? STALE_MS }
    const lockPath = `${path}.lock`
    const before = this.#queues.get(lockPath) ?? Promise.resolve()
    let done = (): void => {}
    const mine = before.then(() => new Promise<void>((r) => (done = r)))
    this.#queues.set(lockPath, mine)
    try {
      await inTime(before, held.timeoutMs, lockPath)
      // Pending files are named by their creator's pid, so those of dead processes can go before we compete: a run
      // of processes killed while creating the lock does not pile them up.
      await sweepPending(lockPath, held).catch(() => {})
      const token = await acquire(lockPath, held)
      await sweepGuards(lockPath, held).catch(() => {})
      await sweepPending(lockPath, held).catch(() => {})
      // A heartbeat on the mtime, so that a long hold (a CreateSession in process-cache) is never taken for stale.
      const beat = setInterval(() => {
        const at = held.now()
        void utimes(lockPath, at, at).catch(() => {})
      }, held.staleMs / 3)
      beat.unref()
      try {
        return await fn()
      } finally {
        clearInterval(beat)
        await release(lockPath, token, held).catch(() => {})
      }
    } finally {
      void before.then(() => done())
      if (this.#queues.get(lockPath) === mine) this.#queues.delete(lockPath)
    }
  }
}

/** Jittered exponential backoff, capped at 250 ms and at what is left. */
const backoff = (held: Held, attempt: number, remaining: number): number =>
  Math.min(remaining, Math.round(Math.min(250, 10 * 2 ** attempt) * (0.5 + held.random() / 2)))

/**
 * Remove our own lock, under its guard like a takeover: if it was taken over (we held it past staleMs without
 * touching it), it is someone else's now and stays. Should the guard stay busy past the timeout, the lock is left,
 * to be taken over as stale.
 */
async function release(lockPath: string, token: string, held: Held): Promise<void> {
  const deadline = held.now().getTime() + held.timeoutMs
  for (let attempt = 0; ; attempt++) {
    const r = await removeIf(lockPath, (seen) => seen.content === token, held, 0)
    if (r === 'done') return
    if (r === 'again') continue
    const remaining = deadline - held.now().getTime()
    if (remaining <= 0) return
    await held.sleep(backoff(held, attempt, remaining))
  }
}

async function inTime(p: Promise<void>, ms: number, lockPath: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new IamraError('LOCK_TIMEOUT', `${lockPath}: another writer in this process held it for over ${ms / 1000} s`)), ms)
  })
  try {
    await Promise.race([p, late])
  } finally {
    clearTimeout(timer)
  }
}

async function acquire(lockPath: string, held: Held): Promise<string> {
  const deadline = held.now().getTime() + held.timeoutMs
  for (let attempt = 0; ; attempt++) {
    // Creating the lock file is the only way to get the lock.
    const token = await createExclusive(lockPath, held)
    if (token !== undefined) return token
    if (await takeOverIfStale(lockPath, held)) continue
    const remaining = deadline - held.now().getTime()
    if (remaining <= 0) {
      const holder = ((await look(lockPath).catch(() => undefined))?.content ?? '').split(' ')[0] || 'unknown'
      throw new IamraError(
        'LOCK_TIMEOUT',
        `${lockPath} has been held by ${holder} for over ${held.timeoutMs / 1000} s; remove it if no iamra process is using it`,
      )
    }
    await held.sleep(backoff(held, attempt, remaining))
  }
}

/** What was seen at a path, all through one open file: the same inode's identity, mtime and content. */
interface Seen {
  readonly dev: number
  readonly ino: number
  readonly mtimeMs: number
  readonly content: string
}

/** A lock holds one short line; anything bigger is not a lock of ours. */
const LOCK_MAX_BYTES = 4096
/** Non-blocking and not through a symlink: a FIFO or link planted where a lock belongs must not stall or steer us. */
const LOOK_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW

async function look(path: string): Promise<Seen | undefined> {
  const fh = await open(path, LOOK_FLAGS).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return undefined
    if (e.code === 'ELOOP') throw notALock(path)
    throw unwritable(path, 'read the lock file', e)
  })
  if (fh === undefined) return undefined
  try {
    const st = await fh.stat()
    if (!st.isFile() || st.size > LOCK_MAX_BYTES) throw notALock(path)
    const buf = Buffer.alloc(LOCK_MAX_BYTES)
    const { bytesRead } = await fh.read(buf, 0, LOCK_MAX_BYTES, 0)
    return { dev: st.dev, ino: st.ino, mtimeMs: st.mtimeMs, content: buf.subarray(0, bytesRead).toString('utf8') }
  } finally {
    await fh.close()
  }
}

const notALock = (path: string): IamraError =>
  new IamraError('FILE_UNWRITABLE', `${path} is not a lock file iamra wrote (a symlink, FIFO, device, directory or large file); remove it`)

const sameFile = (a: Seen, b: Seen): boolean => a.dev === b.dev && a.ino === b.ino && a.mtimeMs === b.mtimeMs && a.content === b.content

/** Guards on guards: each level is needed only when a process died holding the one below, for a moment. */
const MAX_GUARD_DEPTH = 3

/**
 * True when the lock is gone, or was stale and has been removed, or changed meanwhile: try to create it again at
 * once. False when it is live, or another process is removing it: back off.
 *
 * A stale lock is removed only under its guard, `<lock>.break` (created with O_EXCL like the lock), and only after
 * seeing, under the guard, that the same file (device, inode, mtime and content) is still there. Every removal of a
 * lock file (a takeover or a release) happens that way, and a lock file can only be created where none is, so
 * between that second look and the unlink nobody can have put a live lock in its place: a takeover never removes or
 * replaces a lock someone holds. (As with any lease, a holder that stops for longer than staleMs, without touching
 * its lock, may lose it.) Nothing is ever moved back into place: the only way to get the lock is to create it.
 */
async function takeOverIfStale(lockPath: string, held: Held, depth = 0): Promise<boolean> {
  const seen = await look(lockPath)
  if (seen === undefined) return true
  if (!isStale(seen.content, held.now().getTime() - seen.mtimeMs, held)) return false
  return (await removeIf(lockPath, (now) => sameFile(now, seen), held, depth)) !== 'busy'
}

/**
 * Remove `path` if, seen under its guard, it passes `check`: 'done' (removed, gone, or no longer passing), 'again'
 * (a stale guard was removed: try again at once) or 'busy' (another live process holds the guard, for a moment).
 */
async function removeIf(path: string, check: (now: Seen) => boolean, held: Held, depth: number): Promise<'done' | 'again' | 'busy'> {
  const guard = `${path}.break`
  const token = await createExclusive(guard, held)
  if (token === undefined) {
    // A guard left by a process that died holding it is itself stale, and is removed the same way, one level up.
    if (depth < MAX_GUARD_DEPTH && (await takeOverIfStale(guard, held, depth + 1))) return 'again'
    return 'busy'
  }
  try {
    const now = await look(path)
    if (now !== undefined && check(now)) {
      await unlink(path).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'ENOENT') throw e
      })
    }
    return 'done'
  } finally {
    const mine = (await look(guard).catch(() => undefined))?.content
    if (mine === token) await unlink(guard).catch(() => {})
  }
}

/** Errors of link() that mean the file system has no hard links (some FUSE and FAT mounts): create in place there. */
const NO_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS'])

/**
 * Create `path` holding a fresh token: the token, or undefined when it exists. The token is written to a pending
 * file first and hard-linked into place, so a lock file is never seen empty: a process killed at any point leaves
 * either no lock or one naming it, which the next one takes over at once.
 */
async function createExclusive(path: string, held: Held): Promise<string | undefined> {
  const pid = held.pid
  const token = `${pid}@${hostname()} ${held.randomBytes(8).toString('hex')} ${held.realPid ? (startTimeOf(pid) ?? '-') : '-'}\n`
  const pending = `${path}.${pid}.new`
  try {
    await unlink(pending).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw e
    })
    const fh = await open(pending, 'wx', 0o600)
    try {
      await fh.writeFile(token)
    } finally {
      await fh.close()
    }
    try {
      await link(pending, path)
      return token
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? ''
      // ENOENT: another host sharing the directory (NFS) swept our pending file as its pid is not running there.
      if (code === 'EEXIST' || code === 'ENOENT') return undefined
      if (!NO_LINKS.has(code)) throw e
    }
    return await createInPlace(path, token)
  } catch (e) {
    throw unwritable(path, 'create the lock file', e)
  } finally {
    await unlink(pending).catch(() => {})
  }
}

/** Where hard links are not supported: O_EXCL, then the token (a crash in between leaves an empty lock, stale once old). */
async function createInPlace(path: string, token: string): Promise<string | undefined> {
  const fh = await open(path, 'wx', 0o600).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'EEXIST') return undefined
    throw e
  })
  if (fh === undefined) return undefined
  try {
    await fh.writeFile(token)
  } catch (e) {
    await fh.close().catch(() => {})
    await unlink(path).catch(() => {})
    throw e
  }
  await fh.close()
  return token
}

/**
 * Removes guards (`<lock>.break`, `<lock>.break.break`, …) left by processes killed while holding one. Acquiring the
 * lock takes over only the guards it runs into: one killed holder can leave the guard above a free one (killed
 * while clearing a stale guard), and nothing would ever look at it again. Called while we hold the lock, so a guard
 * now is either a dead process's or one a live process holds for a moment (it judged our lock stale): each is
 * removed like a stale lock, under its own guard after a second look, so a live one is never removed. Highest
 * first, so that each one's own guard has been cleared before it.
 */
async function sweepGuards(lockPath: string, held: Held): Promise<void> {
  const base = basename(lockPath)
  const levels: number[] = []
  for (const name of await readdir(dirname(lockPath))) {
    const m = name.startsWith(base) ? /^((?:\.break)+)$/.exec(name.slice(base.length)) : null
    if (m?.[1] !== undefined) levels.push(m[1].length / '.break'.length)
  }
  for (const level of levels.sort((a, b) => b - a)) {
    // At the top depth: a guard above this one that is still there is a live process's, to be left alone.
    await takeOverIfStale(lockPath + '.break'.repeat(level), held, MAX_GUARD_DEPTH).catch(() => {})
  }
}

/** Removes pending files (`<lock>[.break…].<pid>.new`) left by processes killed while creating a lock or guard. */
async function sweepPending(lockPath: string, held: Held): Promise<void> {
  const dir = dirname(lockPath)
  const prefix = `${basename(lockPath)}.`
  const ours = held.pid
  for (const name of await readdir(dir)) {
    if (!name.startsWith(prefix)) continue
    const m = /^(?:break\.)*(\d+)\.new$/.exec(name.slice(prefix.length))
    if (m === null || Number(m[1]) === ours) continue
    // Named by its creator's pid: once that process is gone, nobody will link it into place any more.
    if (held.isAlive !== undefined ? !held.isAlive(Number(m[1])) : !processAlive(Number(m[1]), undefined)) await unlink(join(dir, name)).catch(() => {})
  }
}

function isStale(content: string, ageMs: number, held: Held): boolean {
  if (ageMs > held.staleMs) return true
  return holderGone(content, held)
}

/** True when the token names a process on this host that no longer runs; false when it may (or cannot be probed). */
function holderGone(content: string, held: Held): boolean {
  const m = /^(\d+)@(\S*) \S+(?: (\S+))?/.exec(content)
  // An empty file is being written by its creator; a lock from another host (NFS) cannot be probed.
  if (m === null || m[2] !== hostname()) return false
  const pid = Number(m[1])
  // Our own pid while we queue first in-process: a leftover of an earlier process with the same pid (pid 1 in containers).
  if (pid === held.pid) return true
  if (held.isAlive !== undefined) return !held.isAlive(pid)
  return !processAlive(pid, m[3])
}

/**
 * Whether `pid` runs, as the process that wrote the lock: on Linux, /proc tells a zombie (killed, not yet reaped
 * by its parent: it holds nothing) and a pid reused by a process started at another time from the holder.
 */
function processAlive(pid: number, start: string | undefined): boolean {
  const stat = procStat(pid)
  if (stat === 'gone') return false
  if (stat !== undefined) {
    if (stat.state === 'Z' || stat.state === 'X' || stat.state === 'x') return false
    if (start !== undefined && start !== '-' && start !== stat.start) return false
    return true
  }
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** A process's state letter and start time (clock ticks after boot) from /proc; 'gone' if none; undefined without /proc. */
function procStat(pid: number): { state: string; start: string } | 'gone' | undefined {
  let text: string
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    // With /proc mounted, no entry means no process; without /proc (macOS), ask kill(2).
    return code === 'ENOENT' && procMounted() ? 'gone' : undefined
  }
  // The command name (field 2) may hold spaces and parentheses: count fields from the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ')
  const state = fields[0]
  const start = fields[19]
  return state === undefined || start === undefined ? undefined : { state, start }
}

let procSelf: boolean | undefined
const procMounted = (): boolean =>
  (procSelf ??= (() => {
    try {
      readFileSync('/proc/self/stat')
      return true
    } catch {
      return false
    }
  })())

/** Our own start time, written into our locks so that a later process reusing our pid is not taken for us. */
function startTimeOf(pid: number): string | undefined {
  const stat = procStat(pid)
  return typeof stat === 'object' ? stat.start : undefined
}
