/** What a command may touch of the outside world; main() builds the real one, tests a fake one. */
import type { Runtime } from '../runtime.js'

/** The runtime (clock, environment, randomness) and the process's standard streams, prompt and stop signal. */
export interface CliContext extends Runtime {
  /** Data output (credentials JSON, signatures): stdout. */
  readonly stdout: (chunk: string | Buffer) => void
  /** Human notes and errors: stderr. Never pass a secret. */
  readonly stderr: (line: string) => void
  /** Asks for a password on the controlling terminal; undefined when there is none. */
  readonly promptPassword: (message: string) => Promise<string | undefined>
  /** Resolves when the command should stop (SIGINT/SIGTERM), for long-running commands. */
  readonly stopSignal: AbortSignal
}
