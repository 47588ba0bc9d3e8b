// The scheduling skeleton both registry convergence engines share (RouteSync for Ingress routes, TunnelSync for
// Gateway tunnels): one call in flight, a bulk sync first and then per-item calls, a bulk sync again periodically,
// on request and — after a growing delay — to repair after any failed call; `whenIdle` for tests and shutdown.
// Subclasses say what "ready", a bulk sync, one per-item step and "converged" mean; the timers, the repair backoff
// and the pump live here once.
import { backoffDelay, NO_JITTER } from '../timing/backoff.ts';

export interface Timers {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

export const realTimers: Timers = {
  set: (fn, ms) => setTimeout(fn, ms),
  clear: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

export interface SyncLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

export interface ConvergenceOptions {
  /** Period of the bulk re-sync; 0 or undefined = none. */
  refreshIntervalMs?: number;
  /** Bulk re-sync after a failed call: base delay doubling up to max. Defaults 5 s … 5 min. */
  repair?: { baseMs: number; maxMs: number };
  timers?: Timers;
  log?: SyncLog;
}

const DEFAULT_REPAIR = { baseMs: 5000, maxMs: 300_000 };

export abstract class ConvergenceLoop {
  protected readonly timers: Timers;
  readonly #opts: ConvergenceOptions;
  /** The registry's name in log lines ("route registry", "tunnel registry"). */
  readonly #what: string;
  #needBulk = true;
  #bulkReason = 'startup';
  #started = false;
  #stopped = false;
  #running = false;
  #pumping: Promise<void> | null = null;
  #repairTimer: unknown = null;
  #repairAttempt = 0;
  #refreshTimer: unknown = null;
  #idleWaiters: (() => void)[] = [];

  protected constructor(opts: ConvergenceOptions, what: string) {
    this.#opts = opts;
    this.#what = what;
    this.timers = opts.timers ?? realTimers;
  }

  // ---- what a subclass provides ----

  /** Whether anything may be sent yet (the cluster id or target is known). */
  protected abstract ready(): boolean;
  /** One bulk sync. It reports its own failure through `failed` and its success through `bulkSucceeded`. */
  protected abstract bulk(reason: string): Promise<void>;
  /** One per-item call, if there is one to make now; false when there is nothing (or nothing allowed) to do. */
  protected abstract step(repairPending: boolean): Promise<boolean>;
  /** Whether the registry is known to hold exactly the desired set (given a bulk sync has been acknowledged). */
  protected abstract converged(): boolean;

  // ---- inputs ----

  /** Ask for a bulk sync (reconnect, periodic refresh, repair, identity change). */
  resync(reason: string): void {
    this.#needBulk = true;
    this.#bulkReason = reason;
    this.kick();
  }

  /** The inputs are synced: work may start. Starts the periodic refresh. */
  start(): void {
    if (this.#started || this.#stopped) return;
    this.#started = true;
    this.#scheduleRefresh();
    this.kick();
  }

  /** Stops; resolves once the call in flight (if any) has ended, so nothing is sent afterwards. */
  stop(): Promise<void> {
    this.#stopped = true;
    this.timers.clear(this.#refreshTimer);
    this.timers.clear(this.#repairTimer);
    this.#repairTimer = null;
    this.#wakeIdle();
    return this.#pumping ?? Promise.resolve();
  }

  // ---- state ----

  /** Nothing to send, nothing in flight, nothing awaiting repair: the registry holds the desired set. */
  get idle(): boolean {
    if (!this.#started || !this.ready() || this.#running || this.#needBulk || this.#repairTimer !== null) return false;
    return this.converged();
  }

  /** Resolves the next time the engine is idle (or stopped). */
  whenIdle(): Promise<void> {
    if (this.idle || this.#stopped) return Promise.resolve();
    return new Promise((r) => this.#idleWaiters.push(r));
  }

  // ---- for subclasses ----

  /** Something changed: run the pump unless it is running (it recomputes its work on every turn). */
  protected kick(): void {
    if (this.#running || this.#stopped) return;
    this.#running = true;
    this.#pumping = Promise.resolve().then(() => this.#pump());
  }

  /** A bulk sync was acknowledged: the repair backoff starts again from its base. */
  protected bulkSucceeded(): void {
    this.#repairAttempt = 0;
  }

  /** A call failed after its retries: repair with a bulk sync after a growing delay. */
  protected failed(e: unknown, ctx: Record<string, unknown>): void {
    const delay = backoffDelay({ ...(this.#opts.repair ?? DEFAULT_REPAIR), jitter: NO_JITTER }, this.#repairAttempt++);
    this.#opts.log?.warn({ ...ctx, err: (e as Error).message, repair_in_ms: delay }, `${this.#what} call failed; a bulk sync will repair`);
    this.#needBulk = true;
    this.#bulkReason = 'repair';
    if (this.#repairTimer === null) {
      this.#repairTimer = this.timers.set(() => {
        this.#repairTimer = null;
        this.kick();
      }, delay);
    }
  }

  // ---- internals ----

  async #pump(): Promise<void> {
    try {
      while (!this.#stopped && this.#started && this.ready()) {
        if (this.#needBulk && this.#repairTimer === null) {
          this.#needBulk = false;
          await this.bulk(this.#bulkReason);
          continue;
        }
        if (!(await this.step(this.#needBulk))) break;
      }
    } finally {
      this.#running = false;
    }
    if (this.idle || this.#stopped) this.#wakeIdle();
  }

  #scheduleRefresh(): void {
    const every = this.#opts.refreshIntervalMs ?? 0;
    if (!(every > 0)) return;
    this.#refreshTimer = this.timers.set(() => {
      this.resync('periodic refresh');
      this.#scheduleRefresh();
    }, every);
  }

  #wakeIdle(): void {
    const w = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const r of w) r();
  }
}
