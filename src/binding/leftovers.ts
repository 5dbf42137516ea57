/** Temp files a killed bind or unbind left for one binding name; removed under that name's lock. */
import { readdir, unlink } from 'node:fs/promises'
import { join } from 'node:path'

/**
 * Temp files of NAME that a killed bind left (`.NAME.json.*.tmp`, `.NAME.*.tmp`, needroleshere's
 * `.wip.NAME`). Called under NAME's lock, so none of them is being written now.
 */
export async function removeLeftovers(dir: string, name: string): Promise<void> {
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

export function ignoreMissing(e: unknown): void {
  if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e
}
