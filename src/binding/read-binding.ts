/** Reading one binding file as the server does on a request: trusted, bounded, and naming the binding it is stored as. */
import { dirname } from 'node:path'
import { IamraError, fail } from '../errors.js'
import { readRegularFileSync, UnreadableFileError } from '../fs/read-bounded.js'
import { parseBinding, type Binding } from './binding-file.js'
import { bindingPaths } from './layout.js'
import { checkTrusted } from './trust.js'

/** Reads a binding; undefined when there is none by that name. */
export async function readBinding(dir: string, name: string): Promise<Binding | undefined> {
  const { binding } = bindingPaths(dir, name)
  let text: string
  try {
    checkTrusted(dirname(binding), 'bindings directory')
    checkTrusted(binding, 'binding file')
    text = readBindingText(binding)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    if (e instanceof IamraError && e.cause instanceof UnreadableFileError && e.cause.problem === 'missing') return undefined // just unbound
    if (e instanceof IamraError) throw e
    throw new IamraError('BINDING_INVALID', `cannot read ${binding}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e })
  }
  return parseNamedBinding(text, binding, name)
}

/** A binding file is a few hundred bytes; anything far larger is not one. */
export const BINDING_FILE_LIMIT = 256 * 1024

/**
 * A binding file's text, read bounded: a regular file only, never blocking (a FIFO planted there
 * must not stall the server), at most BINDING_FILE_LIMIT bytes.
 */
export function readBindingText(path: string): string {
  try {
    return readRegularFileSync(path, { maxBytes: BINDING_FILE_LIMIT }).toString('utf8')
  } catch (e) {
    if (e instanceof UnreadableFileError) throw new IamraError('BINDING_INVALID', `cannot read ${path}: ${e.message}`, { cause: e })
    throw e
  }
}

/** parseBinding, and the file must name the binding it is stored as. */
export function parseNamedBinding(text: string, path: string, name: string): Binding {
  const b = parseBinding(text, path)
  if (b.name !== name) fail('BINDING_INVALID', `${path} names binding "${b.name}", not "${name}"`)
  return b
}
