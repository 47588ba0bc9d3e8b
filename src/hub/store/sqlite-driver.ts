// The embedded database (the default): one SQLite file in WAL mode, or ':memory:'. bun:sqlite is synchronous;
// the async SqlDriver face resolves at once, and transactions are serialised by a promise chain.
import { Database } from '../../runtime/sqlite.ts';
import type { SqlDriver, SqlExec, SqlValue } from './sql-driver.ts';

export class SqliteDriver implements SqlDriver {
  readonly dialect = 'sqlite' as const;
  readonly migrationLock = null;
  readonly #db: Database;
  readonly #listeners = new Map<string, Set<(payload: string) => void>>();
  #chain: Promise<unknown> = Promise.resolve();

  constructor(path: string) {
    this.#db = new Database(path, { create: true });
    this.#db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 2000; PRAGMA secure_delete = ON;');
  }

  async all<T>(sql: string, params: readonly SqlValue[] = []): Promise<T[]> {
    return this.#db.query<T, SqlValue[]>(sql).all(...params);
  }

  async run(sql: string, params: readonly SqlValue[] = []): Promise<number> {
    return this.#db.query(sql).run(...params).changes;
  }

  transaction<T>(fn: (tx: SqlExec) => Promise<T>): Promise<T> {
    const next = this.#chain.then(async () => {
      this.#db.exec('BEGIN IMMEDIATE');
      try {
        const out = await fn(this);
        this.#db.exec('COMMIT');
        return out;
      } catch (e) {
        if (this.#db.inTransaction) this.#db.exec('ROLLBACK');
        throw e;
      }
    });
    this.#chain = next.catch(() => {});
    return next;
  }

  async columns(tx: SqlExec, table: string): Promise<string[]> {
    return (await tx.all<{ name: string }>(`PRAGMA table_info(${table})`)).map((c) => c.name);
  }

  isConflict(): boolean {
    return false; // BEGIN IMMEDIATE: one writer at a time, nothing to retry.
  }

  /** One process owns the file: a change reaches this process's listeners only. */
  async notify(channel: string, payload: string): Promise<void> {
    for (const l of this.#listeners.get(channel) ?? []) l(payload);
  }

  async listen(channel: string, on: (payload: string) => void): Promise<() => Promise<void>> {
    const set = this.#listeners.get(channel) ?? new Set();
    this.#listeners.set(channel, set);
    set.add(on);
    return async () => void set.delete(on);
  }

  /** Write what the WAL holds into the file and empty it (after re-encrypting credentials). */
  checkpoint(): void {
    this.#db.exec('PRAGMA wal_checkpoint(TRUNCATE);');
  }

  async close(): Promise<void> {
    await this.#chain;
    this.#db.close();
  }
}
