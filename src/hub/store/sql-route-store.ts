// The route registry (protocol.md §1.1) in SQL. "A hostname belongs to one cluster" is the primary key of
// `route_hosts`; a route is (hostname, path). Every operation is one transaction: a conflicting claim changes
// nothing. Changes are announced on the database's change channel, so every replica's listeners run.
import { ChangeChannel } from './change-channel.ts';
import type { SqlDriver, SqlExec } from './sql-driver.ts';
import { retryConflicts } from './sql-driver.ts';
import type { NewRoute, RegisterResult, RouteRecord, RouteStore, SyncResult, UnregisterResult } from './types.ts';

/** The change channel of the route registry (a PostgreSQL NOTIFY channel on a shared database). */
export const ROUTES_CHANNEL = 'pipeops_hub_routes';

interface Row extends Omit<RouteRecord, 'tls' | 'annotations'> {
  tls: number;
  annotations: string;
}

const toRecord = (r: Row): RouteRecord => ({ ...r, service_port: Number(r.service_port), tls: Number(r.tls) === 1, annotations: JSON.parse(r.annotations) as Record<string, string> });

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

const UPSERT = `INSERT INTO routes (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map(() => '?').join(', ')})
  ON CONFLICT (hostname, path) DO UPDATE SET ${COLUMNS.filter((c) => c !== 'hostname' && c !== 'path')
    .map((c) => `${c} = excluded.${c}`)
    .join(', ')}`;

export class SqlRouteStore implements RouteStore {
  readonly #db: SqlDriver;
  readonly #changes: ChangeChannel;

  constructor(db: SqlDriver, origin: string) {
    this.#db = db;
    this.#changes = new ChangeChannel(db, ROUTES_CHANNEL, origin);
  }

  /** Subscribe to other replicas' changes. */
  start(): Promise<void> {
    return this.#changes.start();
  }

  stop(): Promise<void> {
    return this.#changes.stop();
  }

  onChange(l: () => void | Promise<void>): () => void {
    return this.#changes.onChange(l);
  }

  async list(clusterId?: string): Promise<RouteRecord[]> {
    return listOn(this.#db, clusterId);
  }

  ownerOf(hostname: string): Promise<string | null> {
    return ownerOn(this.#db, hostname);
  }

  async register(r: NewRoute): Promise<RegisterResult> {
    const out = await retryConflicts(this.#db, () =>
      this.#db.transaction(async (tx): Promise<RegisterResult> => {
        const owner = await ownerOn(tx, r.hostname);
        if (owner && owner !== r.cluster_id) return { conflict: { hostname: r.hostname, owner } };
        const [before] = await tx.all<Row>('SELECT * FROM routes WHERE hostname = ? AND path = ?', [r.hostname, r.path]);
        if (before && sameRoute(toRecord(before), r)) return { change: 'unchanged' };
        if (!owner) await tx.run('INSERT INTO route_hosts (hostname, cluster_id) VALUES (?, ?)', [r.hostname, r.cluster_id]);
        await insert(tx, r, new Date().toISOString());
        return { change: before ? 'updated' : 'created' };
      }),
    );
    if ('change' in out && out.change !== 'unchanged') await this.#changes.changed();
    return out;
  }

  async sync(clusterId: string, routes: readonly NewRoute[]): Promise<SyncResult> {
    const out = await retryConflicts(this.#db, () =>
      this.#db.transaction(async (tx): Promise<SyncResult> => {
        const hosts = new Set(routes.map((r) => r.hostname));
        for (const h of hosts) {
          const owner = await ownerOn(tx, h);
          if (owner && owner !== clusterId) return { conflict: { hostname: h, owner } };
        }
        const before = new Map((await listOn(tx, clusterId)).map((r) => [`${r.hostname}\u0000${r.path}`, r]));
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
        await tx.run('DELETE FROM routes WHERE cluster_id = ?', [clusterId]);
        await tx.run('DELETE FROM route_hosts WHERE cluster_id = ?', [clusterId]);
        const now = new Date().toISOString();
        for (const h of hosts) await tx.run('INSERT INTO route_hosts (hostname, cluster_id) VALUES (?, ?)', [h, clusterId]);
        for (const r of after.values()) await insert(tx, r, now);
        return { added, removed, updated, total: after.size };
      }),
    );
    if ('total' in out && (out.added || out.removed || out.updated)) await this.#changes.changed();
    return out;
  }

  async unregister(hostname: string, mayAct: (owner: string) => boolean | Promise<boolean>): Promise<UnregisterResult> {
    // The owner is decided outside the transaction (mayAct may read the cluster store); the delete is bound to it.
    const owner = await this.ownerOf(hostname);
    if (!owner) return { removed: 0 };
    if (!(await mayAct(owner))) return { conflict: { hostname, owner } };
    const removed = await this.#db.transaction(async (tx) => {
      if ((await ownerOn(tx, hostname)) !== owner) return 0;
      const n = await tx.run('DELETE FROM routes WHERE hostname = ?', [hostname]);
      await tx.run('DELETE FROM route_hosts WHERE hostname = ?', [hostname]);
      return n;
    });
    if (removed) await this.#changes.changed();
    return { removed };
  }
}

async function listOn(db: SqlExec, clusterId?: string): Promise<RouteRecord[]> {
  const rows = clusterId
    ? await db.all<Row>('SELECT * FROM routes WHERE cluster_id = ? ORDER BY hostname, path', [clusterId])
    : await db.all<Row>('SELECT * FROM routes ORDER BY hostname, path');
  return rows.map(toRecord);
}

async function ownerOn(db: SqlExec, hostname: string): Promise<string | null> {
  const [r] = await db.all<{ cluster_id: string }>('SELECT cluster_id FROM route_hosts WHERE hostname = ?', [hostname]);
  return r?.cluster_id ?? null;
}

async function insert(tx: SqlExec, r: NewRoute, now: string): Promise<void> {
  const values = { ...r, tls: r.tls ? 1 : 0, annotations: JSON.stringify(r.annotations), updated_at: now } as Record<string, string | number>;
  await tx.run(UPSERT, COLUMNS.map((c) => values[c]!));
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
