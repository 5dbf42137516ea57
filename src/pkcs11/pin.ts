/**
 * Where a token's user PIN comes from: `pin-value` in the URI, a `pin-source` file, or a prompt on
 * the terminal, in that order. The PIN is only ever handed to C_Login, never logged or stored.
 */
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { IamraError } from '../errors.js'
import type { PinSource } from './session.js'
import type { Pkcs11Uri } from './uri.js'

export type Prompt = (message: string) => Promise<string | undefined>

/** True when a URI carries a PIN (so a login needs no prompt). */
export function hasPin(uri: Pkcs11Uri | undefined): boolean {
  return uri?.pinValue !== undefined || uri?.pinSource !== undefined
}

/** A PinSource for a token: the first URI that names a PIN wins, else the prompt. */
export function pinSource(uris: ReadonlyArray<Pkcs11Uri | undefined>, tokenName: string, prompt: Prompt | undefined): PinSource {
  return async () => {
    for (const uri of uris) {
      if (uri?.pinValue !== undefined) return uri.pinValue
      if (uri?.pinSource !== undefined) return readPinFile(uri.pinSource)
    }
    const pin = await prompt?.(`PIN for token ${tokenName}: `)
    if (pin === undefined) {
      throw new IamraError(
        'HSM_PIN_REQUIRED',
        `token ${tokenName} needs its user PIN: add ?pin-source=FILE (or ?pin-value=) to the URI, or run on a terminal to be asked`,
      )
    }
    return pin
  }
}

/** Reads a PIN file (a path or a file: URI); one trailing newline is dropped. */
export async function readPinFile(source: string): Promise<string> {
  const path = source.startsWith('file:') ? fileURLToPath(source) : source
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    const reason =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EACCES'
          ? 'permission denied (check the file mode and the user iamra runs as)'
          : (code ?? (e as Error).message)
    throw new IamraError('FILE_UNREADABLE', `cannot read the PIN file ${path} (pin-source): ${reason}`, { cause: e, field: 'pin' })
  }
  return text.replace(/\r?\n$/, '')
}
