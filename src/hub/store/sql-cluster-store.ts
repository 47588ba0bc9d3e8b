// Registered clusters in SQL (SQLite or PostgreSQL, sql-driver.ts). Cluster credentials (the ServiceAccount
// token) are stored only encrypted (credential-cipher.ts); a replica decrypts what another one wrote, and keeps
// the plaintext of the ciphertext it last saw per cluster so that reads do not decrypt again.
import { randomUUID } from 'node:crypto';
import { type CredentialCipher, isEncrypted } from '../credential-cipher.ts';
import { retryConflicts, type SqlDriver } from './sql-driver.ts';
import type { ClusterRecord, ClusterStore, RegisterCluster } from './types.ts';

interface Row {
  cluster_id: string;
  name: string;
  agent_id: string;
  k8s_version: string;
  agent_version: string;
  k8s_service_token: string;
  metadata: string;
  registration: string;
  registered_at: string;
  last_heartbeat: string | null;
  last_heartbeat_payload: string | null;
  token_sha256: string;
}

export const NO_CIPHER = 'this cluster store holds no credentials (opened without a cipher)';

export class SqlClusterStore implements ClusterStore {
  readonly #db: SqlDriver;
  readonly #cipher: CredentialCipher | null;
  /** Per cluster: the stored ciphertext and its plaintext. */
  readonly #tokens = new Map<string, { stored: string; plain: string }>();

  constructor(db: SqlDriver, cipher: CredentialCipher | null) {
    this.#db = db;
    this.#cipher = cipher;
  }

  /** Decrypt every stored credential now (a wrong key fails here, not at the first request), re-encrypting
   * plaintext and old-key ones with the current key; returns how many were rewritten. */
  async loadCredentials(): Promise<number> {
    const cipher = this.#cipher;
    if (!cipher) return 0;
    const rows = await this.#db.all<{ cluster_id: string; k8s_service_token: string }>("SELECT cluster_id, k8s_service_token FROM clusters WHERE k8s_service_token != ''");
    let rewritten = 0;
    for (const r of rows) {
      const plain = await this.#plain(r.cluster_id, r.k8s_service_token);
      if (cipher.isCurrent(r.k8s_service_token)) continue;
      const ct = await cipher.encrypt(plain, r.cluster_id);
      if ((await this.#db.run('UPDATE clusters SET k8s_service_token = ? WHERE cluster_id = ? AND k8s_service_token = ?', [ct, r.cluster_id, r.k8s_service_token])) > 0) {
        this.#tokens.set(r.cluster_id, { stored: ct, plain });
        rewritten++;
      }
    }
    return rewritten;
  }

  async #plain(clusterId: string, stored: string): Promise<string> {
    if (!stored || !this.#cipher) return '';
    const known = this.#tokens.get(clusterId);
    if (known?.stored === stored) return known.plain;
    let plain = stored;
    if (isEncrypted(stored)) {
      try {
        plain = await this.#cipher.decrypt(stored, clusterId);
      } catch (e) {
        throw new Error(`the credentials of cluster ${clusterId} cannot be read: ${(e as Error).message}`);
      }
    }
    this.#tokens.set(clusterId, { stored, plain });
    return plain;
  }

  async #record(r: Row): Promise<ClusterRecord> {
    return {
      ...r,
      k8s_service_token: await this.#plain(r.cluster_id, r.k8s_service_token),
      metadata: JSON.parse(r.metadata) as Record<string, unknown>,
      registration: JSON.parse(r.registration) as Record<string, unknown>,
      last_heartbeat_payload: r.last_heartbeat_payload ? (JSON.parse(r.last_heartbeat_payload) as Record<string, unknown>) : null,
    };
  }

  async get(clusterId: string): Promise<ClusterRecord | null> {
    const [r] = await this.#db.all<Row>('SELECT * FROM clusters WHERE cluster_id = ?', [clusterId]);
    return r ? this.#record(r) : null;
  }

  async list(): Promise<ClusterRecord[]> {
    const rows = await this.#db.all<Row>('SELECT * FROM clusters ORDER BY registered_at, cluster_id');
    return Promise.all(rows.map((r) => this.#record(r)));
  }

  async find(idOrName: string): Promise<ClusterRecord | null> {
    const byId = await this.get(idOrName);
    if (byId) return byId;
    const [r] = await this.#db.all<Row>('SELECT * FROM clusters WHERE name = ? ORDER BY registered_at, cluster_id LIMIT 1', [idOrName]);
    return r ? this.#record(r) : null;
  }

  async register(p: RegisterCluster): Promise<ClusterRecord> {
    if (p.serviceToken && !this.#cipher) throw new Error(NO_CIPHER);
    const now = new Date().toISOString();
    const row = await retryConflicts(this.#db, () =>
      this.#db.transaction(async (tx) => {
        const [existing] = await tx.all<Row>('SELECT * FROM clusters WHERE agent_id = ? AND name = ?', [p.agentId, p.name]);
        let id = existing?.cluster_id;
        if (!id) {
          const taken = p.requestedId ? (await tx.all('SELECT cluster_id FROM clusters WHERE cluster_id = ?', [p.requestedId])).length > 0 : true;
          id = p.requestedId && !taken ? p.requestedId : randomUUID();
        }
        // The credential column is written below, encrypted; a new row starts without one.
        await tx.run(
          `INSERT INTO clusters (cluster_id, name, agent_id, k8s_version, agent_version, k8s_service_token, metadata, registration, registered_at, token_sha256)
           VALUES (?, ?, ?, ?, ?, '', ?, ?, ?, ?)
           ON CONFLICT (cluster_id) DO UPDATE SET k8s_version = excluded.k8s_version, agent_version = excluded.agent_version,
             metadata = excluded.metadata, registration = excluded.registration,
             token_sha256 = CASE WHEN excluded.token_sha256 = '' THEN clusters.token_sha256 ELSE excluded.token_sha256 END`,
          [id, p.name, p.agentId, p.k8sVersion, p.agentVersion, JSON.stringify(p.metadata), JSON.stringify(p.registration), existing?.registered_at ?? now, p.tokenDigest ?? ''],
        );
        const [after] = await tx.all<Row>('SELECT * FROM clusters WHERE cluster_id = ?', [id]);
        return after!;
      }),
    );
    if (p.serviceToken && (await this.#plain(row.cluster_id, row.k8s_service_token)) !== p.serviceToken) {
      // The agent sends its token on every register: only a changed one is encrypted and written.
      const ct = await this.#cipher!.encrypt(p.serviceToken, row.cluster_id);
      await this.#db.run('UPDATE clusters SET k8s_service_token = ? WHERE cluster_id = ?', [ct, row.cluster_id]);
      this.#tokens.set(row.cluster_id, { stored: ct, plain: p.serviceToken });
      row.k8s_service_token = ct;
    }
    return this.#record(row);
  }

  async recordHeartbeat(clusterId: string, payload: Record<string, unknown>, at = new Date()): Promise<boolean> {
    return (await this.#db.run('UPDATE clusters SET last_heartbeat = ?, last_heartbeat_payload = ? WHERE cluster_id = ?', [at.toISOString(), JSON.stringify(payload), clusterId])) > 0;
  }
}
