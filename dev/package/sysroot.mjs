// A Debian 12 arm64 root (debootstrap --foreign: packages unpacked, nothing run), cached. It gives
// qemu-aarch64-static the arm64 loader and libraries to run the arm64 runtime on an x64 host (for
// the code cache, which only that runtime can make), and the image its arm64 shared libraries.
import { existsSync, renameSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { cacheDir } from './config.mjs'
import { run, step } from './run.mjs'

export const DEBIAN_MIRROR = process.env.IAMRA_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian'

export function arm64Sysroot() {
  const dir = join(cacheDir, 'debian-bookworm-arm64-minbase-foreign')
  if (existsSync(join(dir, 'lib/ld-linux-aarch64.so.1'))) return dir
  if (process.getuid?.() !== 0)
    throw new Error(
      'package: making the arm64 Debian root needs root (debootstrap); run npm run package as root once, or set IAMRA_PACKAGE_CACHE to a cache that has it',
    )
  step('arm64: Debian 12 root for qemu-aarch64-static (debootstrap --foreign, once)')
  const tmp = `${dir}.tmp-${process.pid}`
  rmSync(tmp, { recursive: true, force: true })
  run('debootstrap', ['--foreign', '--arch=arm64', '--variant=minbase', 'bookworm', tmp, DEBIAN_MIRROR], {
    purpose: 'the arm64 Debian root (apt install debootstrap)',
  })
  rmSync(dir, { recursive: true, force: true })
  renameSync(tmp, dir)
  return dir
}
