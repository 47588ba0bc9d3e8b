// Absolute deadlines of any distance, many on one timer, kept on the caller's own records: the hub's answer timeouts
// (src/hub/agent-relay/agent-exchanges.ts, over its exchanges) and the agent's per-request deadlines
// (src/tunnel/http-relay.ts, over its requests in flight).
// `setTimeout` clamps delays above 2^31-1 ms (24.8 days) to 1 ms, so a far deadline (a `timeout: "600h"` or
// `deadline: "9999-12-31T00:00:00Z"` from the control plane) would fire at once; these wait in steps of at most that
// long and fire only when the deadline is reached.
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

/** A record a {@link DeadlineSweep} watches: its deadline in clock ms (Infinity: none, or already expired). */
export interface Expiring {
  deadlineAt: number;
}

/**
 * Deadlines kept on the caller's own records instead of entries of their own: no entry, closure or set operation per
 * record (issue 14: the HTTP relay's per-request deadline was measurable at c=64). One timer is armed for the earliest
 * deadline it was told of; when it wakes it scans the records, expires every one that is due (its `deadlineAt` set to
 * Infinity first) and re-arms for the earliest left. A record that finishes leaves the collection and sets its
 * `deadlineAt` to Infinity; at worst the timer wakes for it and finds nothing due. Far deadlines wait in steps of at
 * most MAX_TIMER_DELAY_MS. Suits a collection the caller scans cheaply (requests in flight).
 */
export class DeadlineSweep<T extends Expiring> {
  readonly #records: () => Iterable<T>;
  readonly #expire: (r: T) => void;
  readonly #now: () => number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** When the armed timer wakes (clock ms); Infinity when none is armed. */
  #armedAt = Number.POSITIVE_INFINITY;

  constructor(records: () => Iterable<T>, expire: (r: T) => void, now: () => number = Date.now) {
    this.#records = records;
    this.#expire = expire;
    this.#now = now;
  }

  /** A record's `deadlineAt` was set to `at`: the timer is brought forward when `at` is earlier than its wake. */
  watch(at: number): void {
    if (at < this.#armedAt) this.#arm(at);
  }

  /** No record is left: the timer goes (the next `watch` arms it again). */
  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedAt = Number.POSITIVE_INFINITY;
  }

  #arm(at: number): void {
    clearTimeout(this.#timer);
    const now = this.#now();
    const delay = Math.min(Math.max(0, at - now), MAX_TIMER_DELAY_MS);
    this.#armedAt = now + delay;
    this.#timer = setTimeout(() => this.#wake(), delay);
  }

  #wake(): void {
    this.#timer = undefined;
    this.#armedAt = Number.POSITIVE_INFINITY;
    const now = this.#now();
    let next = Number.POSITIVE_INFINITY;
    const due: T[] = [];
    for (const r of this.#records()) {
      if (r.deadlineAt <= now) due.push(r);
      else if (r.deadlineAt < next) next = r.deadlineAt;
    }
    for (const r of due) r.deadlineAt = Number.POSITIVE_INFINITY;
    if (next !== Number.POSITIVE_INFINITY) this.#arm(next);
    // One expiry that throws does not keep the others from running (each had a timer of its own once); the first error
    // is rethrown after.
    let failed = false;
    let error: unknown;
    for (const r of due)
      try {
        this.#expire(r);
      } catch (x) {
        if (!failed) error = x;
        failed = true;
      }
    if (failed) throw error;
  }
}
