// A PostgreSQL server of the test's own: initdb in a temp dir, listening on a free loopback port, stopped at the
// end. Debian's PostgreSQL 15 binaries (or PIPEOPS_POSTGRES_BIN). initdb refuses to run as root, so as root the
// cluster is created and run as the `postgres` user (runuser). Without the binaries the tests that need it skip
// with a message, unless PIPEOPS_POSTGRES=required (CI), where they fail.
import { chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SQL } from 'bun';

const BIN = process.env.PIPEOPS_POSTGRES_BIN ?? '/usr/lib/postgresql/15/bin';
export const POSTGRES_REQUIRED = process.env.PIPEOPS_POSTGRES === 'required';

export interface TestPostgres {
  /** postgres://… of the server's default database. */
  url: string;
  port: number;
  /** A fresh, empty database on this server. */
  newDatabase(): Promise<string>;
  /** Terminate every server connection to `database` (not the caller's): what a restarting database does to clients. */
  killConnections(database: string): Promise<number>;
  stop(): Promise<void>;
}

/** Why PostgreSQL cannot be started here, or null when it can. */
export function postgresUnavailable(): string | null {
  if (!existsSync(join(BIN, 'initdb')) || !existsSync(join(BIN, 'pg_ctl'))) return `PostgreSQL binaries not found in ${BIN} (apt-get install postgresql, or set PIPEOPS_POSTGRES_BIN)`;
  if (process.getuid?.() === 0 && Bun.spawnSync(['id', '-u', 'postgres']).exitCode !== 0) return 'running as root and there is no postgres user to run initdb as';
  return null;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function run(argv: string[], asPostgres: boolean): Promise<{ code: number; out: string }> {
  const cmd = asPostgres ? ['runuser', '-u', 'postgres', '--', ...argv] : argv;
  const p = Bun.spawn(cmd, { stdout: 'pipe', stderr: 'pipe', env: { ...process.env, LC_ALL: 'C' } });
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  return { code: await p.exited, out: out + err };
}

let dbCounter = 0;

export async function startPostgres(): Promise<TestPostgres> {
  const why = postgresUnavailable();
  if (why) throw new Error(why);
  const asPostgres = process.getuid?.() === 0;
  const dir = mkdtempSync(join(tmpdir(), 'pipeops-pg-'));
  if (asPostgres) {
    const ids = Bun.spawnSync(['id', '-u', 'postgres']).stdout.toString().trim();
    const gid = Bun.spawnSync(['id', '-g', 'postgres']).stdout.toString().trim();
    chownSync(dir, Number(ids), Number(gid));
  }
  const data = join(dir, 'data');
  const init = await run([join(BIN, 'initdb'), '-D', data, '-A', 'trust', '-U', 'pipeops', '-E', 'UTF8', '--no-sync'], asPostgres);
  if (init.code !== 0) throw new Error(`initdb failed: ${init.out}`);
  let port = 0;
  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    const opts = `-k ${dir} -h 127.0.0.1 -p ${port} -F -c fsync=off -c full_page_writes=off -c max_connections=200`;
    const start = await run([join(BIN, 'pg_ctl'), '-D', data, '-o', opts, '-l', join(dir, 'server.log'), '-w', '-t', '30', 'start'], asPostgres);
    if (start.code === 0) break;
    // Another process may have taken the port between our probe and the server's bind.
    if (attempt >= 2) throw new Error(`pg_ctl start failed: ${start.out}\n${Bun.spawnSync(['tail', '-20', join(dir, 'server.log')]).stdout.toString()}`);
  }
  const url = `postgres://pipeops@127.0.0.1:${port}/postgres`;
  const admin = new SQL(url, { max: 1 });
  return {
    url,
    port,
    async newDatabase() {
      const name = `t${process.pid}_${++dbCounter}`;
      await admin.unsafe(`CREATE DATABASE ${name}`);
      return `postgres://pipeops@127.0.0.1:${port}/${name}`;
    },
    async killConnections(database) {
      const rows = (await admin.unsafe('SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [database])) as { ok: boolean }[];
      return rows.filter((r) => r.ok).length;
    },
    async stop() {
      await admin.close({ timeout: 0 }).catch(() => {});
      await run([join(BIN, 'pg_ctl'), '-D', data, '-m', 'immediate', '-w', 'stop'], asPostgres);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
