// A private PostgreSQL server for the HA demo and the tests: initdb in a directory of ours, listening on a free
// loopback port, stopped (immediate) at the end. Debian's PostgreSQL binaries (PIPEOPS_POSTGRES_BIN to choose
// others). initdb refuses to run as root: as root the cluster is created and run as the `postgres` user.
import { spawn, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

export interface PostgresServer {
  /** postgres://pipeops@127.0.0.1:<port>/postgres (trust authentication on loopback). */
  url: string;
  port: number;
  /** postgres://… of a database created now. */
  createDatabase(name: string): Promise<string>;
  /** The server's process id (the postmaster). */
  pid: number;
  stop(): Promise<void>;
}

/** Where initdb and pg_ctl are: PIPEOPS_POSTGRES_BIN, else the newest /usr/lib/postgresql/<v>/bin. */
export function postgresBin(env: Record<string, string | undefined> = process.env): string | null {
  if (env.PIPEOPS_POSTGRES_BIN) return existsSync(join(env.PIPEOPS_POSTGRES_BIN, 'initdb')) ? env.PIPEOPS_POSTGRES_BIN : null;
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
    .sort((x, y) => Number(y) - Number(x));
  return versions.length ? join(root, versions[0]!, 'bin') : null;
}

/** Why a private PostgreSQL cannot be started here, or null. */
export function postgresUnavailable(): string | null {
  const bin = postgresBin();
  if (!bin) return 'PostgreSQL binaries not found (apt-get install postgresql, or set PIPEOPS_POSTGRES_BIN)';
  if (process.getuid?.() === 0 && spawnSync('id', ['-u', 'postgres']).status !== 0) return 'running as root and there is no postgres user to run initdb as';
  return null;
}

export async function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function run(argv: string[], asPostgres: boolean): Promise<{ code: number; out: string }> {
  const [cmd, ...args] = asPostgres ? ['runuser', '-u', 'postgres', '--', ...argv] : argv;
  return new Promise((resolve) => {
    const p = spawn(cmd!, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
    let out = '';
    p.stdout.on('data', (c: Buffer) => (out += c.toString()));
    p.stderr.on('data', (c: Buffer) => (out += c.toString()));
    p.on('error', (e) => resolve({ code: 127, out: e.message }));
    p.on('close', (code) => resolve({ code: code ?? 1, out }));
  });
}

/**
 * `dir` must be empty or absent; the server's data and socket live there. `psql` is not needed. `durable`: commits
 * are flushed to disk as in production (default off: fsync and full-page writes off, for tests and the demo).
 */
export async function startPostgres(dir: string, query: (url: string, sql: string) => Promise<void>, o: { durable?: boolean } = {}): Promise<PostgresServer> {
  const why = postgresUnavailable();
  if (why) throw new Error(why);
  const bin = postgresBin()!;
  const asPostgres = process.getuid?.() === 0;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (asPostgres) {
    const uid = Number(spawnSync('id', ['-u', 'postgres']).stdout.toString().trim());
    const gid = Number(spawnSync('id', ['-g', 'postgres']).stdout.toString().trim());
    chownSync(dir, uid, gid);
  }
  const data = join(dir, 'data');
  const init = await run([join(bin, 'initdb'), '-D', data, '-A', 'trust', '-U', 'pipeops', '-E', 'UTF8', '--no-sync'], asPostgres);
  if (init.code !== 0) throw new Error(`initdb failed: ${init.out.trim()}`);
  let port = 0;
  for (let attempt = 1; ; attempt++) {
    port = await freeLoopbackPort();
    const durability = o.durable ? '' : ' -F -c fsync=off -c full_page_writes=off';
    const opts = `-k ${dir} -h 127.0.0.1 -p ${port}${durability} -c max_connections=300`;
    const start = await run([join(bin, 'pg_ctl'), '-D', data, '-o', opts, '-l', join(dir, 'server.log'), '-w', '-t', '30', 'start'], asPostgres);
    if (start.code === 0) break;
    // Another process may have taken the port between the probe and the server's bind.
    if (attempt >= 3) throw new Error(`pg_ctl start failed: ${start.out.trim()}`);
  }
  const url = `postgres://pipeops@127.0.0.1:${port}/postgres`;
  const pid = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
  return {
    url,
    port,
    pid,
    async createDatabase(name) {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`not a plain database name: ${name}`);
      await query(url, `CREATE DATABASE ${name}`);
      return `postgres://pipeops@127.0.0.1:${port}/${name}`;
    },
    async stop() {
      await run([join(bin, 'pg_ctl'), '-D', data, '-m', 'immediate', '-w', 'stop'], asPostgres);
    },
  };
}
