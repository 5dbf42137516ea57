// The CLI's stdout writer (src/cli/write-stdout.ts): straight to the fd, in order; a full
// non-blocking pipe hands the rest, and everything after it, to the stream fallback.
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { closeSync, constants, mkdtempSync, openSync, readFileSync, readSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createStdoutWriter } from '../src/cli/write-stdout.js'

const dir = mkdtempSync(join(tmpdir(), 'iamra-stdout-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))

t.test('a file: strings and buffers, in order, nothing through the fallback', async (t) => {
  const file = join(dir, 'out')
  const fd = openSync(file, 'w')
  const fallback: Buffer[] = []
  const write = createStdoutWriter(fd, (b) => void fallback.push(b))
  write('{"Version":1}')
  write(Buffer.from([0x0a, 0xe2, 0x9c, 0x93]))
  write('é\n')
  closeSync(fd)
  t.equal(readFileSync(file, 'utf8'), '{"Version":1}\n✓é\n')
  t.equal(fallback.length, 0)
})

t.test('a full non-blocking pipe: the rest goes to the fallback, and so does every later write', async (t) => {
  const fifo = join(dir, 'fifo')
  execFileSync('mkfifo', [fifo])
  const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK)
  const writer = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK)
  t.teardown(() => {
    closeSync(writer)
    closeSync(reader)
  })
  const fallback: Buffer[] = []
  const write = createStdoutWriter(writer, (b) => void fallback.push(b))
  const big = 'x'.repeat(4 << 20) // more than any pipe buffer
  write(big)
  t.equal(fallback.length, 1, 'the pipe filled up')
  write('after')
  t.equal(fallback.length, 2, 'later writes queue behind it, never overtake')
  t.equal(fallback[1]!.toString(), 'after')
  let inPipe = 0
  const buf = Buffer.alloc(1 << 16)
  for (let i = 0; i < 10_000; i++) {
    let n = 0
    try {
      n = readSync(reader, buf)
    } catch {
      break // EAGAIN: drained
    }
    if (n === 0) break
    inPipe += n
  }
  t.equal(inPipe + fallback[0]!.length, big.length, 'every byte once: in the pipe or handed over')
})

t.test('other errors are thrown (the command reports them)', async (t) => {
  const fd = openSync(join(dir, 'closed'), 'w')
  closeSync(fd)
  t.throws(() => createStdoutWriter(fd, () => t.fail('no fallback'))('x'), { code: 'EBADF' })
})
