/**
 * How one-shot commands read certificate and key inputs: `env:NAME` from the environment they
 * were given, a pipe (`<(…)`, /dev/stdin) once and kept for the rest of the run (the cache key and
 * the loader both need it), and regular files with a bounded read each time they are asked for,
 * synchronously: a few kB of a local file cost less than the thread-pool round trips of
 * fs/promises (credential-process start-up, bench/).
 */
import { statSync } from 'node:fs'
import { readIdentityFile, readIdentityFileSync, type IdentityFileReader } from './files.js'
import { isEnvSource, readEnvBytes } from '../secrets/env-source.js'

export function commandFileReader(env: Readonly<Record<string, string | undefined>>): IdentityFileReader {
  const once = new Map<string, Promise<Buffer>>()
  return async (path, code, what) => {
    const kept = once.get(path)
    if (kept !== undefined) return kept
    if (isEnvSource(path)) {
      const bytes = Promise.resolve().then(() => readEnvBytes(path, env, code, what))
      once.set(path, bytes)
      return bytes
    }
    let isPipe = false
    try {
      isPipe = statSync(path).isFIFO()
    } catch {
      // missing or unreadable: the read below reports it
    }
    if (!isPipe) return readIdentityFileSync(path, code, what)
    const bytes = readIdentityFile(path, code, what, { allowPipe: true })
    once.set(path, bytes)
    return bytes
  }
}
