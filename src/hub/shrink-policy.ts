// Whether the hub's quiet collection also shrinks (drops every compiled function and returns free pages), or only
// collects. A shrink after a burst of gateway requests threw away the relay's optimised code, and the next burst
// paid to compile it again: 9–18 µs of JIT-thread CPU per request for seconds after every quiet pause (issue 14,
// bench/relay-floor.ts --threads: ~0.4 s of CPU per shrink at 64 concurrent requests). Agent-session activity
// alone (registrations, heartbeats) keeps shrinking as before: that is what keeps an idle session small
// (docs/benchmarks.md, RSS per idle session).

/** After the last gateway request, quiet collections keep compiled code this long. */
export const KEEP_RELAY_CODE_MS = 60_000;

export class ShrinkPolicy {
  #relayed = false;
  #lastRelayAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly keepMs = KEEP_RELAY_CODE_MS) {}

  /** A gateway request started or ended: a flag, read by the next decision (hot path, no clock read). */
  relayed(): void {
    this.#relayed = true;
  }

  /**
   * A quiet collection runs at `now`: true when it may shrink, that is when no gateway request was seen for
   * `keepMs` (a request since the last decision counts as seen at `now`, a quiet second after it).
   */
  shrinkAt(now: number): boolean {
    if (this.#relayed) {
      this.#relayed = false;
      this.#lastRelayAt = now;
    }
    return now - this.#lastRelayAt >= this.keepMs;
  }
}
