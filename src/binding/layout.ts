/**
 * Where a binding's files live under the configuration directory: `bindings/NAME.json` (never the
 * secret), `env/NAME` (the consumer's EnvironmentFile=), `tokens/NAME` (token-file mode) and the
 * per-name lock `bindings/.NAME.lock`.
 */
import { join } from 'node:path'
import { checkName } from './names.js'

export interface BindingPaths {
  readonly binding: string
  readonly env: string
  readonly token: string
}

export function bindingPaths(dir: string, name: string): BindingPaths {
  checkName(name)
  return { binding: join(dir, 'bindings', `${name}.json`), env: join(dir, 'env', name), token: join(dir, 'tokens', name) }
}

/** One lock per binding name, beside its binding file (bindings/.NAME.lock; src/fs/lock.ts adds `.lock`). */
export function bindingLockPath(dir: string, name: string): string {
  return join(dir, 'bindings', `.${name}`)
}

/**
 * A bind holds its lock for milliseconds, so a lock untouched for 3 s is a killed holder's, whatever
 * its content (one killed before writing its pid leaves it empty).
 */
export const BINDING_LOCK_OPTIONS = { staleMs: 3_000 } as const
