// The L4 tunnel registry's durable state (protocol.md §1.2), in the hub's database beside the clusters. A tunnel
// is (cluster_id, tunnel_id): every cluster has its own namespace of ids, so one cluster can never change
// another's tunnels. The store runs on the hub's SQL driver (SQLite or PostgreSQL, src/hub/store/); every statement
// of the registry lives in this file, and changes reach every replica on the database's change channel.
//
// `tunnel_port` is the hub port the L4 listeners assigned to the tunnel (0 until assigned); registering or
// syncing a tunnel again keeps it.
import { ChangeChannel } from '../store/change-channel.ts';
import { retryConflicts, type SqlDriver, type SqlExec } from '../store/sql-driver.ts';
import type { TunnelProtocol, TunnelRoutingMode } from '../../protocol/tunnel-registry-messages.ts';

export interface TunnelRecord {
  cluster_id: string;
  tunnel_id: string;
  protocol: TunnelProtocol;
  gateway_name: string;
  gateway_namespace: string;
  gateway_port: number;
  /** The backend Service; empty names and port 0 when the listener has no route. */
  service_name: string;
  service_namespace: string;
  service_port: number;
  routing_mode: TunnelRoutingMode;
  public_endpoint: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  tunnel_port: number;
  updated_at: string;
}

export type NewTunnel = Omit<TunnelRecord, 'updated_at' | 'tunnel_port'>;

export type TunnelChange = 'created' | 'updated' | 'unchanged';

export interface TunnelSyncResult {
  added: number;
  removed: number;
  updated: number;
  /** The cluster's tunnels after the sync. */
  tunnels: TunnelRecord[];
}

/** What the registry needs from its storage (SQLite here; PostgreSQL behind the same methods). */
export interface TunnelRegistryStore {
  onChange(l: () => void): () => void;
  list(clusterId?: string): Promise<TunnelRecord[]>;
  get(clusterId: string, tunnelId: string): Promise<TunnelRecord | null>;
  register(t: NewTunnel): Promise<{ change: TunnelChange; tunnel: TunnelRecord }>;
  sync(clusterId: string, tunnels: readonly NewTunnel[]): Promise<TunnelSyncResult>;
  deregister(clusterId: string, tunnelId: string): Promise<{ removed: number }>;
  setTunnelPort(clusterId: string, tunnelId: string, port: number): Promise<boolean>;
}

interface Row extends Omit<TunnelRecord, 'labels' | 'annotations'> {
  labels: string;
  annotations: string;
}

const toRecord = (r: Row): TunnelRecord => ({
  ...r,
  gateway_port: Number(r.gateway_port),
  service_port: Number(r.service_port),
  tunnel_port: Number(r.tunnel_port),
  labels: JSON.parse(r.labels) as Record<string, string>,
  annotations: JSON.parse(r.annotations) as Record<string, string>,
});

/** Columns written by register/sync (not `tunnel_port`, which only the L4 listeners set). */
const COLUMNS = [
  'cluster_id',
  'tunnel_id',
  'protocol',
  'gateway_name',
  'gateway_namespace',
  'gateway_port',
  'service_name',
  'service_namespace',
  'service_port',
  'routing_mode',
  'public_endpoint',
  'labels',
  'annotations',
  'updated_at',
] as const;

const UPSERT = `INSERT INTO tunnels (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map(() => '?').join(', ')})
  ON CONFLICT (cluster_id, tunnel_id) DO UPDATE SET ${COLUMNS.filter((c) => c !== 'cluster_id' && c !== 'tunnel_id')
    .map((c) => `${c} = excluded.${c}`)
    .join(', ')}`;

/** The change channel of the tunnel registry (a PostgreSQL NOTIFY channel on a shared database). */
export const TUNNELS_CHANNEL = 'pipeops_hub_tunnels';

/** The `tunnels` table: schema step 5 of src/hub/store/migrations.ts. */
export const CREATE_TUNNELS_TABLE = `CREATE TABLE IF NOT EXISTS tunnels (
      cluster_id TEXT NOT NULL,
      tunnel_id TEXT NOT NULL,
      protocol TEXT NOT NULL,
      gateway_name TEXT NOT NULL,
      gateway_namespace TEXT NOT NULL,
      gateway_port INTEGER NOT NULL,
      service_name TEXT NOT NULL DEFAULT '',
      service_namespace TEXT NOT NULL DEFAULT '',
      service_port INTEGER NOT NULL DEFAULT 0,
      routing_mode TEXT NOT NULL DEFAULT 'tunnel',
      public_endpoint TEXT NOT NULL DEFAULT '',
      labels TEXT NOT NULL DEFAULT '{}',
      annotations TEXT NOT NULL DEFAULT '{}',
      tunnel_port INTEGER NOT NULL DEFAULT 0,
      updated_at TEXT NOT NULL,
      PRIMARY KEY (cluster_id, tunnel_id)
    )`;

export class TunnelStore implements TunnelRegistryStore {
  readonly #db: SqlDriver;
  readonly #changes: ChangeChannel;

  /** `db` holds the migrated schema (src/hub/store/migrations.ts); `origin` names this process on the change channel. */
  constructor(db: SqlDriver, origin: string) {
    this.#db = db;
    this.#changes = new ChangeChannel(db, TUNNELS_CHANNEL, origin);
  }

  /** Listen for other replicas' changes (and re-read after a lost subscription). */
  start(): Promise<void> {
    return this.#changes.start();
  }

  stop(): Promise<void> {
    return this.#changes.stop();
  }

  /** Called after every committed change of a registration, here or on another replica (the L4 listeners rebuild their table). */
  onChange(l: () => void): () => void {
    return this.#changes.onChange(l);
  }

  async list(clusterId?: string): Promise<TunnelRecord[]> {
    return listOn(this.#db, clusterId);
  }

  async get(clusterId: string, tunnelId: string): Promise<TunnelRecord | null> {
    return getOn(this.#db, clusterId, tunnelId);
  }

  /** One tunnel, created or replaced by id. */
  async register(t: NewTunnel): Promise<{ change: TunnelChange; tunnel: TunnelRecord }> {
    const out = await retryConflicts(this.#db, () =>
      this.#db.transaction(async (tx): Promise<{ change: TunnelChange; tunnel: TunnelRecord }> => {
        const before = await getOn(tx, t.cluster_id, t.tunnel_id);
        if (before && sameTunnel(before, t)) return { change: 'unchanged', tunnel: before };
        await upsert(tx, t, new Date().toISOString());
        return { change: before ? 'updated' : 'created', tunnel: (await getOn(tx, t.cluster_id, t.tunnel_id))! };
      }),
    );
    if (out.change !== 'unchanged') await this.#changes.changed();
    return out;
  }

  /**
   * The cluster's complete tunnel set: every other tunnel of the cluster is removed (an empty set clears it). An
   * entry without a backend Service (upstream's sync bodies carry none) keeps the one the tunnel was registered with.
   */
  async sync(clusterId: string, tunnels: readonly NewTunnel[]): Promise<TunnelSyncResult> {
    const out = await retryConflicts(this.#db, () =>
      this.#db.transaction(async (tx): Promise<Omit<TunnelSyncResult, 'tunnels'>> => {
        const before = new Map((await listOn(tx, clusterId)).map((t) => [t.tunnel_id, t]));
        const after = new Map<string, NewTunnel>();
        for (const t of tunnels) {
          const b = before.get(t.tunnel_id);
          const keep = b && t.service_name === '' && t.service_namespace === '' && t.service_port === 0;
          after.set(t.tunnel_id, keep ? { ...t, service_name: b.service_name, service_namespace: b.service_namespace, service_port: b.service_port } : t);
        }
        let added = 0;
        let updated = 0;
        const now = new Date().toISOString();
        for (const [id, t] of after) {
          const b = before.get(id);
          if (b && sameTunnel(b, t)) continue;
          if (b) updated++;
          else added++;
          await upsert(tx, t, now);
        }
        let removed = 0;
        for (const id of before.keys()) {
          if (after.has(id)) continue;
          await tx.run('DELETE FROM tunnels WHERE cluster_id = ? AND tunnel_id = ?', [clusterId, id]);
          removed++;
        }
        return { added, removed, updated };
      }),
    );
    if (out.added || out.removed || out.updated) await this.#changes.changed();
    return { ...out, tunnels: await listOn(this.#db, clusterId) };
  }

  /** One tunnel of the cluster; an unknown id removes nothing. */
  async deregister(clusterId: string, tunnelId: string): Promise<{ removed: number }> {
    const removed = await this.#db.run('DELETE FROM tunnels WHERE cluster_id = ? AND tunnel_id = ?', [clusterId, tunnelId]);
    if (removed) await this.#changes.changed();
    return { removed };
  }

  /** Records the hub port the L4 listeners gave the tunnel; false if the tunnel is gone. No change notification. */
  async setTunnelPort(clusterId: string, tunnelId: string, port: number): Promise<boolean> {
    return (await this.#db.run('UPDATE tunnels SET tunnel_port = ? WHERE cluster_id = ? AND tunnel_id = ?', [port, clusterId, tunnelId])) > 0;
  }
}

async function listOn(db: SqlExec, clusterId?: string): Promise<TunnelRecord[]> {
  const rows = clusterId
    ? await db.all<Row>('SELECT * FROM tunnels WHERE cluster_id = ? ORDER BY tunnel_id', [clusterId])
    : await db.all<Row>('SELECT * FROM tunnels ORDER BY cluster_id, tunnel_id');
  return rows.map(toRecord);
}

async function getOn(db: SqlExec, clusterId: string, tunnelId: string): Promise<TunnelRecord | null> {
  const rows = await db.all<Row>('SELECT * FROM tunnels WHERE cluster_id = ? AND tunnel_id = ?', [clusterId, tunnelId]);
  return rows[0] ? toRecord(rows[0]) : null;
}

async function upsert(db: SqlExec, t: NewTunnel, now: string): Promise<void> {
  const values = { ...t, labels: JSON.stringify(t.labels), annotations: JSON.stringify(t.annotations), updated_at: now } as Record<string, string | number>;
  await db.run(UPSERT, COLUMNS.map((c) => values[c]!));
}

function sameTunnel(a: TunnelRecord | NewTunnel, b: NewTunnel): boolean {
  for (const c of COLUMNS) {
    if (c === 'updated_at') continue;
    const x = c === 'labels' || c === 'annotations' ? JSON.stringify(a[c]) : a[c];
    const y = c === 'labels' || c === 'annotations' ? JSON.stringify(b[c]) : b[c];
    if (x !== y) return false;
  }
  return true;
}
