/**
 * One answer per key per event-loop turn. The requests a server handles in one turn were all waiting
 * in its sockets when the turn began, so one look at a file answers for all of them (as if they had
 * come in a few microseconds apart, which they did); the next turn looks again. A look that throws
 * is not kept: the next request looks again.
 */
export type AfterTurn = (forget: () => void) => void

export class TurnMemo<V> {
  readonly #seen = new Map<string, V>()

  /** `afterTurn` runs `forget` when the current turn is over (a server passes `setImmediate`). */
  constructor(readonly afterTurn: AfterTurn) {}

  get(key: string, look: () => V): V {
    const seen = this.#seen.get(key)
    if (seen !== undefined) return seen
    const value = look()
    if (this.#seen.size === 0) this.afterTurn(() => this.#seen.clear())
    this.#seen.set(key, value)
    return value
  }
}
