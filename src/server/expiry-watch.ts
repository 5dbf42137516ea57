/**
 * Certificate expiry per binding (IMDS mode: its one role): remembered at each CreateSession,
 * reported as a metric, a warning when within the warning period, and an anonymous summary for /healthz.
 */

export interface ExpiryWatchInit {
  readonly warnDays: number
  readonly now: () => Date
  readonly warn: (msg: string, extra: Record<string, unknown>) => void
  readonly onNotAfter?: (binding: string, notAfter: Date) => void
}

export class ExpiryWatch {
  readonly #notAfter = new Map<string, Date>()
  constructor(private readonly init: ExpiryWatchInit) {}

  /** `subject` names the certificate in the warning (default: by its binding). */
  record(binding: string, notAfter: Date, subject?: string): void {
    this.#notAfter.set(binding, notAfter)
    this.init.onNotAfter?.(binding, notAfter)
    const days = (notAfter.getTime() - this.init.now().getTime()) / 86_400_000
    if (days < this.init.warnDays) {
      this.init.warn(`the certificate ${subject ?? `of binding ${binding}`} expires on ${notAfter.toISOString()}, in ${days.toFixed(1)} days: renew it`, {
        binding,
        notAfter: notAfter.toISOString(),
        daysLeft: Number(days.toFixed(2)),
      })
    }
  }

  /** Forgets bindings that no longer exist; returns the names forgotten. */
  retain(existing: ReadonlySet<string>): string[] {
    const gone = [...this.#notAfter.keys()].filter((b) => !existing.has(b))
    for (const b of gone) this.#notAfter.delete(b)
    return gone
  }

  /** For /healthz: how many certificates expire soon and the earliest date, without binding names. */
  summary(): { expiringSoon: number; earliest: Date | undefined } {
    const limit = this.init.now().getTime() + this.init.warnDays * 86_400_000
    const soon = [...this.#notAfter.values()].filter((d) => d.getTime() < limit).sort((a, b) => a.getTime() - b.getTime())
    return { expiringSoon: soon.length, earliest: soon[0] }
  }
}
