/** The iamra version: injected by the bundler, read from package.json when running from source. */
import { readFileSync } from 'node:fs'

declare const __IAMRA_VERSION__: string | undefined

function fromPackageJson(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string }
    return pkg.version ?? '0.0.0'
  } catch {
    return '0.0.0'
  }
}

export const VERSION: string = typeof __IAMRA_VERSION__ === 'string' ? __IAMRA_VERSION__ : fromPackageJson()

export function userAgent(): string {
  return `iamra/${VERSION} (node${process.versions.node}; ${process.platform}; ${process.arch})`
}
