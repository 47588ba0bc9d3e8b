// Ids of requests and streams that finished recently. A chunk or frame that arrives for one of them is a late
// arrival (the control plane sent it before it saw our answer or close), a normal race and not a protocol error.
export class RecentIds {
  readonly #ids = new Set<string>();

  constructor(private readonly capacity = 4096) {}

  add(id: string): void {
    this.#ids.delete(id);
    this.#ids.add(id);
    // A Set iterates in insertion order: the first entry is the oldest.
    if (this.#ids.size > this.capacity) this.#ids.delete(this.#ids.values().next().value!);
  }

  has(id: string): boolean {
    return this.#ids.has(id);
  }
}
