/**
 * The binding store under the configuration directory: `bindings/NAME.json` (never the secret),
 * `env/NAME` (the consumer's EnvironmentFile=) and, in token-file mode, `tokens/NAME`.
 *
 * A bind replaces these files so that, killed at any instant, it leaves the consumer a token the
 * server accepts, with the settings written together with it:
 *   1. the binding file gains the new entry and keeps the entries the consumer's present tokens open
 *      (`previous`): the old token still works, with its old settings;
 *   2. the token file, then the env file, are renamed into place: the new token works;
 *   3. the binding file loses `previous`: the old token stops working;
 *   4. a token file the new mode does not use is removed.
 * Each step is one rename (or unlink), synced before the next. A per-name lock keeps binds and
 * unbinds of one name apart, so each starts by removing every temp file an earlier, killed one left.
 */
import { statSync, type Stats } from 'node:fs'
import { readdir, unlink } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { IamraError, fail } from '../errors.js'
import { prepareWrite, syncDirectory, type AtomicWriteOptions, type PreparedWrite } from '../fs/atomic-write.js'
import { withLock } from '../fs/lock.js'
import { IDENTITY_FILE_LIMIT, readRegularFileSync, UnreadableFileError } from '../fs/read-bounded.js'
import { bindingEntries, parseBinding, serialiseBinding, type Binding } from './binding-file.js'
import { consumerSecrets } from './consumer-tokens.js'
import { checkDirectories, ensureDirectories, regularOrAbsent } from './directories.js'
import { checkName } from './names.js'
import { readOwnFile } from './own-file.js'
import { secretMatches } from './token.js'

export { bindingEntries, entryForSecret, parseBinding, serialiseBinding } from './binding-file.js'
export type { Binding, BindingRequest } from './binding-file.js'
export { ensureDirectories } from './directories.js'

export interface BindingPaths {
  readonly binding: string
  readonly env: string
  readonly token: string
}

export function bindingPaths(dir: string, name: string): BindingPaths {
  checkName(name)
  return { binding: join(dir, 'bindings', `${name}.json`), env: join(dir, 'env', name), token: join(dir, 'tokens', name) }
}

/**
 * The server acts on binding files, so it trusts only files and directories owned by itself or
 * root and writable by nobody else: anyone who could write there could mint tokens for any role.
 */
function checkTrusted(path: string, what: string): void {
  checkTrustedStats(statSync(path), path, what)
}

/** checkTrusted on stats already taken (the server's per-request lookup stats each file once). */
export function checkTrustedStats(st: { readonly uid: number; readonly mode: number }, path: string, what: string): void {
  const uid = process.getuid?.()
  if (uid !== undefined && st.uid !== uid && st.uid !== 0) fail('BINDING_INVALID', `${what} ${path} is owned by uid ${st.uid}, not by the server's user or root; not trusted`)
  if ((st.mode & 0o022) !== 0) fail('BINDING_INVALID', `${what} ${path} is writable by group or others (mode ${(st.mode & 0o777).toString(8)}); not trusted`)
}

/** The configuration directory: the flag, else $RUNTIME_DIRECTORY (its first entry), else an error. */
export function configurationDirectory(flag: string | undefined, env: Readonly<Record<string, string | undefined>>): string {
  const dir = flag ?? env.RUNTIME_DIRECTORY?.split(':')[0]
  if (dir === undefined || dir === '') {
    return fail('CONFIG_DIRECTORY_MISSING', (name) => `no configuration directory: give one with ${name('configurationDirectory')} or run under systemd with RuntimeDirectory= (which sets $RUNTIME_DIRECTORY)`, { field: 'configurationDirectory' })
  }
  return dir
}

/** Reads a binding; undefined when there is none by that name. */
export async function readBinding(dir: string, name: string): Promise<Binding | undefined> {
  const { binding } = bindingPaths(dir, name)
  let text: string
  try {
    checkTrusted(dirname(binding), 'bindings directory')
    checkTrusted(binding, 'binding file')
    text = readBindingText(binding)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    if (e instanceof IamraError && e.cause instanceof UnreadableFileError && e.cause.problem === 'missing') return undefined // just unbound
    if (e instanceof IamraError) throw e
    throw new IamraError('BINDING_INVALID', `cannot read ${binding}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e })
  }
  return parseNamedBinding(text, binding, name)
}

/** A binding file is a few hundred bytes; anything far larger is not one. */
export const BINDING_FILE_LIMIT = 256 * 1024

/**
 * A binding file's text, read bounded: a regular file only, never blocking (a FIFO planted there
 * must not stall the server), at most BINDING_FILE_LIMIT bytes.
 */
export function readBindingText(path: string): string {
  try {
    return readRegularFileSync(path, { maxBytes: BINDING_FILE_LIMIT }).toString('utf8')
  } catch (e) {
    if (e instanceof UnreadableFileError) throw new IamraError('BINDING_INVALID', `cannot read ${path}: ${e.message}`, { cause: e })
    throw e
  }
}

/** parseBinding, and the file must name the binding it is stored as. */
export function parseNamedBinding(text: string, path: string, name: string): Binding {
  const b = parseBinding(text, path)
  if (b.name !== name) fail('BINDING_INVALID', `${path} names binding "${b.name}", not "${name}"`)
  return b
}

export interface WriteBindingInput {
  readonly binding: Binding
  readonly envFile: string
  /** Token file content (token-file mode only). */
  readonly tokenFile?: { readonly content: string; readonly gid?: number | undefined } | undefined
}

/** Writes token file, binding and env file in the order described at the top of this file. */
export async function writeBinding(dir: string, input: WriteBindingInput): Promise<BindingPaths> {
  const name = input.binding.name
  const paths = bindingPaths(dir, name)
  await ensureDirectories(dir)
  await withLock(lockPath(dir, name), () => replaceFiles(paths, input), LOCK_OPTIONS)
  return paths
}

/** The files of one bind, written and synced but not yet renamed into place. */
interface PreparedFiles {
  /** The binding with the entries the consumer's present tokens open, or the final one if there are none. */
  readonly first: PreparedWrite
  readonly token: PreparedWrite | undefined
  readonly env: PreparedWrite
  /** The final binding, when `first` is not it. */
  readonly last: PreparedWrite | undefined
  readonly all: readonly PreparedWrite[]
}

/** Steps 1 to 4 (see the top of this file), under NAME's lock. */
async function replaceFiles(paths: BindingPaths, input: WriteBindingInput): Promise<void> {
  const name = input.binding.name
  await removeLeftovers(dirname(dirname(paths.binding)), name)
  const existing = { binding: await regularOrAbsent(paths.binding), env: await regularOrAbsent(paths.env), token: await regularOrAbsent(paths.token) }
  const files = await prepareFiles(paths, input, await liveEntries(paths, name), existing.env)
  try {
    await files.first.commit()
    await syncDirectory(dirname(paths.binding))
    if (files.token !== undefined) {
      await files.token.commit()
      await syncDirectory(dirname(paths.token))
    }
    await files.env.commit()
    await syncDirectory(dirname(paths.env))
    if (files.last !== undefined) {
      await files.last.commit()
      await syncDirectory(dirname(paths.binding))
    }
    if (input.tokenFile === undefined && existing.token !== undefined) {
      await unlink(paths.token).catch(ignoreMissing)
      await syncDirectory(dirname(paths.token))
    }
  } finally {
    // After a failure part-way, the files not yet renamed go; those that were are consistent (see above).
    await Promise.all(files.all.map((p) => p.abort()))
  }
}

async function prepareFiles(paths: BindingPaths, input: WriteBindingInput, live: readonly Binding[], env: Stats | undefined): Promise<PreparedFiles> {
  const all: PreparedWrite[] = []
  const prepare = async (path: string, data: string, opts: AtomicWriteOptions): Promise<PreparedWrite> => {
    const p = await prepareWrite(path, data, { ...opts, preserve: false })
    all.push(p)
    return p
  }
  const self = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 }
  try {
    const last = await prepare(paths.binding, serialiseBinding({ ...input.binding, previous: undefined }), { mode: 0o600, ...self })
    const first = live.length === 0 ? last : await prepare(paths.binding, serialiseBinding({ ...input.binding, previous: live }), { mode: 0o600, ...self })
    let token: PreparedWrite | undefined
    if (input.tokenFile !== undefined) {
      const gid = input.tokenFile.gid
      // The token file's access is what this bind says, never what an earlier bind allowed.
      token = await prepare(paths.token, input.tokenFile.content, gid === undefined ? { mode: 0o600, ...self } : { mode: 0o640, uid: self.uid, gid })
    }
    // The env file keeps the mode and owner it was given (a consumer may read it directly), where we may.
    const envFile = await prepare(paths.env, input.envFile, env === undefined ? { mode: 0o600, ...self } : { mode: env.mode & 0o7777, ...ownerWeMayKeep(env) })
    return { first, token, env: envFile, last: first === last ? undefined : last, all }
  } catch (e) {
    await Promise.all(all.map((p) => p.abort()))
    throw e
  }
}

/** The entries of the present binding that the consumer's present tokens open. */
async function liveEntries(paths: BindingPaths, name: string): Promise<Binding[]> {
  const text = await readOwnFile(paths.binding, IDENTITY_FILE_LIMIT)
  if (text === undefined) return []
  let current: Binding
  try {
    current = parseBinding(text, paths.binding)
  } catch {
    return [] // an unreadable binding opens nothing: there is nothing to keep
  }
  const secrets = await consumerSecrets({ name, env: paths.env, token: paths.token })
  return bindingEntries(current).filter((e) => secrets.some((s) => secretMatches(s, e.secretHash))).slice(0, 2)
}

/** Keeps a file's owner and group where this process may give them (root, or its own uid and one of its groups). */
function ownerWeMayKeep(st: { uid: number; gid: number }): { uid?: number; gid?: number } {
  const uid = process.getuid?.()
  if (uid === undefined) return {}
  if (uid === 0) return { uid: st.uid, gid: st.gid }
  if (st.uid === uid && (st.gid === process.getgid?.() || (process.getgroups?.() ?? []).includes(st.gid))) return { uid: st.uid, gid: st.gid }
  return { uid, gid: process.getgid?.() ?? st.gid }
}

/** Removes everything bind wrote for NAME; parts already gone are fine. Returns what was removed. */
export async function removeBinding(dir: string, name: string): Promise<string[]> {
  const paths = bindingPaths(dir, name)
  const present = await checkDirectories(dir)
  const remove = async (): Promise<string[]> => {
    const removed: string[] = []
    // The binding file goes first: from that moment the token is refused. Unlinking a name never
    // follows a link, so whatever is there goes, and nothing elsewhere.
    for (const p of [paths.binding, paths.env, paths.token]) {
      try {
        await unlink(p)
        removed.push(p)
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT' && (e as NodeJS.ErrnoException).code !== 'ENOTDIR') throw e
      }
    }
    await removeLeftovers(dir, name)
    return removed
  }
  // Without bindings/ there is no lock to take, and no binding: only orphans to remove.
  return present.bindings === true ? withLock(lockPath(dir, name), remove, LOCK_OPTIONS) : remove()
}

/** One lock per binding name, beside its binding file (bindings/.NAME.lock). */
function lockPath(dir: string, name: string): string {
  return join(dir, 'bindings', `.${name}`)
}

/**
 * A bind holds its lock for milliseconds, so a lock untouched for 3 s is a killed holder's, whatever
 * its content (one killed before writing its pid leaves it empty).
 */
const LOCK_OPTIONS = { staleMs: 3_000 }

/**
 * Temp files of NAME that a killed bind left (`.NAME.json.*.tmp`, `.NAME.*.tmp`, needroleshere's
 * `.wip.NAME`). Called under NAME's lock, so none of them is being written now.
 */
async function removeLeftovers(dir: string, name: string): Promise<void> {
  for (const sub of ['bindings', 'env', 'tokens']) {
    let entries: string[]
    try {
      entries = await readdir(join(dir, sub))
    } catch (e) {
      ignoreMissing(e)
      continue
    }
    for (const entry of entries) {
      if ((entry.startsWith(`.${name}.`) && entry.endsWith('.tmp')) || entry === `.wip.${name}`) await unlink(join(dir, sub, entry)).catch(ignoreMissing)
    }
  }
}

function ignoreMissing(e: unknown): void {
  if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e
}
