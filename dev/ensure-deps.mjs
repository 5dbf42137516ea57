// Installs dependencies when node_modules is missing or older than package-lock.json, so that
// `npm test` and `npm run demo` work on a fresh clone with no step before them.
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'

const root = new URL('..', import.meta.url).pathname
const lock = readFileSync(`${root}package-lock.json`)
const digest = createHash('sha256').update(lock).digest('hex')
const stamp = `${root}node_modules/.iamra-lock-sha256`
if (!existsSync(stamp) || readFileSync(stamp, 'utf8') !== digest) {
  process.stderr.write('installing dependencies (npm ci)...\n')
  execFileSync('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] })
  writeFileSync(stamp, digest)
}
