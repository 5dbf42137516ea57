/**
 * What says a file is the one read before: device, inode, size, modification and change times. A
 * rename over it changes the inode; a write changes the times (see file-digests.ts for writes within
 * one tick of the file clock).
 */
import type { Stats } from 'node:fs'

export interface FileIdentity {
  readonly dev: number
  readonly ino: number
  readonly size: number
  readonly mtimeMs: number
  readonly ctimeMs: number
}

export function fileIdentity(st: Stats): FileIdentity {
  return { dev: st.dev, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs }
}

export function sameFile(known: FileIdentity, st: Stats): boolean {
  return known.ino === st.ino && known.dev === st.dev && known.size === st.size && known.mtimeMs === st.mtimeMs && known.ctimeMs === st.ctimeMs
}
