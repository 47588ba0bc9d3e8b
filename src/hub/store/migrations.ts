// One schema for SQLite and PostgreSQL, in versioned steps. Each step runs once per database, in order, inside
// one transaction with the driver's migration lock (replicas starting together migrate one at a time); the
// versions applied are in `schema_migrations`. Steps are written in the SQL both dialects share (TEXT, INTEGER,
// BIGINT, CREATE … IF NOT EXISTS); the first steps also accept a database that the pre-migration hub created.
import { CREATE_TUNNELS_TABLE } from '../tunnels/tunnel-store.ts';
import type { SqlDriver, SqlExec } from './sql-driver.ts';

interface Migration {
  version: number;
  name: string;
  up(tx: SqlExec, db: SqlDriver): Promise<void>;
}

const statements = (...list: string[]) => async (tx: SqlExec) => {
  for (const s of list) await tx.run(s);
};

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'clusters',
    up: statements(
      `CREATE TABLE IF NOT EXISTS clusters (
        cluster_id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        agent_id TEXT NOT NULL,
        k8s_version TEXT NOT NULL DEFAULT '',
        agent_version TEXT NOT NULL DEFAULT '',
        k8s_service_token TEXT NOT NULL DEFAULT '',
        metadata TEXT NOT NULL DEFAULT '{}',
        registration TEXT NOT NULL DEFAULT '{}',
        registered_at TEXT NOT NULL,
        last_heartbeat TEXT,
        last_heartbeat_payload TEXT
      )`,
      'CREATE UNIQUE INDEX IF NOT EXISTS clusters_agent_name ON clusters(agent_id, name)',
    ),
  },
  {
    version: 2,
    name: 'clusters.token_sha256',
    // Hubs before the migration table added this column themselves: add it only where it is missing.
    up: async (tx, db) => {
      if (!(await db.columns(tx, 'clusters')).includes('token_sha256')) await tx.run("ALTER TABLE clusters ADD COLUMN token_sha256 TEXT NOT NULL DEFAULT ''");
    },
  },
  {
    version: 3,
    name: 'route registry',
    up: statements(
      `CREATE TABLE IF NOT EXISTS route_hosts (
        hostname TEXT PRIMARY KEY,
        cluster_id TEXT NOT NULL
      )`,
      `CREATE TABLE IF NOT EXISTS routes (
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
      )`,
      'CREATE INDEX IF NOT EXISTS routes_cluster ON routes(cluster_id)',
      'CREATE INDEX IF NOT EXISTS route_hosts_cluster ON route_hosts(cluster_id)',
    ),
  },
  {
    version: 4,
    name: 'replicas and session leases',
    up: statements(
      `CREATE TABLE IF NOT EXISTS hub_replicas (
        replica_id TEXT PRIMARY KEY,
        kube_url TEXT NOT NULL DEFAULT '',
        public_url TEXT NOT NULL DEFAULT '',
        expires_at BIGINT NOT NULL
      )`,
      // A session lives as long as its replica's lease: renewing is one row per replica, whatever it holds.
      `CREATE TABLE IF NOT EXISTS agent_sessions (
        cluster_id TEXT PRIMARY KEY,
        replica_id TEXT NOT NULL,
        claimed_at TEXT NOT NULL
      )`,
      'CREATE INDEX IF NOT EXISTS agent_sessions_replica ON agent_sessions(replica_id)',
    ),
  },
  {
    version: 5,
    name: 'tunnels',
    up: statements(CREATE_TUNNELS_TABLE),
  },
];

/** Bring the database to the newest version; returns the versions applied now. */
export async function migrate(db: SqlDriver): Promise<number[]> {
  const newest = MIGRATIONS[MIGRATIONS.length - 1]!.version;
  return db.transaction(async (tx) => {
    if (db.migrationLock) await tx.all(db.migrationLock);
    await tx.run('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)');
    const done = new Set((await tx.all<{ version: number }>('SELECT version FROM schema_migrations')).map((r) => Number(r.version)));
    const ahead = [...done].filter((v) => v > newest);
    if (ahead.length) throw new Error(`the state database has schema version ${Math.max(...ahead)}; this hub knows versions up to ${newest} (a newer hub wrote it)`);
    const applied: number[] = [];
    for (const m of MIGRATIONS) {
      if (done.has(m.version)) continue;
      await m.up(tx, db);
      await tx.run('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)', [m.version, m.name, new Date().toISOString()]);
      applied.push(m.version);
    }
    return applied;
  });
}
