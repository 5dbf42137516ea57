/**
 * Writing a binding (layout.ts says where its files go).
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
import type { Stats } from 'node:fs'
import { unlink } from 'node:fs/promises'
import { dirname } from 'node:path'
import { prepareWrite, syncDirectory, type PreparedWrite } from '../fs/atomic-write.js'
import type { FileLocks } from '../fs/lock.js'
import { IDENTITY_FILE_LIMIT } from '../fs/read-bounded.js'
import type { Randomness } from '../runtime.js'
import { bindingEntries, parseBinding, serialiseBinding, type Binding } from './binding-file.js'
import { consumerSecrets } from './consumer-tokens.js'
import { ensureDirectories, regularOrAbsent } from './directories.js'
import { BINDING_LOCK_OPTIONS, bindingLockPath, bindingPaths, type BindingPaths } from './layout.js'
import { ignoreMissing, removeLeftovers } from './leftovers.js'
import { readOwnFile } from './own-file.js'
import { secretMatches } from './token.js'

/** What writing and removing bindings needs from the entry point: its file locks and strong randomness (temp names). */
export interface BindingStoreDeps {
  readonly locks: FileLocks
  readonly randomBytes: Randomness['randomBytes']
}

export interface WriteBindingInput {
  readonly binding: Binding
  readonly envFile: string
  /** Token file content (token-file mode only). */
  readonly tokenFile?: { readonly content: string; readonly gid?: number | undefined } | undefined
}

/** Writes token file, binding and env file in the order described at the top of this file. */
export async function writeBinding(dir: string, input: WriteBindingInput, deps: BindingStoreDeps): Promise<BindingPaths> {
  const name = input.binding.name
  const paths = bindingPaths(dir, name)
  await ensureDirectories(dir)
  await deps.locks.withLock(bindingLockPath(dir, name), () => replaceFiles(paths, input, deps), BINDING_LOCK_OPTIONS)
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
async function replaceFiles(paths: BindingPaths, input: WriteBindingInput, deps: BindingStoreDeps): Promise<void> {
  const name = input.binding.name
  await removeLeftovers(dirname(dirname(paths.binding)), name)
  const existing = { binding: await regularOrAbsent(paths.binding), env: await regularOrAbsent(paths.env), token: await regularOrAbsent(paths.token) }
  const files = await prepareFiles(paths, input, await liveEntries(paths, name), existing.env, deps)
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

async function prepareFiles(
  paths: BindingPaths,
  input: WriteBindingInput,
  live: readonly Binding[],
  env: Stats | undefined,
  deps: BindingStoreDeps,
): Promise<PreparedFiles> {
  const all: PreparedWrite[] = []
  // Random temp names: the binding file is prepared twice (with and without `previous`).
  const prepare = async (path: string, data: string, opts: { mode: number; uid?: number; gid?: number }): Promise<PreparedWrite> => {
    const p = await prepareWrite(path, data, { ...opts, preserve: false, randomBytes: deps.randomBytes })
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
  return bindingEntries(current)
    .filter((e) => secrets.some((s) => secretMatches(s, e.secretHash)))
    .slice(0, 2)
}

/** Keeps a file's owner and group where this process may give them (root, or its own uid and one of its groups). */
function ownerWeMayKeep(st: { uid: number; gid: number }): { uid?: number; gid?: number } {
  const uid = process.getuid?.()
  if (uid === undefined) return {}
  if (uid === 0) return { uid: st.uid, gid: st.gid }
  if (st.uid === uid && (st.gid === process.getgid?.() || (process.getgroups?.() ?? []).includes(st.gid))) return { uid: st.uid, gid: st.gid }
  return { uid, gid: process.getgid?.() ?? st.gid }
}
