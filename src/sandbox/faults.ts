// Fault injection: the failures a real cluster produces at bad moments, on demand.
import type { StreamHooks } from './streams/types.ts';

export interface FaultActions {
  dropWatches(): void;
  compact(): void;
  cutConnections(): void;
}

export class Faults {
  /** Added before every response (and before every upgrade is answered). */
  latencyMs = 0;
  #failures: { remaining: number; code: number } | undefined;
  readonly #actions: FaultActions;
  readonly #hooks: StreamHooks;

  constructor(actions: FaultActions, hooks: StreamHooks) {
    this.#actions = actions;
    this.#hooks = hooks;
  }

  /** Ends every open watch cleanly (the client sees EOF and re-watches from its last resourceVersion). */
  dropWatches(): void {
    this.#actions.dropWatches();
  }

  /** Forgets watch history: re-watches from older resourceVersions get the 410 Expired ERROR event. */
  compact(): void {
    this.#actions.compact();
  }

  /** Destroys every open socket, including long-running watches, log streams and upgraded connections. */
  cutConnections(): void {
    this.#actions.cutConnections();
  }

  /** WebSocket upgrades for exec/attach/port-forward are refused, forcing kubectl's SPDY fallback. */
  get rejectWebSockets(): boolean {
    return this.#hooks.rejectWebSockets;
  }

  set rejectWebSockets(v: boolean) {
    this.#hooks.rejectWebSockets = v;
  }

  /** The next `n` requests (health probes excluded) fail with `code` as a Status. */
  failNext(n: number, code = 500): void {
    this.#failures = n > 0 ? { remaining: n, code } : undefined;
  }

  /** Consumes one injected failure; the status code to answer, if any. */
  takeFailure(): number | undefined {
    const f = this.#failures;
    if (!f) return undefined;
    f.remaining--;
    if (f.remaining <= 0) this.#failures = undefined;
    return f.code;
  }
}
