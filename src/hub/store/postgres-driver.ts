// The shared database of hub replicas: PostgreSQL through src/runtime/postgres.ts. Statements arrive with `?`
// placeholders and leave numbered; change notices travel by LISTEN/NOTIFY to every replica.
import { connectPostgres, type PgClient, type PgQueryable } from '../../runtime/postgres.ts';
import { numberedPlaceholders, type SqlDriver, type SqlExec, type SqlValue } from './sql-driver.ts';

/** unique_violation, serialization_failure, deadlock_detected */
const RETRYABLE = new Set(['23505', '40001', '40P01']);

const execOn = (q: PgQueryable): SqlExec => ({
  all: async <T>(sql: string, params: readonly SqlValue[] = []) => (await q.query<T>(numberedPlaceholders(sql), params)).rows,
  run: async (sql: string, params: readonly SqlValue[] = []) => (await q.query(numberedPlaceholders(sql), params)).count,
});

export class PostgresDriver implements SqlDriver {
  readonly dialect = 'postgres' as const;
  /** Any fixed key: replicas starting together take turns at migrating. */
  readonly migrationLock = 'SELECT pg_advisory_xact_lock(7165407)';
  readonly #pg: PgClient;
  readonly #exec: SqlExec;

  constructor(url: string, opts: { max?: number } = {}) {
    this.#pg = connectPostgres(url, { max: opts.max });
    this.#exec = execOn(this.#pg);
  }

  all<T>(sql: string, params?: readonly SqlValue[]): Promise<T[]> {
    return this.#exec.all<T>(sql, params);
  }

  run(sql: string, params?: readonly SqlValue[]): Promise<number> {
    return this.#exec.run(sql, params);
  }

  transaction<T>(fn: (tx: SqlExec) => Promise<T>): Promise<T> {
    return this.#pg.begin((tx) => fn(execOn(tx)));
  }

  async columns(tx: SqlExec, table: string): Promise<string[]> {
    const rows = await tx.all<{ column_name: string }>('SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ?', [table]);
    return rows.map((r) => r.column_name);
  }

  isConflict(e: unknown): boolean {
    const code = (e as { errno?: unknown; code?: unknown } | null)?.errno ?? (e as { code?: unknown } | null)?.code;
    return typeof code === 'string' && RETRYABLE.has(code);
  }

  notify(channel: string, payload: string): Promise<void> {
    return this.#pg.notify(channel, payload);
  }

  async listen(channel: string, on: (payload: string) => void, onResubscribed?: () => void): Promise<() => Promise<void>> {
    let first = true;
    const sub = await this.#pg.listen(channel, on, () => {
      if (first) first = false;
      else onResubscribed?.();
    });
    return () => sub.unlisten();
  }

  close(): Promise<void> {
    return this.#pg.close();
  }
}
