// The answer timeouts of one exchange table on one timer (issue 14: a setTimeout + clearTimeout per request was
// among the hub's largest costs of its own). Every exchange of a table has the same timeout, so deadlines arrive in
// order: the set is a queue of slots, an exchange that gets its status (or ends) empties its slot, and the timer is
// armed for the oldest exchange still waiting. When it wakes it expires every due exchange and re-arms for the next
// (an emptied slot only makes it wake early and find nothing due). No timer is held while nothing waits.

/** What the queue needs of an exchange: when it expires, and how. */
export interface ExpiringExchange {
  /** `performance.now()` at which the exchange times out. */
  readonly deadlineAt: number;
  expire(): void;
}

const COMPACT_AT = 4096;

export class AnswerDeadlines<T extends ExpiringExchange = ExpiringExchange> {
  #slots: (T | undefined)[] = [];
  /** Index in #slots of the oldest slot that may still be filled. */
  #head = 0;
  /** The ticket of #slots[0]. */
  #base = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;

  /** Exchanges still holding a slot at or after the head (for tests). */
  get size(): number {
    let n = 0;
    for (let i = this.#head; i < this.#slots.length; i++) if (this.#slots[i]) n++;
    return n;
  }

  /** Queue `ex` (its deadline must not be earlier than any queued one's); returns its ticket for `delete`. */
  add(ex: T): number {
    const ticket = this.#base + this.#slots.length;
    this.#slots.push(ex);
    if (!this.#timer) this.#arm(ex.deadlineAt);
    return ticket;
  }

  /** The exchange of `ticket` no longer waits (answered, failed or gone). */
  delete(ticket: number): void {
    const i = ticket - this.#base;
    if (i < this.#head || i >= this.#slots.length) return;
    this.#slots[i] = undefined;
    if (i === this.#head) this.#advance();
  }

  #advance(): void {
    const s = this.#slots;
    let h = this.#head;
    while (h < s.length && s[h] === undefined) h++;
    if (h === s.length) {
      // Nothing waits: drop the slots and the timer.
      this.#base += s.length;
      this.#slots = [];
      this.#head = 0;
      clearTimeout(this.#timer);
      this.#timer = undefined;
      return;
    }
    if (h >= COMPACT_AT && h * 2 >= s.length) {
      this.#slots = s.slice(h);
      this.#base += h;
      h = 0;
    }
    this.#head = h;
  }

  #arm(at: number): void {
    this.#timer = setTimeout(() => this.#wake(), Math.max(0, Math.ceil(at - performance.now())));
  }

  #wake(): void {
    this.#timer = undefined;
    const now = performance.now();
    for (;;) {
      const s = this.#slots;
      const h = this.#head;
      if (h >= s.length) break;
      const ex = s[h];
      if (ex && ex.deadlineAt > now) break;
      s[h] = undefined;
      this.#head = h + 1;
      ex?.expire();
    }
    this.#advance();
    if (this.#slots.length && !this.#timer) this.#arm(this.#slots[this.#head]!.deadlineAt);
  }
}
