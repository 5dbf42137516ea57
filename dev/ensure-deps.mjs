// Installs dependencies when node_modules does not hold what package-lock.json pins, so that
// `npm test` and `npm run demo` work on a fresh clone with no step before them. The check reads
// npm's own record of the install (node_modules/.package-lock.json, written by `npm ci` and
// `npm install`), so `npm ci && npm run build` installs once, not twice.
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'

const root = new URL('..', import.meta.url).pathname
const readPackages = (file) => {
  try {
    return JSON.parse(readFileSync(`${root}${file}`, 'utf8')).packages ?? {}
  } catch {
    return undefined
  }
}
const wanted = readPackages('package-lock.json')
const installed = readPackages('node_modules/.package-lock.json')
// Optional packages (other platforms' binaries, an addon that failed to build) may be absent.
const stale =
  installed === undefined || Object.entries(wanted).some(([path, p]) => path !== '' && p.optional !== true && installed[path]?.version !== p.version)
if (stale) {
  process.stderr.write('installing dependencies (npm ci)...\n')
  execFileSync('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] })
}
