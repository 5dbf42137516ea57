/**
 * Reading back a small file bind wrote itself (a binding, env or token file): undefined when it is
 * absent or anything but a regular file of at most `maxBytes`. Never followed through a symbolic
 * link and never blocking on a FIFO, whatever was put in its place.
 */
import { constants } from 'node:fs'
import { open } from 'node:fs/promises'

export async function readOwnFile(path: string, maxBytes: number): Promise<string | undefined> {
  const fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch(() => undefined)
  if (fh === undefined) return undefined
  try {
    const st = await fh.stat()
    if (!st.isFile() || st.size > maxBytes) return undefined
    const buf = Buffer.alloc(st.size)
    const { bytesRead } = await fh.read(buf, 0, st.size, 0)
    return buf.subarray(0, bytesRead).toString('utf8')
  } finally {
    await fh.close()
  }
}
