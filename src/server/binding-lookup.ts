/**
 * The server's per-request binding lookup: every request stats the bindings directory and the
 * binding file (so bind, rebind and unbind take effect at once), and re-reads and re-parses the
 * file only when its identity (device, inode, size, times) changed, or, given a clock, while it
 * changed too recently for its times to tell (fs/file-identity.ts). Files are read bounded.
 *
 * Timing: a name with no binding file costs what a name with one costs (two stats and one
 * constant-time hash comparison, against a dummy hash when there is none), so response times do
 * not tell which binding names exist.
 */
import { statSync } from 'node:fs'
import { join } from 'node:path'
import { isOtherKindOfBinding } from '../binding/binding-file.js'
import { bindingEntries, checkTrustedStats, parseNamedBinding, readBindingText, type Binding } from '../binding/store.js'
import { fail } from '../errors.js'
import { fileIdentity, isSettled, sameFile, type FileIdentity } from '../fs/file-identity.js'
import { type AfterTurn, TurnMemo } from '../fs/turn-memo.js'

interface Known extends FileIdentity {
  readonly binding: Binding
  readonly entries: readonly Binding[]
}

/** A found binding, with its entries (bindingEntries): the same objects while the file is unchanged. */
export type Lookup =
  | { readonly found: true; readonly binding: Binding; readonly entries: readonly Binding[] }
  | { readonly found: false; readonly reason: string }

export interface BindingLookupOptions {
  /**
   * Runs `forget` when the current event-loop turn is over (a server passes `setImmediate`). With it,
   * the requests of one turn share one look at each name (fs/turn-memo.ts says why that is as good
   * as a look each); without it, every call looks.
   */
  readonly afterTurn?: AfterTurn
  /**
   * Wall-clock milliseconds. With it, a binding file changed in the last SETTLE_MS is read again at
   * every look (two same-size writes in place within one tick of the file clock leave equal times);
   * without it, an unchanged identity is trusted at once (bind always replaces the file by rename).
   */
  readonly now?: () => number
}

export class BindingLookup {
  readonly #bindings: string
  readonly #known = new Map<string, Known>()
  readonly #thisTurn: TurnMemo<Lookup> | undefined
  readonly #now: (() => number) | undefined

  constructor(
    readonly directory: string,
    opts: BindingLookupOptions = {},
  ) {
    this.#bindings = join(directory, 'bindings')
    this.#thisTurn = opts.afterTurn === undefined ? undefined : new TurnMemo(opts.afterTurn)
    this.#now = opts.now
  }

  /** The binding stored as NAME (a valid name), or why there is none; throws BINDING_INVALID for a file not to be used. */
  lookup(name: string): Lookup {
    // A file not to be used throws, and is looked at again by the next request.
    return this.#thisTurn === undefined ? this.#look(name) : this.#thisTurn.get(name, () => this.#look(name))
  }

  #look(name: string): Lookup {
    const dirStats = statSync(this.#bindings, { throwIfNoEntry: false })
    const path = join(this.#bindings, `${name}.json`)
    const st = statSync(path, { throwIfNoEntry: false })
    if (dirStats === undefined) return { found: false, reason: `no binding named "${name}": the bindings directory ${this.#bindings} does not exist` }
    checkTrustedStats(dirStats, this.#bindings, 'bindings directory')
    if (st === undefined) {
      // A found file costs a Stats object and the checks on it: so does a missing one (timing).
      checkTrustedStats(statSync(this.#bindings), this.#bindings, 'bindings directory')
      this.#known.delete(name)
      return { found: false, reason: `no binding named "${name}" in ${this.#bindings}` }
    }
    checkTrustedStats(st, path, 'binding file')
    const known = this.#known.get(name)
    if (known !== undefined && sameFile(known, st)) return { found: true, binding: known.binding, entries: known.entries }
    this.#known.delete(name)
    if (!st.isFile()) fail('BINDING_INVALID', `${path} is not a regular file`)
    const text = readBindingText(path)
    // A Kubernetes binding has no token: answered like a name without a binding, so a caller learns nothing.
    if (isOtherKindOfBinding(text)) return { found: false, reason: `binding "${name}" is not a token binding (a Kubernetes binding, served by the node agent)` }
    const binding = parseNamedBinding(text, path, name)
    const entries = bindingEntries(binding)
    if (this.#now === undefined || isSettled(st, this.#now())) this.#known.set(name, { ...fileIdentity(st), binding, entries })
    return { found: true, binding, entries }
  }
}
