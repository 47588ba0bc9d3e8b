// Collects a worker's garbage once it has gone quiet after a burst of work. JavaScriptCore collects when a thread
// allocates, so a relay that goes idle right after a burst (c=64 small requests, a 64 MiB download) keeps that
// burst's garbage, and the RSS it occupies, until its next burst: measured +17 MiB of tunnel-worker heap two
// seconds after c=64 (docs/benchmarks.md, Memory). One full collection after a quiet second gives it back.

export interface QuietCollectorOptions {
  /** Collect once nothing happened for this long after the last activity. */
  quietMs: number;
  /** The collection (runtime.collectGarbage in the workers). */
  collect(): void;
}

/** Decides when to collect; the caller reports activity (`poke`) and calls `tick` periodically (see `start`). */
export class QuietCollector {
  #lastActivity = 0;
  #dirty = false;
  /** Collections run so far (diagnostics and tests). */
  collections = 0;

  constructor(private readonly o: QuietCollectorOptions) {}

  /** Something happened on this thread (a request relayed, a batch of metrics posted). */
  poke(now: number): void {
    this.#lastActivity = now;
    this.#dirty = true;
  }

  /** Collects if there was activity since the last collection and none for `quietMs`; true when it collected. */
  tick(now: number): boolean {
    if (!this.#dirty || now - this.#lastActivity < this.o.quietMs) return false;
    this.#dirty = false;
    this.collections++;
    this.o.collect();
    return true;
  }

  /** Ticks every `quietMs / 2` on a timer that does not keep the thread alive; returns the stop function. */
  start(now: () => number = Date.now): () => void {
    const t = setInterval(() => this.tick(now()), Math.max(50, this.o.quietMs / 2));
    (t as { unref?: () => void }).unref?.();
    return () => clearInterval(t);
  }
}
