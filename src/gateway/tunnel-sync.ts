// The tunnel registry convergence engine: keeps the control plane's tunnels of this cluster equal to the discovered
// ones (as the route sync does for Ingress routes). Desired = what discovery says; acknowledged = what the registry
// confirmed. A bulk `sync` first, then `register`/`deregister` per changed tunnel id; a bulk `sync` again
// periodically (5 min, §5.5), on request (reconnect, cluster id change) and to repair after any failed call. One
// call in flight; bursts coalesce because the work is computed when the call is made.
import type { MetricUpdate } from '../threads/metric-update.ts';
import { backoffDelay, NO_JITTER } from '../timing/backoff.ts';
import { realTimers, type Timers } from './route-sync.ts';
import type { TunnelRegistry } from './tunnel-registry-client.ts';
import type { TunnelRegistrationBody } from '../protocol/tunnel-registry-messages.ts';

interface SyncLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

export interface TunnelSyncOptions {
  registry: TunnelRegistry;
  /** Period of the bulk re-sync (default 5 min, §5.5); 0 = none. */
  refreshIntervalMs?: number;
  /** Bulk re-sync after a failed call: base delay doubling up to max. Defaults 5 s … 5 min. */
  repair?: { baseMs: number; maxMs: number };
  timers?: Timers;
  log?: SyncLog;
  metric?: (u: MetricUpdate) => void;
}

export const DEFAULT_TUNNEL_REFRESH_MS = 5 * 60_000;

export class TunnelSync {
  readonly #o: TunnelSyncOptions;
  readonly #timers: Timers;
  /** tunnel id → JSON of the registration body. */
  #desired = new Map<string, string>();
  /** null: nothing acknowledged (start, or the last bulk sync failed). */
  #acked: Map<string, string> | null = null;
  #clusterId = '';
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
  readonly counters = { syncs: 0, registers: 0, deregisters: 0, failures: 0, rejected: 0 };

  constructor(o: TunnelSyncOptions) {
    this.#o = o;
    this.#timers = o.timers ?? realTimers;
  }

  /** The complete discovered set (replaces the previous one). */
  setDesired(tunnels: readonly TunnelRegistrationBody[]): void {
    const next = new Map(tunnels.map((t) => [t.tunnel_id, JSON.stringify(t)]));
    if (next.size === this.#desired.size && [...next].every(([k, v]) => this.#desired.get(k) === v)) return;
    this.#desired = next;
    this.#kick();
  }

  /** The cluster id from registration; nothing is sent before it is known. A change syncs in bulk. */
  setClusterId(id: string): void {
    if (id === this.#clusterId) return;
    this.#clusterId = id;
    this.resync('cluster id');
  }

  resync(reason: string): void {
    this.#needBulk = true;
    this.#bulkReason = reason;
    this.#kick();
  }

  /** Discovery is synced: work may start. Starts the periodic refresh. */
  start(): void {
    if (this.#started || this.#stopped) return;
    this.#started = true;
    this.#scheduleRefresh();
    this.#kick();
  }

  /** Stops; resolves once the call in flight (if any) has ended. */
  stop(): Promise<void> {
    this.#stopped = true;
    this.#timers.clear(this.#refreshTimer);
    this.#timers.clear(this.#repairTimer);
    this.#repairTimer = null;
    this.#wakeIdle();
    return this.#pumping ?? Promise.resolve();
  }

  /** The desired registration bodies (JSON), by tunnel id order of arrival. */
  desiredBodies(): string[] {
    return [...this.#desired.values()];
  }

  get tunnelCount(): number {
    return this.#desired.size;
  }

  /** Nothing to send, nothing in flight, nothing awaiting repair: the registry holds the desired tunnels. */
  get idle(): boolean {
    if (!this.#started || !this.#clusterId || this.#running || this.#needBulk || this.#repairTimer !== null || this.#acked === null) return false;
    return this.#nextWork() === null;
  }

  whenIdle(): Promise<void> {
    if (this.idle || this.#stopped) return Promise.resolve();
    return new Promise((r) => this.#idleWaiters.push(r));
  }

  #nextWork(): { op: 'register' | 'deregister'; id: string } | null {
    const acked = this.#acked;
    if (!acked) return null;
    for (const [id, body] of this.#desired) if (acked.get(id) !== body) return { op: 'register', id };
    for (const id of acked.keys()) if (!this.#desired.has(id)) return { op: 'deregister', id };
    return null;
  }

  #kick(): void {
    if (this.#running || this.#stopped) return;
    this.#running = true;
    this.#pumping = Promise.resolve().then(() => this.#pump());
  }

  async #pump(): Promise<void> {
    try {
      while (!this.#stopped && this.#started && this.#clusterId) {
        if (this.#needBulk) {
          if (this.#repairTimer !== null) break;
          await this.#bulk();
          continue;
        }
        const w = this.#nextWork();
        if (!w) break;
        await this.#one(w.op, w.id);
      }
    } finally {
      this.#running = false;
    }
    if (this.idle || this.#stopped) this.#wakeIdle();
  }

  async #bulk(): Promise<void> {
    this.#needBulk = false;
    const reason = this.#bulkReason;
    const clusterId = this.#clusterId;
    const snapshot = new Map(this.#desired);
    try {
      const { rejected } = await this.#o.registry.sync(clusterId, [...snapshot.values()].map((b) => JSON.parse(b) as TunnelRegistrationBody));
      // Refused entries are acknowledged as sent: asking again changes nothing until the Gateway changes.
      this.#acked = snapshot;
      this.counters.syncs++;
      this.counters.rejected += rejected.length;
      this.#repairAttempt = 0;
      for (const r of rejected) this.#o.log?.warn({ tunnel_id: r.tunnel_id, reason: r.reason }, 'tunnel registry refused a tunnel');
      this.#o.log?.info({ reason, tunnels: snapshot.size, rejected: rejected.length }, 'tunnel registry synced');
      this.#report();
    } catch (e) {
      this.#acked = null;
      this.#failed(e, { operation: 'sync', reason });
    }
  }

  async #one(op: 'register' | 'deregister', id: string): Promise<void> {
    const acked = this.#acked!;
    const body = this.#desired.get(id);
    // Unknown while in flight: if the call fails, a repair sync decides.
    acked.set(id, '\u0000unknown');
    try {
      if (op === 'register' && body !== undefined) {
        await this.#o.registry.register(this.#clusterId, JSON.parse(body) as TunnelRegistrationBody);
        this.counters.registers++;
        acked.set(id, body);
        this.#o.log?.debug({ tunnel_id: id }, 'tunnel registered');
      } else {
        await this.#o.registry.deregister(this.#clusterId, id);
        this.counters.deregisters++;
        acked.delete(id);
        this.#o.log?.debug({ tunnel_id: id }, 'tunnel deregistered');
      }
      this.#report();
    } catch (e) {
      this.#failed(e, { operation: op, tunnel_id: id });
    }
  }

  #failed(e: unknown, ctx: Record<string, unknown>): void {
    this.counters.failures++;
    const repair = this.#o.repair ?? { baseMs: 5000, maxMs: 300_000 };
    const delay = backoffDelay({ ...repair, jitter: NO_JITTER }, this.#repairAttempt++);
    this.#o.log?.warn({ ...ctx, err: (e as Error).message, repair_in_ms: delay }, 'tunnel registry call failed; a bulk sync will repair');
    this.#needBulk = true;
    this.#bulkReason = 'repair';
    if (this.#repairTimer === null) {
      this.#repairTimer = this.#timers.set(() => {
        this.#repairTimer = null;
        this.#kick();
      }, delay);
    }
  }

  #scheduleRefresh(): void {
    const every = this.#o.refreshIntervalMs ?? DEFAULT_TUNNEL_REFRESH_MS;
    if (!(every > 0)) return;
    this.#refreshTimer = this.#timers.set(() => {
      this.resync('periodic refresh');
      this.#scheduleRefresh();
    }, every);
  }

  #report(): void {
    this.#o.metric?.({ name: 'gateway_tunnels_active', op: 'set', value: this.#acked?.size ?? 0 });
  }

  #wakeIdle(): void {
    const w = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const r of w) r();
  }
}
