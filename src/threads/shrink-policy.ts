// Whether a relaying thread's quiet collection also shrinks (drops every compiled function and returns free pages),
// or only collects: the hub's (gateway requests are its relay traffic) and the agent's tunnel worker's (relay
// messages from the hub: src/threads/quiet-collector.ts, markThreadRelayed). A shrink after a burst of requests threw
// away the relay's optimised code, and the next burst paid to compile it again: 9–18 µs of JIT-thread CPU per request
// in the hub, ≈ 11 µs in the agent's tunnel worker, for seconds after every quiet pause (issue 14, bench/relay-floor.ts
// --threads). Control traffic alone (registrations, heartbeats) keeps shrinking as before: that is what keeps an idle
// hub session and an idle agent small (docs/benchmarks.md, Memory).

/** After the last relayed request, quiet collections keep compiled code this long. */
export const KEEP_RELAY_CODE_MS = 60_000;

export class ShrinkPolicy {
  #relayed = false;
  #lastRelayAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly keepMs = KEEP_RELAY_CODE_MS) {}

  /** A relayed request or message was seen: a flag, read by the next decision (hot path, no clock read). */
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
