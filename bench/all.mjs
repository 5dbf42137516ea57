// `npm run bench`: every benchmark runs, even after one has missed its target; the exit code is 1
// if any missed (each prints its figures and target). Usage: node bench/all.mjs
import { spawnSync } from 'node:child_process'

const benches = ['bench/credential-process.mjs', 'bench/server.mjs']
const root = new URL('..', import.meta.url).pathname
const missed = benches.filter((b) => spawnSync(process.execPath, [b], { cwd: root, stdio: 'inherit' }).status !== 0)
if (missed.length > 0) {
  process.stderr.write(`bench: missed a target or failed: ${missed.join(', ')}\n`)
  process.exitCode = 1
}
