// The route registry's durable state (protocol.md §1.1), in the hub's SQLite database beside the clusters.
// "A hostname belongs to one cluster" is the primary key of `route_hosts`; a route is (hostname, path).
// Every operation is one transaction: a conflicting claim changes nothing.
import type { Database } from '../../runtime/sqlite.ts';
import type { PathType } from './route-validation.ts';

export interface RouteRecord {
  cluster_id: string;
  hostname: string;
  path: string;
  path_type: PathType;
  /** The ingress controller Service (or the app's Service when the cluster has no controller). */
  namespace: string;
  service_name: string;
  service_port: number;
  ingress_namespace: string;
  ingress_name: string;
  tls: boolean;
  annotations: Record<string, string>;
  public_endpoint: string;
  routing_mode: 'tunnel' | 'direct';
  deployment_id: string;
  deployment_name: string;
  updated_at: string;
}

export type NewRoute = Omit<RouteRecord, 'updated_at'>;

interface Row extends Omit<RouteRecord, 'tls' | 'annotations'> {
  tls: number;
  annotations: string;
}

const toRecord = (r: Row): RouteRecord => ({ ...r, tls: r.tls === 1, annotations: JSON.parse(r.annotations) as Record<string, string> });

/** Another cluster owns one of the hosts: nothing was changed. */
export interface HostConflict {
  conflict: { hostname: string; owner: string };
}

export type RegisterResult = { change: 'created' | 'updated' | 'unchanged' } | HostConflict;
export type SyncResult = { added: number; removed: number; updated: number; total: number } | HostConflict;
export type UnregisterResult = { removed: number } | HostConflict;

const COLUMNS = [
  'cluster_id',
  'hostname',
  'path',
  'path_type',
  'namespace',
  'service_name',
  'service_port',
  'ingress_namespace',
  'ingress_name',
  'tls',
  'annotations',
  'public_endpoint',
  'routing_mode',
  'deployment_id',
  'deployment_name',
  'updated_at',
] as const;

export class RouteStore {
  readonly #db: Database;
  readonly #listeners = new Set<() => void>();

  constructor(db: Database) {
    this.#db = db;
    db.exec(`CREATE TABLE IF NOT EXISTS route_hosts (
      hostname TEXT PRIMARY KEY,
      cluster_id TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS routes (
      cluster_id TEXT NOT NULL,
      hostname TEXT NOT NULL,
      path TEXT NOT NULL,
      path_type TEXT NOT NULL,
      namespace TEXT NOT NULL,
      service_name TEXT NOT NULL,
      service_port INTEGER NOT NULL,
      ingress_namespace TEXT NOT NULL DEFAULT '',
      ingress_name TEXT NOT NULL DEFAULT '',
      tls INTEGER NOT NULL DEFAULT 0,
      annotations TEXT NOT NULL DEFAULT '{}',
      public_endpoint TEXT NOT NULL DEFAULT '',
      routing_mode TEXT NOT NULL DEFAULT 'tunnel',
      deployment_id TEXT NOT NULL DEFAULT '',
      deployment_name TEXT NOT NULL DEFAULT '',
      updated_at TEXT NOT NULL,
      PRIMARY KEY (hostname, path)
    );
    CREATE INDEX IF NOT EXISTS routes_cluster ON routes(cluster_id);
    CREATE INDEX IF NOT EXISTS route_hosts_cluster ON route_hosts(cluster_id);`);
  }

  /** Called after every committed change (the public gateway rebuilds its table). */
  onChange(l: () => void): () => void {
    this.#listeners.add(l);
    return () => this.#listeners.delete(l);
  }

  list(clusterId?: string): RouteRecord[] {
    const rows = clusterId
      ? this.#db.query<Row, [string]>('SELECT * FROM routes WHERE cluster_id = ? ORDER BY hostname, path').all(clusterId)
      : this.#db.query<Row, []>('SELECT * FROM routes ORDER BY hostname, path').all();
    return rows.map(toRecord);
  }

  ownerOf(hostname: string): string | null {
    return this.#db.query<{ cluster_id: string }, [string]>('SELECT cluster_id FROM route_hosts WHERE hostname = ?').get(hostname)?.cluster_id ?? null;
  }

  /** One route: created or replaced by (hostname, path). */
  register(r: NewRoute): RegisterResult {
    const out = this.#db.transaction((): RegisterResult => {
      const owner = this.ownerOf(r.hostname);
      if (owner && owner !== r.cluster_id) return { conflict: { hostname: r.hostname, owner } };
      const before = this.#db.query<Row, [string, string]>('SELECT * FROM routes WHERE hostname = ? AND path = ?').get(r.hostname, r.path);
      if (before && sameRoute(toRecord(before), r)) return { change: 'unchanged' };
      if (!owner) this.#db.query('INSERT INTO route_hosts (hostname, cluster_id) VALUES (?, ?)').run(r.hostname, r.cluster_id);
      this.#insert(r, new Date().toISOString());
      return { change: before ? 'updated' : 'created' };
    })();
    if ('change' in out && out.change !== 'unchanged') this.#changed();
    return out;
  }

  /** The cluster's complete route set: everything else of this cluster is removed (an empty set clears it). */
  sync(clusterId: string, routes: readonly NewRoute[]): SyncResult {
    const out = this.#db.transaction((): SyncResult => {
      const hosts = new Set(routes.map((r) => r.hostname));
      for (const h of hosts) {
        const owner = this.ownerOf(h);
        if (owner && owner !== clusterId) return { conflict: { hostname: h, owner } };
      }
      const before = new Map(this.list(clusterId).map((r) => [`${r.hostname}\u0000${r.path}`, r]));
      const after = new Map(routes.map((r) => [`${r.hostname}\u0000${r.path}`, r]));
      let added = 0;
      let updated = 0;
      for (const [k, r] of after) {
        const b = before.get(k);
        if (!b) added++;
        else if (!sameRoute(b, r)) updated++;
      }
      const removed = [...before.keys()].filter((k) => !after.has(k)).length;
      if (!added && !updated && !removed) return { added, removed, updated, total: after.size };
      this.#db.query('DELETE FROM routes WHERE cluster_id = ?').run(clusterId);
      this.#db.query('DELETE FROM route_hosts WHERE cluster_id = ?').run(clusterId);
      const now = new Date().toISOString();
      for (const h of hosts) this.#db.query('INSERT INTO route_hosts (hostname, cluster_id) VALUES (?, ?)').run(h, clusterId);
      for (const r of after.values()) this.#insert(r, now);
      return { added, removed, updated, total: after.size };
    })();
    if ('total' in out && (out.added || out.removed || out.updated)) this.#changed();
    return out;
  }

  /** Every route of a host, when `mayAct(owner)`; an unknown host removes nothing. */
  unregister(hostname: string, mayAct: (owner: string) => boolean): UnregisterResult {
    const out = this.#db.transaction((): UnregisterResult => {
      const owner = this.ownerOf(hostname);
      if (!owner) return { removed: 0 };
      if (!mayAct(owner)) return { conflict: { hostname, owner } };
      const r = this.#db.query('DELETE FROM routes WHERE hostname = ?').run(hostname);
      this.#db.query('DELETE FROM route_hosts WHERE hostname = ?').run(hostname);
      return { removed: r.changes };
    })();
    if ('removed' in out && out.removed) this.#changed();
    return out;
  }

  #insert(r: NewRoute, now: string): void {
    const values = { ...r, tls: r.tls ? 1 : 0, annotations: JSON.stringify(r.annotations), updated_at: now } as Record<string, string | number>;
    this.#db
      .query(`INSERT OR REPLACE INTO routes (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map(() => '?').join(', ')})`)
      .run(...COLUMNS.map((c) => values[c]!));
  }

  #changed(): void {
    for (const l of this.#listeners) l();
  }
}

function sameRoute(a: RouteRecord | NewRoute, b: NewRoute): boolean {
  for (const c of COLUMNS) {
    if (c === 'updated_at') continue;
    const x = c === 'annotations' ? JSON.stringify(a.annotations) : a[c];
    const y = c === 'annotations' ? JSON.stringify(b.annotations) : b[c];
    if (x !== y) return false;
  }
  return true;
}
