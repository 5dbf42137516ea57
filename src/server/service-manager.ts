/**
 * Telling systemd about our state (sd_notify): READY=1, STATUS=, WATCHDOG=1, STOPPING=1.
 * Prefers the optional sd-notify addon, falls back to the systemd-notify binary, and is a no-op
 * outside systemd (no NOTIFY_SOCKET).
 */
import { execFile } from 'node:child_process'
import { createRequire } from 'node:module'

export interface ServiceManager {
  readonly kind: 'sd-notify' | 'systemd-notify' | 'none'
  ready(status: string): void
  status(text: string): void
  watchdog(): void
  stopping(): void
  /** Watchdog interval in ms requested by systemd for this process, or 0. */
  watchdogIntervalMs(): number
}

interface SdNotifyAddon {
  ready(): void
  stopping(): void
  watchdog(): void
  sendStatus(text: string): void
}

export interface ServiceManagerInit {
  readonly env: Readonly<Record<string, string | undefined>>
  readonly pid: number
  /** Test seam: skip the addon. */
  readonly preferBinary?: boolean
  readonly log?: (line: string) => void
}

export function createServiceManager(init: ServiceManagerInit): ServiceManager {
  const watchdogIntervalMs = (): number => {
    const usec = Number(init.env.WATCHDOG_USEC ?? 0)
    const pidOk = init.env.WATCHDOG_PID === undefined || init.env.WATCHDOG_PID === String(init.pid)
    return pidOk && usec > 0 ? Math.floor(usec / 1000) : 0
  }
  if (init.env.NOTIFY_SOCKET === undefined || init.env.NOTIFY_SOCKET === '') {
    return { kind: 'none', ready: () => {}, status: () => {}, watchdog: () => {}, stopping: () => {}, watchdogIntervalMs }
  }
  if (init.preferBinary !== true) {
    try {
      const addon = createRequire(import.meta.url)('sd-notify') as SdNotifyAddon
      return {
        kind: 'sd-notify',
        ready: (status) => {
          addon.sendStatus(status)
          addon.ready()
        },
        status: (text) => addon.sendStatus(text),
        watchdog: () => addon.watchdog(),
        stopping: () => addon.stopping(),
        watchdogIntervalMs,
      }
    } catch {
      // not built (no libsystemd-dev at install time): use the binary
    }
  }
  const send = (...assignments: string[]): void => {
    execFile('systemd-notify', [`--pid=${init.pid}`, ...assignments], { env: { ...init.env } as NodeJS.ProcessEnv, timeout: 5000 }, (err) => {
      if (err !== null) init.log?.(`systemd-notify failed: ${err.message}`)
    })
  }
  return {
    kind: 'systemd-notify',
    ready: (status) => send('READY=1', `STATUS=${status}`),
    status: (text) => send(`STATUS=${text}`),
    watchdog: () => send('WATCHDOG=1'),
    stopping: () => send('STOPPING=1'),
    watchdogIntervalMs,
  }
}
