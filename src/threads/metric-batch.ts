// Coalesces a worker's metric updates and posts them to the main thread in batches: a busy relay makes
// several updates per request, and one postMessage per update would cost more than the request itself.
import type { MetricUpdate } from './metric-update.ts';

export class MetricBatch {
  #incs = new Map<string, MetricUpdate>();
  #others: MetricUpdate[] = [];
  #timer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly flushTo: (updates: MetricUpdate[]) => void,
    private readonly intervalMs = 200,
    private readonly maxPending = 1000,
  ) {}

  add = (u: MetricUpdate): void => {
    if (u.op === 'inc') {
      // Labels length-prefixed in the order the call site wrote them (no JSON per update, and no two label sets
      // share a key); the same set written in another order only makes a second entry for the same series.
      let key = u.name;
      if (u.labels)
        for (const k in u.labels) {
          const v = u.labels[k]!;
          key += `|${k.length}:${k}${v.length}:${v}`;
        }
      const cur = this.#incs.get(key);
      if (cur) cur.value = (cur.value ?? 1) + (u.value ?? 1);
      else this.#incs.set(key, { ...u, value: u.value ?? 1 });
    } else this.#others.push(u);
    if (this.#others.length >= this.maxPending) this.flush();
    else this.#timer ??= setTimeout(() => this.flush(), this.intervalMs);
  };

  flush(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    if (!this.#incs.size && !this.#others.length) return;
    const updates = [...this.#incs.values(), ...this.#others];
    this.#incs.clear();
    this.#others = [];
    this.flushTo(updates);
  }
}
