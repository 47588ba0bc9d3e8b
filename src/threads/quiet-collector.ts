// Collects a thread's garbage once it has gone quiet after a burst of work. JavaScriptCore collects when a thread
// allocates, so a relay that goes idle right after a burst (c=64 small requests, a 64 MiB download) keeps that
// burst's garbage, and the RSS it occupies, until its next burst: measured +17 MiB of tunnel-worker heap two
// seconds after c=64 (docs/benchmarks.md, Memory). Every thread of the agent runs one (the workers through
// collectWhenQuiet, the main thread in agent/run.ts), as does the hub (src/hub/server.ts: agent messages and
// gateway requests are its activity, at most one collection per 10 s). A collection also shrinks (compiled code
// dropped, free pages back to the system, which returns the start-up code that never runs again), except within a
// minute of relayed traffic on a thread that relays (src/threads/shrink-policy.ts): a shrink after every quiet second
// made the next burst compile the relay again, 11 µs of JIT CPU per request for seconds after each pause.
import { runtime } from '#runtime';
import type { WorkerPort } from '../runtime/worker-port.ts';
import { KEEP_RELAY_CODE_MS, ShrinkPolicy } from './shrink-policy.ts';

/** A quiet second after the last activity, the thread collects once. */
export const QUIET_COLLECT_MS = 1000;

export interface QuietCollectorOptions {
  /** Collect once nothing happened for this long after the last activity. */
  quietMs: number;
  /** The collection (runtime.collectGarbage, with shrink or not). */
  collect(): void;
  /**
   * At least this long between two collections (default 0): sparse activity (one message every couple of seconds)
   * otherwise earns a full collection after each message. The activity stays noted and is collected once it passes.
   */
  minIntervalMs?: number;
}

/** Decides when to collect; the caller reports activity (`poke`) and calls `tick` periodically (see `start`). */
export class QuietCollector {
  #lastActivity = 0;
  #dirty = false;
  #touched = false;
  #lastCollection = Number.NEGATIVE_INFINITY;
  /** Collections run so far (diagnostics and tests). */
  collections = 0;

  constructor(private readonly o: QuietCollectorOptions) {}

  /** Something happened on this thread at `now` (tests drive the clock; production code calls `touch`). */
  poke(now: number): void {
    this.#lastActivity = now;
    this.#dirty = true;
  }

  /**
   * Something happened, without reading the clock: for hot paths (every frame a socket receives). The next `tick`
   * counts it as activity at its own time, so the quiet period is measured from that tick.
   */
  touch(): void {
    this.#touched = true;
  }

  /** Collects if there was activity since the last collection and none for `quietMs`; true when it collected. */
  tick(now: number): boolean {
    if (this.#touched) {
      this.#touched = false;
      this.poke(now);
    }
    if (!this.#dirty || now - this.#lastActivity < this.o.quietMs) return false;
    if (now - this.#lastCollection < (this.o.minIntervalMs ?? 0)) return false;
    this.#dirty = false;
    this.#lastCollection = now;
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

/** The collection every thread of the agent that does not relay runs when quiet (the main thread, ingress sync). */
export const collectAndShrink = () => runtime.collectGarbage({ shrink: true });

/**
 * A thread's quiet collection under a shrink policy: it shrinks only when the policy allows (no relayed traffic for
 * its keep time), else it collects and keeps the compiled code. Returns whether it shrank.
 */
export function collectUnder(policy: ShrinkPolicy, now: () => number = Date.now, collect = (o: { shrink: boolean }) => runtime.collectGarbage(o)): () => boolean {
  return () => {
    const shrink = policy.shrinkAt(now());
    collect({ shrink });
    return shrink;
  };
}

/**
 * The worker's port, with every message it posts (metrics, logs, results) counted as activity for its QuietCollector
 * (workers/*.ts wrap their port with it). The collection shrinks unless the thread relayed within a minute
 * (markThreadRelayed). `o` is for tests: shorter times, and a collection that records instead of collecting.
 */
export function collectWhenQuiet<In, Out>(
  port: WorkerPort<In, Out>,
  o: { quietMs?: number; keepMs?: number; collect?: (o: { shrink: boolean }) => void } = {},
): WorkerPort<In, Out> {
  const keepMs = o.keepMs ?? KEEP_RELAY_CODE_MS;
  const policy = new ShrinkPolicy(keepMs);
  const collect = collectUnder(policy, Date.now, o.collect);
  // A collection that kept the code comes back once the keep time is over, to shrink if the thread stayed quiet.
  let later: ReturnType<typeof setTimeout> | undefined;
  const quiet = new QuietCollector({
    quietMs: o.quietMs ?? QUIET_COLLECT_MS,
    collect: () => {
      clearTimeout(later);
      if (collect()) return;
      later = setTimeout(() => quiet.touch(), keepMs);
      (later as { unref?: () => void }).unref?.();
    },
  });
  threadCollector = quiet;
  threadShrinkPolicy = policy;
  quiet.start();
  return {
    post: (m, transfer) => {
      quiet.touch();
      port.post(m, transfer);
    },
    onMessage: (handler) => port.onMessage(handler),
  };
}

/** This thread's collector and shrink policy, once collectWhenQuiet made them. */
let threadCollector: QuietCollector | null = null;
let threadShrinkPolicy: ShrinkPolicy | null = null;

/**
 * Marks this thread busy for its quiet collection. For work that posts nothing to the main thread — the tunnel
 * worker relaying L4 bytes or a long download answers only to the hub — so that it does not collect every second
 * while it is working (an L4 echo round trip went from 0.035 to 0.14 ms that way).
 */
export function markThreadBusy(): void {
  threadCollector?.touch();
}

/**
 * This thread relayed something (a request, a stream's data): its quiet collections keep the compiled relay code
 * for the policy's keep time (a flag, no clock read: hot path).
 */
export function markThreadRelayed(): void {
  threadShrinkPolicy?.relayed();
}
