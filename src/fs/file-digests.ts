/**
 * Digests of files read on every request (a server's certificate, chain and key), without reading
 * them on every request: a file is read again only when its identity changed (device, inode, size,
 * modification and change times), which a rename over it (cert-manager, kubelet's `..data` swap,
 * `mv`) or any write does.
 *
 * Racy writes: file times come from a coarse kernel clock (a few milliseconds; a second or two on
 * some filesystems), so two same-size writes within one tick leave equal times. A file is therefore
 * trusted by its identity only once its last change is older than `settleMs` by the caller's clock;
 * until then it is read every time. A later write stamps a later time, so it is always seen.
 *
 * One look per event-loop turn (turn-memo.ts): the requests of one turn share one `stat` of a file.
 */
import { createHash } from 'node:crypto'
import { statSync, type Stats } from 'node:fs'
import { type AfterTurn, TurnMemo } from './turn-memo.js'
import { fileIdentity, isSettled, SETTLE_MS, sameFile, type FileIdentity } from './file-identity.js'

/** Far more files than one server serves; the bound keeps a churn of renamed paths from growing the map. */
const MAX_FILES = 4096

interface Known extends FileIdentity {
  readonly digest: string
}

export interface FileDigestsOptions {
  /** Wall-clock milliseconds, the clock file times are stamped with. */
  readonly now: () => number
  /** Runs `forget` when the current event-loop turn is over (a server passes `setImmediate`). */
  readonly afterTurn: AfterTurn
  readonly settleMs?: number
}

export class FileDigests {
  readonly #known = new Map<string, Known>()
  /** What this turn already looked at: path to digest. */
  readonly #thisTurn: TurnMemo<string>
  readonly #now: () => number
  readonly #settleMs: number

  constructor(opts: FileDigestsOptions) {
    this.#now = opts.now
    this.#thisTurn = new TurnMemo(opts.afterTurn)
    this.#settleMs = opts.settleMs ?? SETTLE_MS
  }

  /**
   * The SHA-256 (hex) of the file's bytes: remembered while its identity is unchanged, else what
   * `read` returns now (`read` reports a missing or unreadable file in its own words).
   */
  digest(path: string, read: (path: string) => Buffer): string {
    return this.#thisTurn.get(path, () => this.#look(path, read))
  }

  #look(path: string, read: (path: string) => Buffer): string {
    let st: Stats | undefined
    try {
      st = statSync(path, { throwIfNoEntry: false })
    } catch {
      st = undefined // unreadable directory and the like: `read` says why
    }
    const known = this.#known.get(path)
    if (known !== undefined && st !== undefined && sameFile(known, st)) return known.digest
    this.#known.delete(path)
    const digest = createHash('sha256').update(read(path)).digest('hex')
    // Only the identity seen before the read is recorded: a write during the read changes it again.
    if (st?.isFile() === true && isSettled(st, this.#now(), this.#settleMs)) {
      // Paths of bindings long unbound are dropped oldest first; a path still served is simply read again.
      if (this.#known.size >= MAX_FILES) this.#known.delete(this.#known.keys().next().value as string)
      this.#known.set(path, { ...fileIdentity(st), digest })
    }
    return digest
  }
}
