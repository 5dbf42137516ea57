/**
 * What says a file is the one read before: device, inode, size, modification and change times. A
 * rename over it changes the inode; a write changes the times, except a second same-size write
 * within one tick of the kernel's coarse file clock: so a file is known by its identity only once
 * it has settled (its last change is older than SETTLE_MS); a later write then stamps a later time.
 */
import type { Stats } from 'node:fs'

export interface FileIdentity {
  readonly dev: number
  readonly ino: number
  readonly size: number
  readonly mtimeMs: number
  readonly ctimeMs: number
}

/** Longer than the coarsest timestamp granularity of the filesystems a key lives on (ext3, NFS: 1 s). */
export const SETTLE_MS = 2000

/** The file's last change is old enough that any later write will stamp a different time. */
export function isSettled(st: Stats, now: number, settleMs: number = SETTLE_MS): boolean {
  return now - Math.max(st.mtimeMs, st.ctimeMs) >= settleMs
}

export function fileIdentity(st: Stats): FileIdentity {
  return { dev: st.dev, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs }
}

export function sameFile(known: FileIdentity, st: Stats): boolean {
  return known.ino === st.ino && known.dev === st.dev && known.size === st.size && known.mtimeMs === st.mtimeMs && known.ctimeMs === st.ctimeMs
}
