// The hub's durable state: registered clusters, in SQLite (the route registry shares the database: route-store.ts).
// Why SQLite and not a state file: writes are transactional and crash-safe in WAL mode without our own
// temp-file dance, the heartbeat path updates one row instead of rewriting a file, and the route registry's
// "one hostname belongs to one cluster" rule becomes a UNIQUE index instead of code.
//
// Cluster credentials (the ServiceAccount token) are stored only encrypted (credential-cipher.ts). WebCrypto is
// asynchronous and registration is not, so the store keeps the decrypted tokens in memory and writes each new
// token's ciphertext behind the registration (milliseconds; the agent sends its token again on every register).
// secure_delete zeroes what an update leaves behind, and a checkpoint after re-encryption empties the WAL.
import { randomUUID } from 'node:crypto';
import { Database } from '../runtime/sqlite.ts';
import { type CredentialCipher, isEncrypted } from './credential-cipher.ts';

export interface ClusterRecord {
  cluster_id: string;
  name: string;
  agent_id: string;
  k8s_version: string;
  agent_version: string;
  /** Secret: the ServiceAccount token the agent handed over. Never logged, never returned by the admin API. */
  k8s_service_token: string;
  metadata: Record<string, unknown>;
  registration: Record<string, unknown>;
  registered_at: string;
  last_heartbeat: string | null;
  last_heartbeat_payload: Record<string, unknown> | null;
  /** sha256 (hex) of the agent token the cluster registered with; '' when unknown. Binds route registry calls. */
  token_sha256: string;
}

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

const toRecord = (r: Row, token: string): ClusterRecord => ({
  ...r,
  k8s_service_token: token,
  metadata: JSON.parse(r.metadata) as Record<string, unknown>,
  registration: JSON.parse(r.registration) as Record<string, unknown>,
  last_heartbeat_payload: r.last_heartbeat_payload ? (JSON.parse(r.last_heartbeat_payload) as Record<string, unknown>) : null,
});

export class ClusterStore {
  readonly #db: Database;
  readonly #cipher: CredentialCipher | null;
  /** Decrypted credentials by cluster id. */
  readonly #tokens = new Map<string, string>();
  #writes: Promise<void> = Promise.resolve();
  #closed = false;

  /**
   * `path` ':memory:' keeps nothing across restarts (tests); a file path survives them. Without a cipher the
   * store reads clusters but holds no credentials (`hub kubeconfig`); the hub uses `ClusterStore.open`.
   */
  constructor(path: string, cipher: CredentialCipher | null = null) {
    this.#cipher = cipher;
    this.#db = new Database(path, { create: true });
    this.#db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 2000; PRAGMA secure_delete = ON;');
    this.#db.exec(`CREATE TABLE IF NOT EXISTS clusters (
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
    );
    CREATE UNIQUE INDEX IF NOT EXISTS clusters_agent_name ON clusters(agent_id, name);`);
    const cols = this.#db.query<{ name: string }, []>('PRAGMA table_info(clusters)').all();
    if (!cols.some((c) => c.name === 'token_sha256')) this.#db.exec("ALTER TABLE clusters ADD COLUMN token_sha256 TEXT NOT NULL DEFAULT ''");
  }

  /** A store with credentials: every stored one decrypted, and plaintext or old-key ones re-encrypted now. */
  static async open(path: string, cipher: CredentialCipher): Promise<{ store: ClusterStore; reencrypted: number }> {
    const store = new ClusterStore(path, cipher);
    try {
      return { store, reencrypted: await store.#loadCredentials(cipher) };
    } catch (e) {
      store.close();
      throw e;
    }
  }

  async #loadCredentials(cipher: CredentialCipher): Promise<number> {
    const rows = this.#db.query<{ cluster_id: string; k8s_service_token: string }, []>("SELECT cluster_id, k8s_service_token FROM clusters WHERE k8s_service_token != ''").all();
    const rewrite: [string, string][] = [];
    for (const r of rows) {
      let plain = r.k8s_service_token;
      if (isEncrypted(plain)) {
        try {
          plain = await cipher.decrypt(plain, r.cluster_id);
        } catch (e) {
          throw new Error(`the credentials of cluster ${r.cluster_id} cannot be read: ${(e as Error).message}`);
        }
      }
      this.#tokens.set(r.cluster_id, plain);
      if (!cipher.isCurrent(r.k8s_service_token)) rewrite.push([r.cluster_id, await cipher.encrypt(plain, r.cluster_id)]);
    }
    if (rewrite.length) {
      this.#db.transaction(() => {
        for (const [id, ct] of rewrite) this.#db.query('UPDATE clusters SET k8s_service_token = ? WHERE cluster_id = ?').run(ct, id);
      })();
      this.#db.exec('PRAGMA wal_checkpoint(TRUNCATE);');
    }
    return rewrite.length;
  }

  /** Encrypt and store a new credential behind the registration; only the latest one for a cluster is written. */
  #persistToken(clusterId: string, token: string): void {
    const cipher = this.#cipher;
    if (!cipher) throw new Error('this cluster store holds no credentials (opened without a cipher)');
    this.#writes = this.#writes.then(async () => {
      const ct = await cipher.encrypt(token, clusterId);
      if (!this.#closed && this.#tokens.get(clusterId) === token) {
        this.#db.query('UPDATE clusters SET k8s_service_token = ? WHERE cluster_id = ?').run(ct, clusterId);
      }
    });
  }

  /** Resolves when every credential registered so far is on disk. */
  flush(): Promise<void> {
    return this.#writes;
  }

  #record(r: Row): ClusterRecord {
    return toRecord(r, this.#tokens.get(r.cluster_id) ?? '');
  }

  /** The database, shared with the route registry (one file, one transaction log). */
  get database(): Database {
    return this.#db;
  }

  get(clusterId: string): ClusterRecord | null {
    const r = this.#db.query<Row, [string]>('SELECT * FROM clusters WHERE cluster_id = ?').get(clusterId);
    return r ? this.#record(r) : null;
  }

  list(): ClusterRecord[] {
    return this.#db.query<Row, []>('SELECT * FROM clusters ORDER BY registered_at').all().map((r) => this.#record(r));
  }

  /** Find by id or by name (names are unique per agent, not globally: the first match wins). */
  find(idOrName: string): ClusterRecord | null {
    const byId = this.get(idOrName);
    if (byId) return byId;
    const r = this.#db.query<Row, [string]>('SELECT * FROM clusters WHERE name = ? ORDER BY registered_at').get(idOrName);
    return r ? this.#record(r) : null;
  }

  /**
   * Register: the cluster id is stable per (agent_id, name). A `requestedId` the hub does not know is adopted
   * (an agent re-registering with its persisted id after the hub lost its state keeps its id).
   */
  register(p: {
    agentId: string;
    name: string;
    requestedId?: string;
    k8sVersion: string;
    agentVersion: string;
    serviceToken?: string;
    /** sha256 hex of the agent token used (tokenDigest in auth.ts); never the token itself. */
    tokenDigest?: string;
    metadata: Record<string, unknown>;
    registration: Record<string, unknown>;
  }): ClusterRecord {
    const now = new Date().toISOString();
    if (p.serviceToken && !this.#cipher) throw new Error('this cluster store holds no credentials (opened without a cipher)');
    const rec = this.#db.transaction(() => {
      const existing = this.#db.query<Row, [string, string]>('SELECT * FROM clusters WHERE agent_id = ? AND name = ?').get(p.agentId, p.name);
      const id = existing?.cluster_id ?? (p.requestedId && !this.get(p.requestedId) ? p.requestedId : randomUUID());
      this.#db
        .query(
          `INSERT INTO clusters (cluster_id, name, agent_id, k8s_version, agent_version, k8s_service_token, metadata, registration, registered_at, token_sha256)
           VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
           ON CONFLICT(cluster_id) DO UPDATE SET k8s_version = ?4, agent_version = ?5,
             k8s_service_token = CASE WHEN ?6 = '' THEN k8s_service_token ELSE ?6 END, metadata = ?7, registration = ?8,
             token_sha256 = CASE WHEN ?10 = '' THEN token_sha256 ELSE ?10 END`,
        )
        // The credential column is written only by #persistToken (ciphertext); '' keeps what is there.
        .run(id, p.name, p.agentId, p.k8sVersion, p.agentVersion, '', JSON.stringify(p.metadata), JSON.stringify(p.registration), existing?.registered_at ?? now, p.tokenDigest ?? '');
      return id;
    })();
    if (p.serviceToken && this.#tokens.get(rec) !== p.serviceToken) {
      this.#tokens.set(rec, p.serviceToken);
      this.#persistToken(rec, p.serviceToken);
    }
    return this.get(rec)!;
  }

  recordHeartbeat(clusterId: string, payload: Record<string, unknown>, at = new Date()): boolean {
    const r = this.#db
      .query('UPDATE clusters SET last_heartbeat = ?, last_heartbeat_payload = ? WHERE cluster_id = ?')
      .run(at.toISOString(), JSON.stringify(payload), clusterId);
    return r.changes > 0;
  }

  close(): void {
    this.#closed = true;
    this.#db.close();
  }
}
