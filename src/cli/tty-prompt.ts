/** Reads a password from the controlling terminal without echo; undefined when there is no terminal. */
import { openSync, closeSync, writeSync } from 'node:fs'
import { ReadStream } from 'node:tty'

export async function promptOnTerminal(message: string): Promise<string | undefined> {
  let fd: number
  try {
    fd = openSync('/dev/tty', 'r+')
  } catch {
    return undefined
  }
  const input = new ReadStream(fd)
  try {
    writeSync(fd, message)
    input.setRawMode(true)
    return await new Promise<string | undefined>((resolve) => {
      let value = ''
      input.on('data', (chunk: Buffer) => {
        for (const ch of chunk.toString('utf8')) {
          if (ch === '\r' || ch === '\n') return resolve(value)
          if (ch === '\u0003' || ch === '\u0004') return resolve(undefined) // Ctrl-C, Ctrl-D
          if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1)
          else value += ch
        }
      })
    })
  } finally {
    input.setRawMode(false)
    writeSync(fd, '\n')
    input.destroy()
    try {
      closeSync(fd)
    } catch {
      // already closed by the stream
    }
  }
}
