// Ids of requests and streams that finished recently. A chunk or frame that arrives for one of them is a late
// arrival (the control plane sent it before it saw our answer or close), a normal race and not a protocol error.
export class RecentIds {
  /** id → the sequence number of its latest add. */
  readonly #seq = new Map<string, number>();
  /** Adds in order (id and sequence number); an entry whose number is no longer the id's latest is stale. */
  #ids: string[] = [];
  #seqs: number[] = [];
  #head = 0;
  #next = 0;

  constructor(private readonly capacity = 4096) {}

  // Called once per finished request: an insertion-ordered queue instead of a Set whose oldest entry is found with
  // a fresh iterator on every add once full (issue 14: 3 % of the tunnel worker's CPU at c=64).
  add(id: string): void {
    const n = ++this.#next;
    this.#seq.set(id, n);
    this.#ids.push(id);
    this.#seqs.push(n);
    while (this.#seq.size > this.capacity) {
      const old = this.#ids[this.#head]!;
      if (this.#seq.get(old) === this.#seqs[this.#head]) this.#seq.delete(old);
      this.#head++;
    }
    // Drop the consumed prefix (and stale entries of refreshed ids) once the queue is twice the capacity.
    if (this.#ids.length - this.#head > 2 * this.capacity || this.#head > this.capacity) this.#compact();
  }

  has(id: string): boolean {
    return this.#seq.has(id);
  }

  #compact(): void {
    const ids: string[] = [];
    const seqs: number[] = [];
    for (let i = this.#head; i < this.#ids.length; i++) {
      const id = this.#ids[i]!;
      if (this.#seq.get(id) !== this.#seqs[i]) continue;
      ids.push(id);
      seqs.push(this.#seqs[i]!);
    }
    this.#ids = ids;
    this.#seqs = seqs;
    this.#head = 0;
  }
}
