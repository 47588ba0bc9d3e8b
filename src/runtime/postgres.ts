// The one use of Bun's built-in PostgreSQL client (Bun.SQL): the hub's shared store when `database` is a
// postgres:// URL. Why Bun's client and not an npm driver: it ships with the runtime (no dependency), pools,
// speaks the extended protocol with parameters, and has LISTEN/NOTIFY with re-subscription after reconnects.
// The rest of the hub sees only these interfaces, so another runtime can bring its own driver.
import { SQL } from 'bun';

export interface PgQueryable {
  /** One statement with `$1`-style parameters; rows as objects, `count` the rows affected or returned. */
  query<T>(text: string, params: readonly unknown[]): Promise<{ rows: T[]; count: number }>;
}

export interface PgClient extends PgQueryable {
  /** BEGIN … COMMIT on one pooled connection; ROLLBACK when `fn` throws. */
  begin<T>(fn: (tx: PgQueryable) => Promise<T>): Promise<T>;
  /** LISTEN on a dedicated connection, re-subscribed after it drops; `onListen` runs each time it (re)subscribed. */
  listen(channel: string, onNotify: (payload: string) => void, onListen?: () => void): Promise<{ unlisten(): Promise<void> }>;
  notify(channel: string, payload: string): Promise<void>;
  close(): Promise<void>;
}

export interface PgOptions {
  /** Pool size (default 10). */
  max?: number;
  /** Seconds to wait for a connection before the query fails (default 10). */
  connectionTimeoutS?: number;
}

const queryOn = (sql: SQL): PgQueryable['query'] => async <T>(text: string, params: readonly unknown[]) => {
  const res = (await sql.unsafe(text, params as unknown[])) as T[] & { count?: number | null };
  return { rows: [...res], count: res.count ?? res.length };
};

export function connectPostgres(url: string, o: PgOptions = {}): PgClient {
  const sql = new SQL(url, { max: o.max ?? 10, connectionTimeout: o.connectionTimeoutS ?? 10, idleTimeout: 60 });
  return {
    query: queryOn(sql),
    begin: <T>(fn: (tx: PgQueryable) => Promise<T>) => sql.begin(async (tx) => fn({ query: queryOn(tx as unknown as SQL) })) as Promise<T>,
    listen: async (channel, onNotify, onListen) => {
      const sub = await sql.listen(channel, onNotify, onListen);
      return { unlisten: () => sub.unlisten() };
    },
    notify: (channel, payload) => sql.notify(channel, payload),
    close: () => sql.close({ timeout: 1 }),
  };
}
