/**
 * A cross-process cache for `credential-process --cache`: one 0600 file per identity and request
 * in a 0700 directory ($XDG_RUNTIME_DIR/iamra, else ~/.cache/iamra), reused while fresh under the
 * refresh policy (refresh-policy.ts); a lock makes parallel invocations share one CreateSession. A
 * failed CreateSession is reported, not covered with the cached credentials: the AWS CLI and SDKs
 * refuse credentials this close to expiry anyway (botocore within 10 minutes), with a worse message.
 */
// SHA-256 in JavaScript: a cache hit then never loads node:crypto (6–8 ms of the binary's start-up)
import { sha256 } from './sha256.js'
import { chmodSync, mkdirSync, statSync, type Stats } from 'node:fs'
import { join } from 'node:path'
import { IamraError } from '../errors.js'
import { writeFileAtomic } from '../fs/atomic-write.js'
import { readRegularFileSync, SECRET_FILE_LIMIT } from '../fs/read-bounded.js'
import { unwritable } from '../fs/unwritable.js'
import type { SessionCredentials } from '../rolesanywhere/response.js'
import type { FileLocks } from '../fs/lock.js'
import { DEFAULT_REFRESH_WINDOW_MS, isFresh } from './refresh-policy.js'

export function processCacheDirectory(env: Readonly<Record<string, string | undefined>>, flag?: string): string {
  if (flag !== undefined && flag !== '') return flag
  if (env.XDG_RUNTIME_DIR) return join(env.XDG_RUNTIME_DIR, 'iamra', 'credential-process')
  if (env.XDG_CACHE_HOME) return join(env.XDG_CACHE_HOME, 'iamra', 'credential-process')
  if (env.HOME) return join(env.HOME, '.cache', 'iamra', 'credential-process')
  throw new IamraError('USAGE', (name) => `the credentials cache needs $XDG_RUNTIME_DIR or $HOME, or ${name('cacheDirectory')}`, { field: 'cacheDirectory' })
}

/**
 * The cache key: everything that decides the answer, including the bytes of the identity files;
 * undefined when a file cannot be read (the identity loader then reports it properly). `read` is the
 * command's reader: bounded, and a pipe such as `<(…)` read once and kept, so the loader gets it too.
 */
export async function processCacheKey(parts: unknown, files: readonly string[], read: (file: string) => Promise<Buffer>): Promise<string | undefined> {
  const data: Uint8Array[] = [Buffer.from(JSON.stringify(parts))]
  try {
    for (const f of files) data.push(await read(f))
  } catch {
    return undefined
  }
  return Buffer.from(sha256(Buffer.concat(data))).toString('hex')
}

interface CachedFile {
  readonly accessKeyId: string
  readonly secretAccessKey: string
  readonly sessionToken: string
  readonly expiration: string
  readonly roleArn: string
  readonly fetchedAt: number
}

export interface ProcessCacheInit {
  readonly dir: string
  readonly key: string
  readonly now: () => Date
  /** This process's file locks (src/fs/lock.ts), from the entry point. */
  readonly locks: FileLocks
  readonly refreshWindowMs?: number
  readonly debug?: ((line: string) => void) | undefined
}

export async function cachedAcrossProcesses(init: ProcessCacheInit, fetch: () => Promise<SessionCredentials>): Promise<SessionCredentials> {
  ensurePrivateDirectory(init.dir)
  const file = join(init.dir, `${init.key}.json`)
  const window = init.refreshWindowMs ?? DEFAULT_REFRESH_WINDOW_MS
  const fresh = await readFresh(file, init.now().getTime(), window)
  if (fresh !== undefined) {
    init.debug?.(`cache hit ${file}`)
    return fresh
  }
  return init.locks.withLock(
    file,
    async () => {
      const again = await readFresh(file, init.now().getTime(), window)
      if (again !== undefined) {
        init.debug?.(`cache filled by another process while waiting: ${file}`)
        return again
      }
      const creds = await fetch()
      const body: CachedFile = {
        accessKeyId: creds.accessKeyId,
        secretAccessKey: creds.secretAccessKey,
        sessionToken: creds.sessionToken,
        expiration: creds.expiresAt.toISOString(),
        roleArn: creds.roleArn,
        fetchedAt: init.now().getTime(),
      }
      await writeFileAtomic(file, JSON.stringify(body), { mode: 0o600, preserve: false, underLock: true }).catch((e: unknown) => {
        throw unwritable(file, 'write the cache file', e)
      })
      init.debug?.(`cache written ${file}`)
      return creds
    },
    { timeoutMs: 60_000 },
  )
}

async function readFresh(file: string, now: number, window: number): Promise<SessionCredentials | undefined> {
  let c: Partial<CachedFile>
  try {
    // synchronous: one small local file, cheaper than fs/promises' thread-pool round trips
    c = JSON.parse(readRegularFileSync(file, { maxBytes: SECRET_FILE_LIMIT }).toString('utf8')) as Partial<CachedFile>
  } catch {
    return undefined // missing or damaged: fetch and overwrite
  }
  if (typeof c.accessKeyId !== 'string' || typeof c.secretAccessKey !== 'string' || typeof c.sessionToken !== 'string' || typeof c.expiration !== 'string')
    return undefined
  const expiresAt = new Date(c.expiration)
  if (
    Number.isNaN(expiresAt.getTime()) ||
    !isFresh(window, { fetchedAt: typeof c.fetchedAt === 'number' ? c.fetchedAt : 0, expiresAt: expiresAt.getTime() }, now)
  )
    return undefined
  return {
    accessKeyId: c.accessKeyId,
    secretAccessKey: c.secretAccessKey,
    sessionToken: c.sessionToken,
    expiration: expiresAt,
    expiresAt,
    roleArn: c.roleArn ?? '',
    assumedRoleArn: undefined,
  }
}

/**
 * Creates the directory 0700; refuses one that another user owns or that is not a directory, tightens
 * one we own. Synchronous, like the cache file's read: a cache hit then needs no fs/promises at all.
 */
function ensurePrivateDirectory(dir: string): void {
  let st: Stats
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    st = statSync(dir)
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    if (code === 'EEXIST' || code === 'ENOTDIR')
      throw new IamraError(
        'FILE_UNWRITABLE',
        (name) => `the cache directory ${dir} (or a part of its path) is not a directory; give another with ${name('cacheDirectory')}`,
        { cause: e, field: 'cacheDirectory' },
      )
    throw unwritable(dir, 'create the cache directory', e)
  }
  if (!st.isDirectory())
    throw new IamraError('FILE_UNWRITABLE', (name) => `the cache directory ${dir} is not a directory; give another with ${name('cacheDirectory')}`, {
      field: 'cacheDirectory',
    })
  const uid = process.getuid?.()
  if (uid !== undefined && st.uid !== uid)
    throw new IamraError(
      'FILE_UNWRITABLE',
      (name) => `the cache directory ${dir} belongs to another user (uid ${st.uid}); give your own with ${name('cacheDirectory')}`,
      { field: 'cacheDirectory' },
    )
  if ((st.mode & 0o077) !== 0) {
    try {
      chmodSync(dir, 0o700)
    } catch (e) {
      throw unwritable(dir, 'make private (chmod 700) the cache directory', e)
    }
  }
}
