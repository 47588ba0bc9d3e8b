// Coalesces a worker's metric updates and posts them to the main thread in batches: a busy relay makes
// several updates per request, and one postMessage per update would cost more than the request itself.
import type { MetricUpdate } from './metric-update.ts';

/** One series' pending change: an `inc` with its summed `value`, or an `observe` with its `values`. */
type Pending = MetricUpdate & { value: number; values: number[] };

/**
 * Series pending per metric name, found by comparing label values (no key string built per update: concatenating
 * and hashing one was most of this class's cost at 64 concurrent requests, issue 14). The lists only hold the series
 * seen since the last flush, a handful per name.
 */
function find(list: Pending[], labels: Record<string, string> | undefined): Pending | undefined {
  for (const p of list) if (sameLabels(p.labels, labels)) return p;
  return undefined;
}

/** The same label set (as values, in any order); `undefined` and `{}` are the same empty set. */
export function sameLabels(a: Record<string, string> | undefined, b: Record<string, string> | undefined): boolean {
  if (a === b) return true;
  let n = 0;
  if (b)
    for (const k in b) {
      if (a?.[k] !== b[k]) return false;
      n++;
    }
  if (a) for (const _ in a) n--;
  return n === 0;
}

export class MetricBatch {
  #incs = new Map<string, Pending[]>();
  #observes = new Map<string, Pending[]>();
  #observed = 0;
  #sets: MetricUpdate[] = [];
  #timer: ReturnType<typeof setTimeout> | null = null;

  /**
   * `maxPending`: observations and `set`s held before a flush comes early (increments are summed, they do not add
   * up). Observations travel as one update per series with a `values` array, so this bounds numbers, not objects.
   */
  constructor(
    private readonly flushTo: (updates: MetricUpdate[]) => void,
    private readonly intervalMs = 200,
    private readonly maxPending = 4096,
  ) {}

  add = (u: MetricUpdate): void => {
    if (u.op === 'inc') {
      const list = this.#incs.get(u.name);
      const cur = list && find(list, u.labels);
      if (cur) cur.value += u.value ?? 1;
      else {
        const p = { name: u.name, op: 'inc', labels: u.labels, value: u.value ?? 1 } as Pending;
        if (list) list.push(p);
        else this.#incs.set(u.name, [p]);
      }
    } else if (u.op === 'observe') {
      const list = this.#observes.get(u.name);
      let cur = list && find(list, u.labels);
      if (!cur) {
        cur = { name: u.name, op: 'observe', labels: u.labels, values: [] as number[] } as Pending;
        if (list) list.push(cur);
        else this.#observes.set(u.name, [cur]);
      }
      // One observation (the relay's per-request case) is pushed as it is: no array made for it (issue 14).
      const vs = u.values;
      if (vs === undefined) {
        cur.values.push(u.value ?? 1);
        this.#observed++;
      } else {
        for (let i = 0; i < vs.length; i++) cur.values.push(vs[i]!);
        this.#observed += vs.length;
      }
    } else this.#sets.push(u);
    if (this.#observed + this.#sets.length >= this.maxPending) this.flush();
    else this.#timer ??= setTimeout(() => this.flush(), this.intervalMs);
  };

  flush(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    if (!this.#incs.size && !this.#observes.size && !this.#sets.length) return;
    const updates: MetricUpdate[] = [];
    for (const list of this.#incs.values()) for (const p of list) updates.push(p.labels ? { name: p.name, op: 'inc', value: p.value, labels: p.labels } : { name: p.name, op: 'inc', value: p.value });
    for (const list of this.#observes.values()) for (const p of list) updates.push(p.labels ? { name: p.name, op: 'observe', values: p.values, labels: p.labels } : { name: p.name, op: 'observe', values: p.values });
    for (const u of this.#sets) updates.push(u);
    this.#incs.clear();
    this.#observes.clear();
    this.#observed = 0;
    this.#sets = [];
    this.flushTo(updates);
  }
}
