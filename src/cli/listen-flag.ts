/** The value of `--listen` and `--metrics-listen`: where a server binds a socket itself. */
import { fail } from '../errors.js'
import type { ListenAddress } from '../server/listen.js'

/** `HOST:PORT`, `[V6]:PORT` or an absolute path for a unix socket; errors name `flag`. */
export function parseListen(value: string, flag: '--listen' | '--metrics-listen' = '--listen'): ListenAddress {
  if (value.startsWith('/')) return { kind: 'unix', path: value }
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value)
  const port = Number(m?.[3])
  if (m === null || port > 65535) return fail('USAGE', `${flag} "${value}": expected HOST:PORT, [IPV6]:PORT or /path/to.sock`)
  return { kind: 'tcp', host: m[1] ?? m[2] ?? '', port }
}
