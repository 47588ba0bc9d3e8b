// A PostgreSQL server of the test's own (src/demo/postgres-server.ts in a temp dir), removed at the end. Tests
// that need it skip with a message when PostgreSQL is not installed, unless PIPEOPS_POSTGRES=required (CI), where
// they fail.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SQL } from 'bun';
import { postgresUnavailable, startPostgres as startServer } from '../../src/devstack/postgres-server.ts';

export { postgresUnavailable };
export const POSTGRES_REQUIRED = process.env.PIPEOPS_POSTGRES === 'required';

export interface TestPostgres {
  url: string;
  port: number;
  /** A fresh, empty database on this server. */
  newDatabase(): Promise<string>;
  /** Terminate every server connection to `database`: what a restarting database does to its clients. */
  killConnections(database: string): Promise<number>;
  stop(): Promise<void>;
}

let dbCounter = 0;

export async function startPostgres(): Promise<TestPostgres> {
  const dir = mkdtempSync(join(tmpdir(), 'pipeops-pg-'));
  const admin: { sql: SQL | null } = { sql: null };
  const sqlOn = (url: string) => (admin.sql ??= new SQL(url, { max: 1 }));
  const server = await startServer(dir, async (url, q) => void (await sqlOn(url).unsafe(q)));
  return {
    url: server.url,
    port: server.port,
    newDatabase: () => server.createDatabase(`t${process.pid}_${++dbCounter}`),
    async killConnections(database) {
      const rows = (await sqlOn(server.url).unsafe('SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [database])) as { ok: boolean }[];
      return rows.filter((r) => r.ok).length;
    },
    async stop() {
      await admin.sql?.close({ timeout: 0 }).catch(() => {});
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
