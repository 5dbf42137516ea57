/** Reading identity files with errors that name the file and say what to do; bounded (see fs/read-bounded). */
import { IamraError, type IamraErrorCode } from '../errors.js'
import { IDENTITY_FILE_LIMIT, readBoundedFile, readRegularFileSync, UnreadableFileError } from '../fs/read-bounded.js'

export interface IdentityReadOptions {
  /** One-shot commands accept a pipe (`<(…)`, /dev/stdin); servers read regular files only. */
  readonly allowPipe?: boolean
}

/** Reads one identity input by name; entry points inject their own (env: sources, pipes read once). */
export type IdentityFileReader = (path: string, code: IamraErrorCode, what: string) => Promise<Buffer>

export async function readIdentityFile(path: string, code: IamraErrorCode, what: string, opts: IdentityReadOptions = {}): Promise<Buffer> {
  try {
    return await readBoundedFile(path, { maxBytes: IDENTITY_FILE_LIMIT, allowPipe: opts.allowPipe ?? false })
  } catch (e) {
    throw unreadable(e, path, code, what)
  }
}

export function readIdentityFileSync(path: string, code: IamraErrorCode, what: string): Buffer {
  try {
    return readRegularFileSync(path, { maxBytes: IDENTITY_FILE_LIMIT })
  } catch (e) {
    throw unreadable(e, path, code, what)
  }
}

function unreadable(e: unknown, path: string, code: IamraErrorCode, what: string): IamraError {
  const reason = e instanceof UnreadableFileError ? e.message : ((e as NodeJS.ErrnoException).code ?? 'read error')
  return new IamraError(code, `cannot read ${what} ${path}: ${reason}`, { cause: e })
}
