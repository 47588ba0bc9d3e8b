// Collects a thread's garbage once it has gone quiet after a burst of work. JavaScriptCore collects when a thread
// allocates, so a relay that goes idle right after a burst (c=64 small requests, a 64 MiB download) keeps that
// burst's garbage, and the RSS it occupies, until its next burst: measured +17 MiB of tunnel-worker heap two
// seconds after c=64 (docs/benchmarks.md, Memory). A full collection after a quiet second gives it back. Every
// thread of the agent runs one: the workers through collectWhenQuiet, the main thread in agent/run.ts.
// Shrinking (the collection, then compiled code dropped and free pages handed back to the system) also returns the
// start-up code and pages, but code dropped is code recompiled on the next request: it runs after start-up (that code
// never runs again) and after a long quiet, not after every burst (measured: +10–20 µs of agent CPU per request when
// every quiet second shrank).
import { runtime } from '#runtime';
import type { WorkerPort } from '../runtime/worker-port.ts';

/** A quiet second after the last activity, the thread collects once. */
export const QUIET_COLLECT_MS = 1000;
/** After this long without activity the thread also shrinks. */
export const QUIET_SHRINK_MS = 30_000;

export interface QuietCollectorOptions {
  /** Collect once nothing happened for this long after the last activity. */
  quietMs: number;
  /** Shrink once nothing happened for this long (and at the first collection, after start-up). */
  shrinkMs: number;
  /** The collection (runtime.collectGarbage). */
  collect(o: { shrink: boolean }): void;
}

/** Decides when to collect; the caller reports activity (`poke`) and calls `tick` periodically (see `start`). */
export class QuietCollector {
  #lastActivity = 0;
  #active = false;
  #collected = true;
  #shrunk = true;
  #startedUp = false;
  /** Collections run so far, and how many of them shrank (diagnostics and tests). */
  collections = 0;
  shrinks = 0;

  constructor(private readonly o: QuietCollectorOptions) {}

  /** Something happened on this thread (a request relayed, a batch of metrics posted). */
  poke(now: number): void {
    this.#lastActivity = now;
    this.#active = true;
    this.#collected = false;
    this.#shrunk = false;
  }

  /** Collects (or shrinks) when the thread has been quiet long enough since its last activity; true when it did. */
  tick(now: number): boolean {
    if (!this.#active) return false;
    const quiet = now - this.#lastActivity;
    const shrink = !this.#shrunk && (quiet >= this.o.shrinkMs || (!this.#startedUp && quiet >= this.o.quietMs));
    if (!shrink && (this.#collected || quiet < this.o.quietMs)) return false;
    this.#collected = true;
    this.#startedUp = true;
    if (shrink) {
      this.#shrunk = true;
      this.shrinks++;
    }
    this.collections++;
    this.o.collect({ shrink });
    return true;
  }

  /** Ticks every `quietMs / 2` on a timer that does not keep the thread alive; returns the stop function. */
  start(now: () => number = Date.now): () => void {
    const t = setInterval(() => this.tick(now()), Math.max(50, this.o.quietMs / 2));
    (t as { unref?: () => void }).unref?.();
    return () => clearInterval(t);
  }
}

/**
 * The worker's port, with every message it posts (metrics, logs, results) counted as activity for its QuietCollector
 * (workers/*.ts wrap their port with it).
 */
export function collectWhenQuiet<In, Out>(port: WorkerPort<In, Out>): WorkerPort<In, Out> {
  const quiet = new QuietCollector({ quietMs: QUIET_COLLECT_MS, shrinkMs: QUIET_SHRINK_MS, collect: (o) => runtime.collectGarbage(o) });
  quiet.start();
  return {
    post: (m, transfer) => {
      quiet.poke(Date.now());
      port.post(m, transfer);
    },
    onMessage: (handler) => port.onMessage(handler),
  };
}
