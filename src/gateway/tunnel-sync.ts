// The tunnel registry convergence engine: keeps the control plane's tunnels of this cluster equal to the discovered
// ones (as the route sync does for Ingress routes). Desired = what discovery says; acknowledged = what the registry
// confirmed. A bulk `sync` first, then `register`/`deregister` per changed tunnel id; a bulk `sync` again
// periodically (5 min, §5.5), on request (reconnect, cluster id change) and to repair after any failed call. One
// call in flight; bursts coalesce because the work is computed when the call is made.
import type { MetricUpdate } from '../threads/metric-update.ts';
import { ConvergenceLoop, type SyncLog, type Timers } from './convergence-loop.ts';
import type { TunnelRegistry } from './tunnel-registry-client.ts';
import type { TunnelRegistrationBody } from '../protocol/tunnel-registry-messages.ts';

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

export class TunnelSync extends ConvergenceLoop {
  readonly #o: TunnelSyncOptions;
  /** tunnel id → JSON of the registration body. */
  #desired = new Map<string, string>();
  /** null: nothing acknowledged (start, or the last bulk sync failed). */
  #acked: Map<string, string> | null = null;
  #clusterId = '';
  readonly counters = { syncs: 0, registers: 0, deregisters: 0, failures: 0, rejected: 0 };

  constructor(o: TunnelSyncOptions) {
    super({ ...o, refreshIntervalMs: o.refreshIntervalMs ?? DEFAULT_TUNNEL_REFRESH_MS }, 'tunnel registry');
    this.#o = o;
  }

  /** The complete discovered set (replaces the previous one). */
  setDesired(tunnels: readonly TunnelRegistrationBody[]): void {
    const next = new Map(tunnels.map((t) => [t.tunnel_id, JSON.stringify(t)]));
    if (next.size === this.#desired.size && [...next].every(([k, v]) => this.#desired.get(k) === v)) return;
    this.#desired = next;
    this.kick();
  }

  /** The cluster id from registration; nothing is sent before it is known. A change syncs in bulk. */
  setClusterId(id: string): void {
    if (id === this.#clusterId) return;
    this.#clusterId = id;
    this.resync('cluster id');
  }

  /** The desired registration bodies (JSON), by tunnel id order of arrival. */
  desiredBodies(): string[] {
    return [...this.#desired.values()];
  }

  get tunnelCount(): number {
    return this.#desired.size;
  }

  protected ready(): boolean {
    return this.#clusterId !== '';
  }

  protected converged(): boolean {
    return this.#acked !== null && this.#nextWork() === null;
  }

  protected async step(repairPending: boolean): Promise<boolean> {
    // A failed call leaves the acknowledged state in doubt: only the repair sync proceeds.
    if (repairPending) return false;
    const w = this.#nextWork();
    if (!w) return false;
    await this.#one(w.op, w.id);
    return true;
  }

  #nextWork(): { op: 'register' | 'deregister'; id: string } | null {
    const acked = this.#acked;
    if (!acked) return null;
    for (const [id, body] of this.#desired) if (acked.get(id) !== body) return { op: 'register', id };
    for (const id of acked.keys()) if (!this.#desired.has(id)) return { op: 'deregister', id };
    return null;
  }

  protected async bulk(reason: string): Promise<void> {
    const clusterId = this.#clusterId;
    const snapshot = new Map(this.#desired);
    try {
      const { rejected } = await this.#o.registry.sync(clusterId, [...snapshot.values()].map((b) => JSON.parse(b) as TunnelRegistrationBody));
      // Refused entries are acknowledged as sent: asking again changes nothing until the Gateway changes.
      this.#acked = snapshot;
      this.counters.syncs++;
      this.counters.rejected += rejected.length;
      this.bulkSucceeded();
      for (const r of rejected) this.#o.log?.warn({ tunnel_id: r.tunnel_id, reason: r.reason }, 'tunnel registry refused a tunnel');
      this.#o.log?.info({ reason, tunnels: snapshot.size, rejected: rejected.length }, 'tunnel registry synced');
      this.#report();
    } catch (e) {
      this.#acked = null;
      this.counters.failures++;
      this.failed(e, { operation: 'sync', reason });
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
      this.counters.failures++;
      this.failed(e, { operation: op, tunnel_id: id });
    }
  }

  #report(): void {
    this.#o.metric?.({ name: 'gateway_tunnels_active', op: 'set', value: this.#acked?.size ?? 0 });
  }
}
