// The embedded Node runtime: `npm pack` of node-linux-<arch>@NODE_VERSION (the npm registry is the
// only download), checked against the pinned integrity, unpacked once into the cache.
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { NODE_VERSION, cacheDir, targets } from './config.mjs'
import { run, step } from './run.mjs'

/** Path of the unpacked runtime's `node` for `arch` (downloaded and verified on first use). */
export function runtimeNode(arch) {
  const t = targets[arch]
  const dir = join(cacheDir, `${t.npmPackage}-${NODE_VERSION}`)
  const node = join(dir, 'bin/node')
  if (existsSync(node)) return node
  mkdirSync(cacheDir, { recursive: true })
  const tgz = join(cacheDir, `${t.npmPackage}-${NODE_VERSION}.tgz`)
  if (!existsSync(tgz)) {
    step(`downloading ${t.npmPackage}@${NODE_VERSION} from the npm registry`)
    run('npm', ['pack', `${t.npmPackage}@${NODE_VERSION}`, '--silent', '--pack-destination', cacheDir], { cwd: cacheDir })
  }
  const got = `sha512-${createHash('sha512').update(readFileSync(tgz)).digest('base64')}`
  if (got !== t.integrity) {
    rmSync(tgz, { force: true })
    throw new Error(`package: ${t.npmPackage}@${NODE_VERSION} does not match its pinned integrity (got ${got}); not using it`)
  }
  const tmp = `${dir}.tmp-${process.pid}`
  rmSync(tmp, { recursive: true, force: true })
  mkdirSync(tmp)
  run('tar', ['-xzf', tgz, '-C', tmp, '--strip-components=1', 'package/bin/node', 'package/include', 'package/LICENSE', 'package/package.json'])
  rmSync(dir, { recursive: true, force: true })
  renameSync(tmp, dir)
  return node
}

/** The runtime's headers directory (for building the pkcs11js addon against it). */
export const runtimeDir = (arch) => join(runtimeNode(arch), '../..')
