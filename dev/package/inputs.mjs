// A digest of everything a release is made from (sources, packaging code, units, lock file, the
// README and docs shipped in the .deb): written beside the artifacts, so tests rebuild only when it changed.
import { createHash } from 'node:crypto'
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { root } from './config.mjs'

function files(dir) {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)]))
    .sort()
}

export function inputsDigest() {
  const h = createHash('sha256')
  for (const f of [
    ...files(join(root, 'src')),
    ...files(join(root, 'dev/package')),
    ...files(join(root, 'contrib')),
    ...files(join(root, 'docs')),
    join(root, 'package-lock.json'),
    join(root, 'package.json'),
    join(root, 'README.md'),
  ]) {
    h.update(f.slice(root.length)).update('\0').update(readFileSync(f)).update('\0')
  }
  return h.digest('hex')
}

export const STAMP = '.inputs-sha256'
