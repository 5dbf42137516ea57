// dist/release/ for the package tests: built by `node dev/package/index.mjs` when missing or made
// from other sources (a digest of the inputs is kept beside it). One builder at a time across
// test processes (an mkdir lock); each wait is bounded.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { sleep } from './wait.js'

export const ROOT = new URL('../../', import.meta.url).pathname.replace(/\/$/, '')
export const RELEASE = join(ROOT, 'dist/release')
export const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version

/** Digest of everything the release is made from (dev/package/inputs.mjs; npm run package writes it too). */
export async function inputsDigest(): Promise<string> {
  const m = (await import(join(ROOT, 'dev/package/inputs.mjs'))) as { inputsDigest(): string }
  return m.inputsDigest()
}

/** Why the release cannot be built here, or undefined. */
export function releaseToolsMissing(): string | undefined {
  const need = ['dpkg-deb', 'buildah', 'debootstrap', 'qemu-aarch64-static', 'aarch64-linux-gnu-g++', 'readelf', 'make']
  const missing = need.filter((c) => {
    try {
      execFileSync('sh', ['-c', `command -v ${c}`], { stdio: 'ignore' })
      return false
    } catch {
      return true
    }
  })
  if (missing.length > 0)
    return `npm run package needs ${missing.join(', ')} (CI installs them: dpkg-dev buildah debootstrap qemu-user-static g++-aarch64-linux-gnu)`
  if (process.getuid?.() !== 0) return 'npm run package (debootstrap, buildah) runs as root here'
  return undefined
}

/** Makes sure dist/release matches the sources; returns how long the build took (0 when fresh). */
export async function ensureRelease(): Promise<number> {
  const stamp = join(RELEASE, '.inputs-sha256')
  const digest = await inputsDigest()
  const fresh = (): boolean => existsSync(join(RELEASE, 'SHA256SUMS')) && existsSync(stamp) && readFileSync(stamp, 'utf8') === digest
  if (fresh()) return 0
  const lock = join(ROOT, 'dist/.release-lock')
  mkdirSync(join(ROOT, 'dist'), { recursive: true })
  for (let i = 0; i < 1200; i++) {
    // at most 20 min
    try {
      mkdirSync(lock)
      break
    } catch {
      if (Date.now() - statSync(lock, { throwIfNoEntry: false })!.mtimeMs > 25 * 60_000) rmSync(lock, { recursive: true, force: true })
      await sleep(1000)
      if (fresh()) return 0
    }
  }
  try {
    if (fresh()) return 0
    const started = Date.now()
    await new Promise<void>((resolve, reject) => {
      import('node:child_process').then(({ execFile }) => {
        execFile(process.execPath, [join(ROOT, 'dev/package/index.mjs')], { cwd: ROOT, maxBuffer: 16 << 20, timeout: 15 * 60_000 }, (err, _out, stderr) => {
          if (err === null) resolve()
          else reject(new Error(`npm run package failed: ${stderr.slice(-3000)}`))
        })
      }, reject)
    })
    return Date.now() - started
  } finally {
    rmSync(lock, { recursive: true, force: true })
  }
}
