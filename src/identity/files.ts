/** Reading identity files with errors that name the file and say what to do. */
import { readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { IamraError, type IamraErrorCode } from '../errors.js'

export async function readIdentityFile(path: string, code: IamraErrorCode, what: string): Promise<Buffer> {
  try {
    return await readFile(path)
  } catch (e) {
    throw unreadable(e, path, code, what)
  }
}

export function readIdentityFileSync(path: string, code: IamraErrorCode, what: string): Buffer {
  try {
    return readFileSync(path)
  } catch (e) {
    throw unreadable(e, path, code, what)
  }
}

function unreadable(e: unknown, path: string, code: IamraErrorCode, what: string): IamraError {
  {
    const err = e as NodeJS.ErrnoException
    const reason =
      err.code === 'ENOENT' ? 'no such file' :
      err.code === 'EACCES' ? 'permission denied (check the file mode and the user iamra runs as)' :
      err.code === 'EISDIR' ? 'is a directory' :
      (err.code ?? err.message)
    return new IamraError(code, `cannot read ${what} ${path}: ${reason}`, { cause: e })
  }
}
