/** Unbind: removes a binding's files, under its name's lock; its token stops working at once. */
import { unlink } from 'node:fs/promises'
import { checkDirectories } from './directories.js'
import { BINDING_LOCK_OPTIONS, bindingLockPath, bindingPaths } from './layout.js'
import { removeLeftovers } from './leftovers.js'
import type { BindingStoreDeps } from './write-binding.js'

/** Removes everything bind wrote for NAME; parts already gone are fine. Returns what was removed. */
export async function removeBinding(dir: string, name: string, deps: Pick<BindingStoreDeps, 'locks'>): Promise<string[]> {
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
  return present.bindings === true ? deps.locks.withLock(bindingLockPath(dir, name), remove, BINDING_LOCK_OPTIONS) : remove()
}
