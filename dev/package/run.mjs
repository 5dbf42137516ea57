// Child processes for the packaging steps: output kept, a clear error naming the tool that failed,
// each bounded in time (10 minutes unless a step says otherwise).
import { execFileSync } from 'node:child_process'

export function run(cmd, args, opts = {}) {
  try {
    return execFileSync(cmd, args, {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      maxBuffer: 64 << 20,
      timeout: 10 * 60_000,
      killSignal: 'SIGKILL',
      ...opts,
    })
  } catch (e) {
    if (e.code === 'ETIMEDOUT') throw new Error(`package: ${cmd} ${args.join(' ')} took longer than ${(opts.timeout ?? 600_000) / 1000} s`)
    if (e.code === 'ENOENT') throw new Error(`package: "${cmd}" is not installed (needed for: ${opts.purpose ?? args.join(' ')})`)
    const out = `${e.stdout ?? ''}${e.stderr ?? ''}`.trim().split('\n').slice(-15).join('\n')
    throw new Error(`package: ${cmd} ${args.join(' ')} failed (exit ${e.status}):\n${out}`)
  }
}

export function have(cmd) {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

export const step = (text) => process.stderr.write(`package: ${text}\n`)
