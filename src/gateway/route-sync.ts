// The convergence engine (deviations G1–G3): keeps the control plane's route registry equal to the routes of the
// managed Ingresses. Desired state = what the informers say; acknowledged state = what the registry confirmed.
// One bulk `sync` first (also when empty), then `register`/`unregister` per changed host (a host that lost a path is
// unregistered and registered again, so registries keyed by host and path drop it too); a bulk `sync` again
// periodically, on request (reconnect) and to repair after any failed call. One call in flight; bursts coalesce
// because work is "hosts whose desired routes differ from the acknowledged ones", computed when the call is made.
import type { MetricUpdate } from '../threads/metric-update.ts';
import { registerBody, type SyncTarget, syncBody } from './route-payloads.ts';
import { compareRoutes, type IngressRoutes, type Route } from './route-extraction.ts';
import type { RouteRegistry } from './route-registry-client.ts';
import { ConvergenceLoop, type SyncLog, type Timers } from './convergence-loop.ts';


export interface RouteSyncOptions {
  registry: RouteRegistry;
  /** Period of the bulk re-sync (agent.gateway_route_refresh_interval, default 4 h). */
  refreshIntervalMs: number;
  /** Bulk re-sync after a failed call: base delay doubling up to max. Defaults 5 s … 5 min. */
  repair?: { baseMs: number; maxMs: number };
  timers?: Timers;
  log?: SyncLog;
  metric?: (u: MetricUpdate) => void;
}

/** A host whose acknowledged state is unknown (a call for it failed): it differs from anything desired. */
const UNKNOWN = Symbol('unknown');
type Acked = Map<string, string[] | typeof UNKNOWN>;

export interface SyncCounters {
  syncs: number;
  registers: number;
  unregisters: number;
  failures: number;
}

export class RouteSync extends ConvergenceLoop {
  readonly #o: RouteSyncOptions;
  readonly #desired = new Map<string, IngressRoutes>();
  /** host → keys of the Ingresses with a route for it. */
  readonly #hosts = new Map<string, Set<string>>();
  /** null: nothing acknowledged yet, or the last bulk sync failed — only a bulk sync can proceed. */
  #acked: Acked | null = null;
  readonly #dirty = new Set<string>();
  #target: SyncTarget | null = null;
  readonly counters: SyncCounters = { syncs: 0, registers: 0, unregisters: 0, failures: 0 };

  constructor(o: RouteSyncOptions) {
    super(o, 'route registry');
    this.#o = o;
  }

  // ---- inputs ----

  /** The Ingress's current routes (a managed Ingress was added or changed). */
  setIngress(rec: IngressRoutes): void {
    const old = this.#desired.get(rec.key);
    if (old && sameRoutes(old, rec)) {
      this.#desired.set(rec.key, rec);
      return;
    }
    this.#desired.set(rec.key, rec);
    this.#reindex(rec.key, old, rec);
    this.kick();
  }

  /** The Ingress is gone or no longer managed. */
  removeIngress(key: string): void {
    const old = this.#desired.get(key);
    if (!old) return;
    this.#desired.delete(key);
    this.#reindex(key, old, undefined);
    this.kick();
  }

  /** Who we are and where routes point; null while unknown (nothing is sent). A change re-syncs in bulk. */
  setTarget(t: SyncTarget | null): void {
    const changed = JSON.stringify(t) !== JSON.stringify(this.#target);
    this.#target = t;
    if (changed && t && this.#acked !== null) this.resync('target changed');
    else this.kick();
  }

  // ---- outputs ----

  /** Every desired route, in canonical order. */
  routes(): Route[] {
    const out: Route[] = [];
    for (const rec of this.#desired.values()) out.push(...rec.routes);
    return out.sort(compareRoutes);
  }

  get routeCount(): number {
    let n = 0;
    for (const rec of this.#desired.values()) n += rec.routes.length;
    return n;
  }

  protected ready(): boolean {
    return this.#target !== null;
  }

  protected converged(): boolean {
    if (this.#acked === null) return false;
    for (const h of this.#dirty) if (!this.#hostInSync(h)) return false;
    for (const v of this.#acked.values()) if (v === UNKNOWN) return false;
    return true;
  }

  // ---- internals ----

  #reindex(key: string, old: IngressRoutes | undefined, cur: IngressRoutes | undefined): void {
    const before = new Set(old?.routes.map((r) => r.host));
    const after = new Set(cur?.routes.map((r) => r.host));
    for (const h of before) {
      this.#dirty.add(h);
      if (!after.has(h)) {
        const s = this.#hosts.get(h);
        s?.delete(key);
        if (s?.size === 0) this.#hosts.delete(h);
      }
    }
    for (const h of after) {
      this.#dirty.add(h);
      const s = this.#hosts.get(h) ?? new Set<string>();
      this.#hosts.set(h, s);
      s.add(key);
    }
  }

  /** Register bodies of a host's routes in canonical order (a registry keeps the last one of a host, or of a host and path). */
  #bodiesFor(host: string, t: SyncTarget): string[] {
    const routes: Route[] = [];
    for (const k of this.#hosts.get(host) ?? []) for (const r of this.#desired.get(k)?.routes ?? []) if (r.host === host) routes.push(r);
    return routes.sort(compareRoutes).map((r) => JSON.stringify(registerBody(r, t)));
  }

  #hostInSync(host: string): boolean {
    const t = this.#target;
    if (!t || !this.#acked) return false;
    const have = this.#acked.get(host);
    if (have === UNKNOWN) return false;
    const want = this.#bodiesFor(host, t);
    return have === undefined ? want.length === 0 : have.length === want.length && have.every((b, i) => b === want[i]);
  }

  /** One dirty host, also while a repair is pending (the acknowledged state of the other hosts is still known). */
  protected async step(): Promise<boolean> {
    const t = this.#target;
    if (!t || this.#acked === null || this.#dirty.size === 0) return false;
    const host = this.#dirty.values().next().value as string;
    this.#dirty.delete(host);
    if (!this.#hostInSync(host)) await this.#syncHost(host, t);
    return true;
  }

  protected async bulk(reason: string): Promise<void> {
    const t = this.#target!;
    this.#dirty.clear();
    const snapshot: Acked = new Map();
    for (const host of this.#hosts.keys()) snapshot.set(host, this.#bodiesFor(host, t));
    const body = syncBody(this.#desired.values(), t);
    const routes = [...snapshot.values()].reduce((n, v) => n + (v === UNKNOWN ? 0 : v.length), 0);
    try {
      await this.#o.registry.sync(body);
      this.#acked = snapshot;
      this.counters.syncs++;
      this.bulkSucceeded();
      this.#o.metric?.({ name: 'gateway_routes_registered_total', op: 'inc', value: routes, labels: { via: 'sync' } });
      this.#o.log?.info({ reason, ingresses: body.ingresses.length, routes, routing_mode: t.routing.routingMode }, 'route registry synced');
      this.#reportActive();
    } catch (e) {
      this.#acked = null;
      this.counters.failures++;
      this.failed(e, { operation: 'sync', reason });
    }
  }

  async #syncHost(host: string, t: SyncTarget): Promise<void> {
    const want = this.#bodiesFor(host, t);
    const acked = this.#acked!;
    try {
      if (want.length === 0) {
        await this.#o.registry.unregister(host);
        this.counters.unregisters++;
        acked.delete(host);
        this.#o.log?.debug({ hostname: host }, 'route unregistered');
      } else {
        // A registry keyed by (hostname, path) — the hub — keeps a path that is no longer wanted: `register` only
        // adds or replaces, and `unregister` names only the host. So when a path may be left over (acknowledged but
        // not wanted, or unknown after a failure), clear the host first and register its routes again.
        const had = acked.get(host);
        const wantPaths = new Set(want.map((b) => (JSON.parse(b) as { path: string }).path));
        const stale = had === UNKNOWN || (had?.some((b) => !wantPaths.has((JSON.parse(b) as { path: string }).path)) ?? false);
        // Mark unknown first: if a later call for this host fails, the earlier ones were applied.
        acked.set(host, UNKNOWN);
        if (stale) {
          await this.#o.registry.unregister(host);
          this.counters.unregisters++;
        }
        for (const b of want) await this.#o.registry.register(JSON.parse(b));
        this.counters.registers += want.length;
        acked.set(host, want);
        this.#o.metric?.({ name: 'gateway_routes_registered_total', op: 'inc', value: want.length, labels: { via: 'register' } });
        this.#o.log?.debug({ hostname: host, routes: want.length }, 'routes registered');
      }
      this.#reportActive();
    } catch (e) {
      if (this.#acked === acked) acked.set(host, UNKNOWN);
      this.counters.failures++;
      this.failed(e, { operation: want.length === 0 ? 'unregister' : 'register', hostname: host });
    }
  }

  #reportActive(): void {
    let n = 0;
    for (const v of this.#acked?.values() ?? []) if (v !== UNKNOWN) n += v.length;
    this.#o.metric?.({ name: 'gateway_routes_active', op: 'set', value: n });
  }
}

function sameRoutes(a: IngressRoutes, b: IngressRoutes): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
