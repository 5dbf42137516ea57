// What the server remembers of the certificate and key files it checks on every request
// (src/fs/file-digests.ts): unchanged files are not read again, every change is seen, including
// same-size rewrites in place within one tick of the filesystem's clock.
import t, { type Test } from 'tap'
import { createHash } from 'node:crypto'
import { mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FileDigests } from '../src/fs/file-digests.js'
import { sleep } from './helpers/wait.js'

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex')

function rig(t: Test) {
  const dir = mkdtempSync(join(tmpdir(), 'iamra-digests-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const reads: string[] = []
  const read = (path: string): Buffer => {
    reads.push(path)
    return readFileSync(path)
  }
  return { dir, reads, read }
}

/** Event-loop turns the test ends by hand: `end()` is the end of one turn. */
function turns() {
  let forget: (() => void) | undefined
  return {
    afterTurn: (f: () => void): void => {
      forget = f
    },
    end: (): void => {
      forget?.()
      forget = undefined
    },
  }
}

/** A clock that has moved on by `ms` past the file's last change: the file counts as settled. */
const settledClock =
  (path: string, ms = 5000) =>
  () =>
    Math.max(statSync(path).mtimeMs, statSync(path).ctimeMs) + ms

t.test('a settled, unchanged file is read once; its digest is the digest of its bytes', async (t) => {
  const { dir, reads, read } = rig(t)
  const f = join(dir, 'tls.crt')
  writeFileSync(f, 'certificate one')
  const turn = turns()
  const digests = new FileDigests({ now: settledClock(f), afterTurn: turn.afterTurn })
  for (let i = 0; i < 5; i++) {
    t.equal(digests.digest(f, read), sha256('certificate one'))
    turn.end()
  }
  t.equal(reads.length, 1, 'read once, then known by its identity')
})

t.test('a file changed less than the settle time ago is read on every call', async (t) => {
  const { dir, reads, read } = rig(t)
  const f = join(dir, 'tls.key')
  writeFileSync(f, 'key one')
  const turn = turns()
  const digests = new FileDigests({ now: Date.now, afterTurn: turn.afterTurn }) // the real clock: the file was written just now
  for (let i = 0; i < 3; i++) {
    digests.digest(f, read)
    turn.end()
  }
  t.equal(reads.length, 3, 'a write in the same tick of the file clock could still follow')
})

t.test('a same-size rewrite in place right after a read is seen (equal file times cannot hide it)', async (t) => {
  const { dir, read } = rig(t)
  const f = join(dir, 'tls.crt')
  const turn = turns()
  const digests = new FileDigests({ now: Date.now, afterTurn: turn.afterTurn })
  // Back-to-back writes usually land in one tick of the kernel's coarse clock: equal mtime and ctime.
  for (let i = 0; i < 20; i++) {
    writeFileSync(f, `certificate ${i % 10}`)
    t.equal(digests.digest(f, read), sha256(`certificate ${i % 10}`), `write ${i}`)
    turn.end()
  }
})

t.test('once settled, a rewrite in place, a rename over the file and a replacement of equal size are each seen', async (t) => {
  const { dir, reads, read } = rig(t)
  const f = join(dir, 'tls.crt')
  writeFileSync(f, 'certificate A')
  const digests = new FileDigests({ now: Date.now, settleMs: 40, afterTurn: (forget) => setImmediate(forget) })
  await sleep(60)
  t.equal(digests.digest(f, read), sha256('certificate A'))
  await sleep(1)
  t.equal(digests.digest(f, read), sha256('certificate A'))
  t.equal(reads.length, 1, 'settled: known by its identity')

  await sleep(1)
  writeFileSync(f, 'certificate B') // same size, in place: a later change time
  t.equal(digests.digest(f, read), sha256('certificate B'), 'in-place rewrite')

  await sleep(60)
  writeFileSync(`${f}.new`, 'certificate C')
  renameSync(`${f}.new`, f) // cert-manager and kubelet swap files like this: a new inode
  t.equal(digests.digest(f, read), sha256('certificate C'), 'rename over it')
})

t.test('a missing or unreadable file: the reader reports it, and nothing is remembered', async (t) => {
  const { dir, reads, read } = rig(t)
  const f = join(dir, 'gone.pem')
  const turn = turns()
  const digests = new FileDigests({ now: () => Date.now() + 60_000, afterTurn: turn.afterTurn })
  t.throws(() => digests.digest(f, read), { code: 'ENOENT' })
  turn.end()
  writeFileSync(f, 'now here')
  t.equal(
    digests.digest(f, (p) => read(p)),
    sha256('now here'),
  )
  t.equal(reads.length, 2)
  turn.end()
  t.throws(() => digests.digest(dir, read), { code: 'EISDIR' }, 'a directory is not remembered as a file')
})

t.test('one look per event-loop turn: requests of one turn share it, the next turn looks again', async (t) => {
  const { dir, reads, read } = rig(t)
  const f = join(dir, 'tls.crt')
  writeFileSync(f, 'certificate 1')
  const turn = turns()
  const digests = new FileDigests({ now: Date.now, afterTurn: turn.afterTurn }) // not settled: read at every look
  t.equal(digests.digest(f, read), sha256('certificate 1'))
  writeFileSync(f, 'certificate 2')
  t.equal(digests.digest(f, read), sha256('certificate 1'), 'the same turn: the look it already took')
  t.equal(reads.length, 1)
  turn.end()
  t.equal(digests.digest(f, read), sha256('certificate 2'), 'the next turn sees the change')
  t.equal(reads.length, 2)
  t.throws(() => digests.digest(join(dir, 'missing.pem'), read), { code: 'ENOENT' })
  t.throws(() => digests.digest(join(dir, 'missing.pem'), read), { code: 'ENOENT' }, 'a failed look is not kept: the next request tries again')
  t.equal(reads.length, 4)
})
