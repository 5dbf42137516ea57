// The kubelet's AtomicWriter layout (also cert-manager csi-lib's): the payload lives in a
// timestamped `..<ts>` directory, `..data` points at it, and the visible files are symlinks
// through `..data`. An update writes a new directory, renames a `..data_tmp` link over `..data`,
// then removes the old directory.
import { mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

export class AtomicWriterDir {
  #current: string | undefined
  #n = 0
  constructor(
    readonly dir: string,
    readonly names: readonly string[],
    readonly mode = 0o600,
  ) {
    mkdirSync(dir, { recursive: true })
  }

  /** Publishes a new payload (name → content) in one rename. */
  write(payload: Readonly<Record<string, string>>): void {
    const ts = `..2026_11_29_04_00_00.${process.pid}_${++this.#n}`
    mkdirSync(join(this.dir, ts), { mode: 0o755 })
    for (const name of this.names) writeFileSync(join(this.dir, ts, name), payload[name] ?? '', { mode: this.mode })
    symlinkSync(ts, join(this.dir, '..data_tmp'))
    renameSync(join(this.dir, '..data_tmp'), join(this.dir, '..data'))
    if (this.#current === undefined) for (const name of this.names) symlinkSync(join('..data', name), join(this.dir, name))
    else rmSync(join(this.dir, this.#current), { recursive: true, force: true })
    this.#current = ts
  }
}
