/**
 * Standard output without `process.stdout`: creating that stream loads node:stream (and node:net
 * when stdout is a pipe, as under the AWS CLI), about 3 ms of every credential-process start. The
 * bytes go to fd 1 with writeSync; if fd 1 is non-blocking and full (EAGAIN), the rest and every
 * later write go through `process.stdout`, which queues them in order. On Linux process.stdout
 * writes files, pipes and terminals synchronously too, so the two never reorder output.
 */
import { writeSync } from 'node:fs'

export function createStdoutWriter(fd = 1, fallback: (bytes: Buffer) => void = (b) => void process.stdout.write(b)): (chunk: string | Buffer) => void {
  let streaming = false
  return (chunk) => {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk
    if (streaming) return fallback(bytes)
    let done = 0
    try {
      while (done < bytes.length) done += writeSync(fd, bytes, done)
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e
      streaming = true
      fallback(bytes.subarray(done))
    }
  }
}
