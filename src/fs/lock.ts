/**
 * An advisory lock beside a file: `<path>.lock`, created with O_EXCL and holding
 * `<pid>@<host> <nonce>`. A lock whose process is gone, or older than `staleMs`, is taken over.
 * Waiting is bounded, with jittered backoff, and the lock is always released. Callers in one process
 * queue in memory first, so the file lock only ever arbitrates between processes.
 */
import { randomBytes } from 'node:crypto'
import { link, open, readFile, rename, stat, unlink, utimes } from 'node:fs/promises'
import { hostname } from 'node:os'
import { IamraError } from '../errors.js'

export interface LockOptions {
  /** Give up after this long (default 10 s). */
  readonly timeoutMs?: number
  /** A lock not touched for this long is stale whatever its pid says (default 30 s; holders touch it every third). */
  readonly staleMs?: number
  /** Wall clock: also compared with the lock file's mtime, so tests with a fake clock should keep the default. */
  readonly now?: () => Date
  readonly sleep?: (ms: number) => Promise<void>
  readonly random?: () => number
  readonly pid?: number
  readonly isAlive?: (pid: number) => boolean
}

const STALE_MS = 30_000

/** The last in-process claim on each lock file: a lock with our own pid is then never a live one of ours. */
const queues = new Map<string, Promise<void>>()

export async function withLock<T>(path: string, fn: () => Promise<T>, opts: LockOptions = {}): Promise<T> {
  const lockPath = `${path}.lock`
  const timeoutMs = opts.timeoutMs ?? 10_000
  const before = queues.get(lockPath) ?? Promise.resolve()
  let done = (): void => {}
  const mine = before.then(() => new Promise<void>((r) => (done = r)))
  queues.set(lockPath, mine)
  try {
    await inTime(before, timeoutMs, lockPath)
    const token = await acquire(lockPath, timeoutMs, opts)
    // A heartbeat on the mtime, so that a long hold (a CreateSession in process-cache) is never taken for stale.
    const beat = setInterval(() => void utimes(lockPath, new Date(), new Date()).catch(() => {}), (opts.staleMs ?? STALE_MS) / 3)
    beat.unref()
    try {
      return await fn()
    } finally {
      clearInterval(beat)
      // Remove only our own lock: if it was taken over (we held it past staleMs), it is someone else's now.
      const content = await readFile(lockPath, 'utf8').catch(() => undefined)
      if (content === token) await unlink(lockPath).catch(() => {})
    }
  } finally {
    void before.then(() => done())
    if (queues.get(lockPath) === mine) queues.delete(lockPath)
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

async function acquire(lockPath: string, timeoutMs: number, opts: LockOptions): Promise<string> {
  const now = opts.now ?? (() => new Date())
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)))
  const random = opts.random ?? Math.random
  const token = `${opts.pid ?? process.pid}@${hostname()} ${randomBytes(8).toString('hex')}\n`
  const deadline = now().getTime() + timeoutMs
  for (let attempt = 0; ; attempt++) {
    const fh = await open(lockPath, 'wx', 0o600).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'EEXIST') return undefined
      throw new IamraError('INTERNAL', `cannot create the lock file ${lockPath}: ${e.code ?? e.message}`, { cause: e })
    })
    if (fh !== undefined) {
      try {
        await fh.writeFile(token)
      } catch (e) {
        await unlink(lockPath).catch(() => {})
        throw e
      } finally {
        await fh.close()
      }
      return token
    }
    if (await takeOverIfStale(lockPath, now().getTime(), opts)) continue
    const remaining = deadline - now().getTime()
    if (remaining <= 0) {
      const holder = (await readFile(lockPath, 'utf8').catch(() => '')).split(' ')[0] || 'unknown'
      throw new IamraError('LOCK_TIMEOUT', `${lockPath} has been held by ${holder} for over ${timeoutMs / 1000} s; remove it if no iamra process is using it`)
    }
    await sleep(Math.min(remaining, Math.round(Math.min(250, 10 * 2 ** attempt) * (0.5 + random() / 2))))
  }
}

/** True when the lock is gone or was stale and has been removed: try to create it again at once. */
async function takeOverIfStale(lockPath: string, nowMs: number, opts: LockOptions): Promise<boolean> {
  let content: string
  let mtimeMs: number
  try {
    mtimeMs = (await stat(lockPath)).mtimeMs
    content = await readFile(lockPath, 'utf8')
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return true
    throw e
  }
  if (!isStale(content, nowMs - mtimeMs, opts)) return false
  // Rename, not unlink: if another waiter replaced the stale lock with a live one meanwhile, we notice
  // (the content differs) and put the live one back instead of deleting it.
  const grave = `${lockPath}.stale-${randomBytes(6).toString('hex')}`
  try {
    await rename(lockPath, grave)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return true
    throw e
  }
  const moved = await readFile(grave, 'utf8').catch(() => '')
  if (moved !== content) await link(grave, lockPath).catch(() => {})
  await unlink(grave).catch(() => {})
  return true
}

function isStale(content: string, ageMs: number, opts: LockOptions): boolean {
  if (ageMs > (opts.staleMs ?? STALE_MS)) return true
  const m = /^(\d+)@(\S*) /.exec(content)
  // An empty file is being written by its creator; a lock from another host (NFS) cannot be probed.
  if (m === null || m[2] !== hostname()) return false
  const pid = Number(m[1])
  // Our own pid while we queue first in-process: a leftover of an earlier process with the same pid (pid 1 in containers).
  if (pid === (opts.pid ?? process.pid)) return true
  return !(opts.isAlive ?? processAlive)(pid)
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
}
