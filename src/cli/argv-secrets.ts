/**
 * Refuses a command line that carries key material as an argument (`--private-key="$KEY_PEM"`, a
 * common CI mistake) before any parser can quote it back, and says what to do instead.
 */
import { IamraError } from '../errors.js'
import { looksLikeKeyMaterial } from '../secrets/key-material.js'

export function refuseKeyMaterialInArgv(command: string, args: readonly string[]): void {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? ''
    const eq = /^(--?[A-Za-z0-9-]+)=([\s\S]*)$/.exec(arg)
    const [flag, value] = eq !== null ? [eq[1], eq[2] ?? ''] : [/^--?[A-Za-z]/.test(args[i - 1] ?? '') ? args[i - 1] : undefined, arg]
    if (!looksLikeKeyMaterial(value, { secretFlag: /password|pin|token|secret/i.test(flag ?? '') })) continue
    const where = flag === undefined ? `argument ${i + 1}` : `the value of ${flag}`
    throw new IamraError(
      'USAGE',
      `${command}: ${where} looks like the contents of a key or certificate, not a file name (not shown here). Give a file path, or env:NAME to read it from the environment variable NAME (see docs/ci.md)`,
    )
  }
}
