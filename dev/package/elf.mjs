// The shared libraries an ELF file needs (DT_NEEDED, transitively), found in a root's multiarch
// directories: what the image must carry besides the binary.
import { existsSync, realpathSync } from 'node:fs'
import { join } from 'node:path'
import { run } from './run.mjs'

function needed(file) {
  return [...run('readelf', ['-d', file], { purpose: 'listing shared libraries (binutils)' }).matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map(
    (m) => m[1],
  )
}

/** [{ soname, path (in sysroot), inImage (absolute path inside the image) }], loader included. */
export function sharedLibraries(binary, sysroot, triplet, loader) {
  const dirs = [`lib/${triplet}`, `usr/lib/${triplet}`, 'lib', 'usr/lib']
  const found = new Map()
  const queue = [...needed(binary), loader]
  while (queue.length > 0) {
    const so = queue.shift()
    if (found.has(so)) continue
    const dir = dirs.find((d) => existsSync(join(sysroot, d, so)))
    if (dir === undefined) throw new Error(`package: shared library ${so} (needed by ${binary}) not found under ${sysroot}`)
    const path = realpathSync(join(sysroot, dir, so))
    found.set(so, { soname: so, path, inImage: `/usr/lib/${triplet}/${so}` })
    queue.push(...needed(path))
  }
  return [...found.values()]
}
