// Runs the CLI in-process with a captured context, or the built bundle as a real process.
import { execFile } from 'node:child_process'
import { main } from '../../src/cli/main.js'
import { realRandom } from './runtime.js'

export interface CliResult {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

export async function runCli(argv: string[], opts: { env?: Record<string, string>; password?: string; now?: () => Date } = {}): Promise<CliResult> {
  let stdout = ''
  let stderr = ''
  const code = await main(argv, {
    env: opts.env ?? {},
    stdout: (c) => {
      stdout += c.toString()
    },
    stderr: (l) => {
      stderr += l.endsWith('\n') ? l : `${l}\n`
    },
    now: opts.now ?? (() => new Date()),
    ...realRandom,
    promptPassword: async () => opts.password,
    stopSignal: new AbortController().signal,
  })
  return { code, stdout, stderr }
}

export const BIN = new URL('../../bin/iamra.mjs', import.meta.url).pathname

/** Spawns the built CLI (dist/, made by `npm run build`). */
export function spawnCli(argv: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--', BIN, ...argv], { env: { PATH: process.env.PATH ?? '', ...env }, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr })
    })
  })
}
