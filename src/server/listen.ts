/** Where the server listens: sockets passed by systemd, or addresses it binds itself (the CLI parses `--listen`: cli/listen-flag.ts). */

export interface InheritedSocket {
  readonly fd: number
  /** From LISTEN_FDNAMES (FileDescriptorName=); systemd's default is the socket unit's name. */
  readonly name: string
}

export type ListenAddress = { readonly kind: 'tcp'; readonly host: string; readonly port: number } | { readonly kind: 'unix'; readonly path: string }

/**
 * The sockets systemd passed to this process (fds 3 .. 3+LISTEN_FDS-1), or none. Removes the
 * LISTEN_* variables so that children do not think the sockets are theirs (sd_listen_fds(3)).
 */
export function takeListenFds(env: Record<string, string | undefined>, pid: number): InheritedSocket[] {
  const count = Number(env.LISTEN_FDS ?? 0)
  const forUs = env.LISTEN_PID === String(pid) && Number.isInteger(count) && count > 0
  const names = (env.LISTEN_FDNAMES ?? '').split(':')
  delete env.LISTEN_PID
  delete env.LISTEN_FDS
  delete env.LISTEN_FDNAMES
  if (!forUs) return []
  return Array.from({ length: count }, (_, i) => ({ fd: 3 + i, name: names[i] ?? '' }))
}

export const DEFAULT_LISTEN: ListenAddress = { kind: 'tcp', host: '127.0.0.1', port: 7224 }

export function describeListen(a: ListenAddress): string {
  return a.kind === 'unix' ? a.path : a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`
}
