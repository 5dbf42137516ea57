/**
 * The process entry point and the CLI's composition root: the only CLI file that reads the real clock,
 * environment and randomness (test/composition.test.ts); it builds the CliContext and exits with main()'s code.
 */
import { randomBytes } from 'node:crypto'
import { main } from './main.js'
import { createStdoutWriter } from './write-stdout.js'

const stop = new AbortController()
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => stop.abort())

// No top-level await: the single executables bundle this entry as CommonJS (dev/package/sea.mjs).
void main(process.argv.slice(2), {
  env: process.env,
  stdout: createStdoutWriter(),
  stderr: (line) => process.stderr.write(line.endsWith('\n') ? line : `${line}\n`),
  now: () => new Date(),
  random: Math.random,
  randomBytes: (n) => randomBytes(n),
  // node:tty only when a password is really needed (start-up cost of credential-process).
  promptPassword: async (message) => (await import('./tty-prompt.js')).promptOnTerminal(message),
  stopSignal: stop.signal,
}).then((code) => {
  process.exitCode = code
})
