// Opening the hub's store: SQLite at the state path (the default), or PostgreSQL when `database` is a
// postgres:// URL (hub replicas share it). The schema is migrated before anything reads it.
import { randomUUID } from 'node:crypto';
import type { CredentialCipher } from '../credential-cipher.ts';
import { migrate } from './migrations.ts';
import { PostgresDriver } from './postgres-driver.ts';
import { SqlClusterStore } from './sql-cluster-store.ts';
import type { SqlDriver } from './sql-driver.ts';
import { SqlRouteStore } from './sql-route-store.ts';
import { TunnelStore } from '../tunnels/tunnel-store.ts';
import { SqlSessionLeases } from './sql-session-leases.ts';
import { SqliteDriver } from './sqlite-driver.ts';
import type { HubStore } from './types.ts';

export interface OpenStoreOptions {
  /** '' or a file path / ':memory:' → SQLite; postgres:// or postgresql:// → PostgreSQL. */
  database: string;
  /** Without one the store reads clusters but holds no credentials (`hub kubeconfig`). */
  cipher: CredentialCipher | null;
  /** Tells this process's change announcements from other replicas' (default: a random id). */
  origin?: string;
  /** PostgreSQL pool size. */
  poolSize?: number;
}

export const isPostgresUrl = (s: string) => /^postgres(ql)?:\/\//i.test(s);

/** A URL with its password replaced, for logs and errors. */
export function redactDatabaseUrl(s: string): string {
  if (!isPostgresUrl(s)) return s;
  try {
    const u = new URL(s);
    if (u.password) u.password = '***';
    for (const k of [...u.searchParams.keys()]) if (/pass|secret|key/i.test(k)) u.searchParams.set(k, '***');
    return u.toString();
  } catch {
    return 'postgres://(unparsable URL)';
  }
}

export interface OpenedStore {
  store: HubStore;
  /** Credentials re-encrypted with the current key at opening. */
  reencrypted: number;
  /** Schema versions applied now. */
  migrated: number[];
}

export async function openHubStore(o: OpenStoreOptions): Promise<OpenedStore> {
  const postgres = isPostgresUrl(o.database);
  const driver: SqlDriver & { checkpoint?(): void } = postgres ? new PostgresDriver(o.database, { max: o.poolSize }) : new SqliteDriver(o.database);
  try {
    const migrated = await migrate(driver).catch((e: Error) => {
      throw new Error(`cannot open the state database ${redactDatabaseUrl(o.database)}: ${e.message}`);
    });
    const clusters = new SqlClusterStore(driver, o.cipher);
    const reencrypted = await clusters.loadCredentials();
    // Old plaintext and old-key ciphertext must not linger in the WAL.
    if (reencrypted) driver.checkpoint?.();
    const routes = new SqlRouteStore(driver, o.origin ?? randomUUID());
    await routes.start();
    const tunnels = new TunnelStore(driver, o.origin ?? randomUUID());
    await tunnels.start();
    const store: HubStore = {
      kind: postgres ? 'postgres' : 'sqlite',
      clusters,
      routes,
      tunnels,
      leases: new SqlSessionLeases(driver),
      ping: async () => {
        await driver.all('SELECT 1');
      },
      close: async () => {
        await routes.stop().catch(() => {});
        await tunnels.stop().catch(() => {});
        await driver.close();
      },
    };
    return { store, reencrypted, migrated };
  } catch (e) {
    await driver.close().catch(() => {});
    throw e;
  }
}
