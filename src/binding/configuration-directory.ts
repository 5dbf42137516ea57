/** Which configuration directory bind, unbind and serve use: resolved from a flag and the entry point's environment. */
import { fail } from '../errors.js'
import type { Env } from '../runtime.js'

/** The configuration directory: the flag, else $RUNTIME_DIRECTORY (its first entry), else an error. */
export function configurationDirectory(flag: string | undefined, env: Env): string {
  const dir = flag ?? env.RUNTIME_DIRECTORY?.split(':')[0]
  if (dir === undefined || dir === '') {
    return fail(
      'CONFIG_DIRECTORY_MISSING',
      (name) =>
        `no configuration directory: give one with ${name('configurationDirectory')} or run under systemd with RuntimeDirectory= (which sets $RUNTIME_DIRECTORY)`,
      { field: 'configurationDirectory' },
    )
  }
  return dir
}
