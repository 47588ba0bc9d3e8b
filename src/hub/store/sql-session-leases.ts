// Which replica holds which agent session, in SQL: one row per replica with its lease, one row per session
// naming its replica. Renewing costs one row per replica however many sessions it holds; a dead replica's
// sessions stop counting the moment its lease runs out and are deleted by the next `expire`.
import type { SqlDriver } from './sql-driver.ts';
import type { ReplicaRecord, SessionLeases } from './types.ts';

type ReplicaRow = { replica_id: string; kube_url: string; public_url: string; expires_at: number | string };
const toReplica = (r: ReplicaRow): ReplicaRecord => ({ replica_id: r.replica_id, kube_url: r.kube_url, public_url: r.public_url, expires_at: Number(r.expires_at) });

export class SqlSessionLeases implements SessionLeases {
  constructor(private readonly db: SqlDriver) {}

  async heartbeatReplica(r: ReplicaRecord): Promise<void> {
    await this.db.run(
      'INSERT INTO hub_replicas (replica_id, kube_url, public_url, expires_at) VALUES (?, ?, ?, ?) ON CONFLICT (replica_id) DO UPDATE SET kube_url = excluded.kube_url, public_url = excluded.public_url, expires_at = excluded.expires_at',
      [r.replica_id, r.kube_url, r.public_url, r.expires_at],
    );
  }

  async claim(clusterId: string, replicaId: string): Promise<void> {
    await this.claimMany([clusterId], replicaId);
  }

  async claimMany(clusterIds: readonly string[], replicaId: string): Promise<void> {
    const at = new Date().toISOString();
    for (const ids of chunks(new Set(clusterIds))) {
      await this.db.run(
        `INSERT INTO agent_sessions (cluster_id, replica_id, claimed_at) VALUES ${ids.map(() => '(?, ?, ?)').join(', ')} ON CONFLICT (cluster_id) DO UPDATE SET replica_id = excluded.replica_id, claimed_at = excluded.claimed_at`,
        ids.flatMap((id) => [id, replicaId, at]),
      );
    }
  }

  async release(clusterId: string, replicaId: string): Promise<void> {
    await this.releaseMany([clusterId], replicaId);
  }

  async releaseMany(clusterIds: readonly string[], replicaId: string): Promise<void> {
    for (const ids of chunks(new Set(clusterIds))) {
      await this.db.run(`DELETE FROM agent_sessions WHERE replica_id = ? AND cluster_id IN (${ids.map(() => '?').join(', ')})`, [replicaId, ...ids]);
    }
  }

  async held(replicaId: string): Promise<string[]> {
    return (await this.db.all<{ cluster_id: string }>('SELECT cluster_id FROM agent_sessions WHERE replica_id = ?', [replicaId])).map((r) => r.cluster_id);
  }

  async holder(clusterId: string, now: number): Promise<ReplicaRecord | null> {
    const [r] = await this.db.all<ReplicaRow>(
      'SELECT r.replica_id, r.kube_url, r.public_url, r.expires_at FROM agent_sessions s JOIN hub_replicas r ON r.replica_id = s.replica_id WHERE s.cluster_id = ? AND r.expires_at > ?',
      [clusterId, now],
    );
    return r ? toReplica(r) : null;
  }

  async replicas(now: number): Promise<ReplicaRecord[]> {
    return (await this.db.all<ReplicaRow>('SELECT replica_id, kube_url, public_url, expires_at FROM hub_replicas WHERE expires_at > ? ORDER BY replica_id', [now])).map(toReplica);
  }

  async expire(now: number): Promise<number> {
    return this.db.transaction(async (tx) => {
      await tx.run('DELETE FROM hub_replicas WHERE expires_at <= ?', [now]);
      return tx.run('DELETE FROM agent_sessions WHERE replica_id NOT IN (SELECT replica_id FROM hub_replicas)');
    });
  }

  async leave(replicaId: string): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.run('DELETE FROM agent_sessions WHERE replica_id = ?', [replicaId]);
      await tx.run('DELETE FROM hub_replicas WHERE replica_id = ?', [replicaId]);
    });
  }
}

/** Rows per statement: three parameters each, well inside SQLite's and PostgreSQL's parameter limits. */
const CHUNK = 200;

function chunks(ids: Set<string>): string[][] {
  const all = [...ids];
  const out: string[][] = [];
  for (let i = 0; i < all.length; i += CHUNK) out.push(all.slice(i, i + CHUNK));
  return out;
}
