/**
 * Where IMDS mode may listen, and what `--hop-limit` does. Node 20 cannot set IP_TTL or
 * IPV6_UNICAST_HOPS on TCP sockets (net.Socket has no setTTL; only dgram sockets do), so the hop
 * limit cannot protect a socket iamra binds itself: `--listen` is restricted to loopback, where
 * packets never cross a router. Sockets passed by systemd may be anywhere: their unit sets IPTTL=.
 */
import { isIPv4, isIPv6 } from 'node:net'
import { IamraError } from '../errors.js'
import { describeListen, type ListenAddress } from '../server/listen.js'

export const DEFAULT_IMDS_PORT = 9911
export const DEFAULT_HOP_LIMIT = 64

/** 127.0.0.0/8, ::1 and ::ffff:127.x.x.x (any spelling), and the name localhost. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase()
  if (h === 'localhost') return true
  if (isIPv4(h)) return h.startsWith('127.')
  if (!isIPv6(h)) return false
  const canonical = new URL(`http://[${h}]/`).hostname // e.g. [::1], [::ffff:7f00:1]
  return canonical === '[::1]' || /^\[::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}\]$/.test(canonical)
}

/** Refuses what an IMDS client cannot reach safely: non-loopback TCP and unix sockets. */
export function checkImdsListen(addresses: readonly ListenAddress[]): void {
  for (const a of addresses) {
    if (a.kind === 'unix') {
      throw new IamraError('USAGE', (name) => `${name('listen')} ${a.path}: IMDS clients connect over TCP; give a loopback HOST:PORT`, { field: 'listen' })
    }
    if (!isLoopbackHost(a.host)) {
      throw new IamraError(
        'USAGE',
        (name) =>
          `${name('listen')} ${describeListen(a)}: IMDS mode listens on loopback only (127.0.0.0/8 or [::1]). Node cannot set the IP TTL that keeps IMDS answers on one hop; to serve other hosts, use a systemd socket unit with IPTTL=1 (see docs/imds.md)`,
        { field: 'listen' },
      )
    }
  }
}
