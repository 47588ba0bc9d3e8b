// What the SQL store needs from a database: parameterised statements, transactions, a column list for
// migrations, and a change channel. Statements are written once with `?` placeholders; each driver turns them
// into its dialect (PostgreSQL: `$n`). Both drivers store the same column types (TEXT, INTEGER, BIGINT).
export type SqlValue = string | number | null;

export interface SqlExec {
  all<T>(sql: string, params?: readonly SqlValue[]): Promise<T[]>;
  /** Returns the number of rows changed. */
  run(sql: string, params?: readonly SqlValue[]): Promise<number>;
}

export interface SqlDriver extends SqlExec {
  readonly dialect: 'sqlite' | 'postgres';
  /**
   * One transaction. `fn` awaits only this transaction's statements (no other I/O): the SQLite driver runs on
   * one connection and serialises transactions.
   */
  transaction<T>(fn: (tx: SqlExec) => Promise<T>): Promise<T>;
  /** Column names of a table ([] when the table does not exist). */
  columns(tx: SqlExec, table: string): Promise<string[]>;
  /** Taken inside the migration transaction so that replicas starting together migrate one at a time. */
  readonly migrationLock: string | null;
  /** True for an error another writer caused (unique violation, serialisation failure): the transaction may be retried. */
  isConflict(e: unknown): boolean;
  /** Announce a change to every process on this database (itself included). */
  notify(channel: string, payload: string): Promise<void>;
  /** `onResubscribed` runs after the subscription was lost and made again (notices in between are lost). */
  listen(channel: string, on: (payload: string) => void, onResubscribed?: () => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

/** `?` → `$1, $2, …` (our statements hold no `?` inside string literals). */
export function numberedPlaceholders(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

/**
 * Run a transaction again when another writer made it fail (two replicas registering the same new cluster or
 * claiming the same host): the second run sees the first writer's rows and decides on them.
 */
export async function retryConflicts<T>(db: SqlDriver, fn: () => Promise<T>, attempts = 5): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      if (attempt >= attempts || !db.isConflict(e)) throw e;
    }
  }
}
