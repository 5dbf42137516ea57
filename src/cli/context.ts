/** What a command may touch of the outside world; main() builds the real one, tests a fake one. */
import type { KeyBackends } from '../keys/key-backends.js'
import type { Runtime } from '../runtime.js'

/** What the process (or a test) hands to main(): the runtime (clock, environment, randomness), the standard streams, prompt and stop signal. */
export interface CliEnvironment extends Runtime {
  /** Data output (credentials JSON, signatures): stdout. */
  readonly stdout: (chunk: string | Buffer) => void
  /** Human notes and errors: stderr. Never pass a secret. */
  readonly stderr: (line: string) => void
  /** Asks for a password on the controlling terminal; undefined when there is none. */
  readonly promptPassword: (message: string) => Promise<string | undefined>
  /** Resolves when the command should stop (SIGINT/SIGTERM), for long-running commands. */
  readonly stopSignal: AbortSignal
}

/** What a command gets: the environment, and what main() creates for one run and disposes after it. */
export interface CliContext extends CliEnvironment {
  /** PKCS#11 sessions and modules, the TPM: created by main(), disposed when the command returns. */
  readonly keys: KeyBackends
}
