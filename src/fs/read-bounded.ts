/**
 * Reading files that someone else controls without letting them stall or exhaust us: only regular
 * files (or, where a one-shot command allows it, a pipe such as `<(…)` or /dev/stdin), never more
 * than a size limit, never blocking on open (O_NONBLOCK: a FIFO without a writer does not hang),
 * and pipes read against a deadline. Devices (/dev/zero), directories and sockets are refused.
 */
import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from 'node:fs'

/** Why a file could not be read; callers turn it into their own error code. */
export type FileProblem = 'missing' | 'denied' | 'directory' | 'not-regular' | 'too-large' | 'timeout' | 'io'

export class UnreadableFileError extends Error {
  constructor(
    readonly path: string,
    readonly problem: FileProblem,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(detail, options)
    this.name = 'UnreadableFileError'
  }
}

export interface BoundedReadOptions {
  /** Refuse anything larger (bytes). */
  readonly maxBytes: number
  /** Accept a pipe (FIFO or anonymous pipe), read within `timeoutMs`. Servers leave this off. */
  readonly allowPipe?: boolean
  /** Deadline for reading a pipe (default 5 s). */
  readonly timeoutMs?: number
}

/** Identity files (certificates, chains, keys, PKCS#12) are small; 1 MiB is far beyond any real one. */
export const IDENTITY_FILE_LIMIT = 1024 * 1024
/** Token, PIN and password files hold one line. */
export const SECRET_FILE_LIMIT = 64 * 1024

const OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY

/** A regular file's bytes, read synchronously: for the server's per-request reads of small local files. */
export function readRegularFileSync(path: string, opts: BoundedReadOptions): Buffer {
  let fd: number
  try {
    fd = openSync(path, OPEN_FLAGS)
  } catch (e) {
    throw fromErrno(path, e)
  }
  try {
    const st = fstatSync(fd)
    refuseIrregular(path, st, false)
    refuseLarge(path, st.size, opts.maxBytes)
    return readAllSync(path, fd, opts.maxBytes, st.size)
  } finally {
    closeSync(fd)
  }
}

/** A file's bytes, read without blocking the event loop; pipes only when `allowPipe`. */
export async function readBoundedFile(path: string, opts: BoundedReadOptions): Promise<Buffer> {
  // node:fs/promises (about 1.3 ms to load) only here: credential-process reads regular files with
  // readRegularFileSync and comes here only for a pipe.
  const { open } = await import('node:fs/promises')
  let fh: Awaited<ReturnType<typeof open>>
  try {
    fh = await open(path, OPEN_FLAGS)
  } catch (e) {
    throw fromErrno(path, e)
  }
  let handedOver = false
  try {
    const st = await fh.stat()
    if (st.isFIFO() && opts.allowPipe === true) {
      handedOver = true
      return await readPipe(path, fh.fd, opts.maxBytes, opts.timeoutMs ?? 5000, () => void fh.close().catch(() => {}))
    }
    refuseIrregular(path, st, opts.allowPipe === true)
    refuseLarge(path, st.size, opts.maxBytes)
    const buf = Buffer.alloc(Math.min(st.size, opts.maxBytes) + 1)
    let n = 0
    for (;;) {
      const { bytesRead } = await fh.read(buf, n, buf.length - n, null)
      if (bytesRead === 0) break
      n += bytesRead
      if (n > opts.maxBytes) throw tooLarge(path, opts.maxBytes)
      if (n === buf.length) break // grew while we read: one more read decides
    }
    if (n === buf.length) {
      const extra = await fh.read(Buffer.alloc(1), 0, 1, null)
      if (extra.bytesRead > 0 || n > opts.maxBytes) throw tooLarge(path, opts.maxBytes)
    }
    return buf.subarray(0, n)
  } catch (e) {
    throw e instanceof UnreadableFileError ? e : fromErrno(path, e)
  } finally {
    if (!handedOver) await fh.close().catch(() => {})
  }
}

/**
 * Reads to the end. The first read is sized from fstat (the server reads a few small files on every
 * request: 64 KiB buffers for each were most of its garbage); a file that grows meanwhile is read on.
 */
function readAllSync(path: string, fd: number, maxBytes: number, sizeHint: number): Buffer {
  const chunks: Buffer[] = []
  let total = 0
  let want = Math.min(sizeHint, maxBytes) + 1
  for (;;) {
    const chunk = Buffer.alloc(Math.min(want, maxBytes + 1 - total))
    const n = readSync(fd, chunk, 0, chunk.length, null)
    if (n === 0) break
    chunks.push(chunk.subarray(0, n))
    total += n
    if (total > maxBytes) throw tooLarge(path, maxBytes)
    // A short read is, for a regular file, the end: confirmed with a small read, else read on in larger pieces.
    want = n < chunk.length ? 512 : 64 * 1024
  }
  return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, total)
}

async function readPipe(path: string, fd: number, maxBytes: number, timeoutMs: number, close: () => void): Promise<Buffer> {
  // node:net only for a pipe: a plain file does not pay its load time (credential-process start-up)
  const { Socket } = await import('node:net')
  return new Promise((resolve, reject) => {
    const sock = new Socket({ fd, readable: true, writable: false })
    const chunks: Buffer[] = []
    let total = 0
    const finish = (err: Error | undefined): void => {
      clearTimeout(timer)
      sock.removeAllListeners()
      sock.on('error', () => {})
      sock.destroy()
      close()
      if (err === undefined) resolve(Buffer.concat(chunks, total))
      else reject(err)
    }
    const timer = setTimeout(() => finish(new UnreadableFileError(path, 'timeout', `nothing finished writing to the pipe within ${timeoutMs} ms`)), timeoutMs)
    sock.on('data', (c: Buffer) => {
      total += c.length
      if (total > maxBytes) return finish(tooLarge(path, maxBytes))
      chunks.push(c)
    })
    sock.on('end', () => finish(undefined))
    sock.on('error', (e) => finish(fromErrno(path, e)))
  })
}

function refuseIrregular(path: string, st: Stats, pipeAllowed: boolean): void {
  if (st.isFile()) return
  if (st.isDirectory()) throw new UnreadableFileError(path, 'directory', 'is a directory')
  const kind = st.isFIFO()
    ? 'a named pipe'
    : st.isCharacterDevice()
      ? 'a character device'
      : st.isBlockDevice()
        ? 'a block device'
        : st.isSocket()
          ? 'a socket'
          : 'not a regular file'
  const hint = pipeAllowed ? 'give a regular file, a pipe or env:NAME' : 'give a regular file'
  throw new UnreadableFileError(path, 'not-regular', `is ${kind}, not a regular file (${hint})`)
}

function refuseLarge(path: string, size: number, maxBytes: number): void {
  if (size > maxBytes) throw tooLarge(path, maxBytes)
}

function tooLarge(path: string, maxBytes: number): UnreadableFileError {
  return new UnreadableFileError(path, 'too-large', `is larger than ${maxBytes} bytes, far more than such a file holds`)
}

function fromErrno(path: string, e: unknown): UnreadableFileError {
  const err = e as NodeJS.ErrnoException
  switch (err.code) {
    case 'ENOENT':
      return new UnreadableFileError(path, 'missing', 'no such file', { cause: e })
    case 'ENOTDIR':
      return new UnreadableFileError(path, 'missing', 'a part of the path is not a directory', { cause: e })
    case 'EACCES':
    case 'EPERM':
      return new UnreadableFileError(path, 'denied', 'permission denied (check the file mode and the user iamra runs as)', { cause: e })
    case 'EISDIR':
      return new UnreadableFileError(path, 'directory', 'is a directory', { cause: e })
    case 'ELOOP':
      return new UnreadableFileError(path, 'io', 'too many levels of symbolic links', { cause: e })
    case 'ENXIO':
      return new UnreadableFileError(path, 'not-regular', 'is a socket or a device without a reader, not a regular file', { cause: e })
    default:
      return new UnreadableFileError(path, 'io', `read error ${err.code ?? 'unknown'}`, { cause: e })
  }
}
