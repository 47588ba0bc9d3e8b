// Hub replicas on loopback for the HA demo, the replica tests and bench/scale.ts: a private PostgreSQL, N hub
// processes sharing it (and one gateway certificate, one credentials key, one replica secret), and HAProxy in
// front (TCP passthrough, /readyz checks). Each replica can be killed and started again with the same identity.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { newKeyText } from '../hub/credential-cipher.ts';
import { ensureGatewayTls } from '../hub/kube-gateway/gateway-tls.ts';
import { secrets } from '../log/logger.ts';
import { connectPostgres } from '../runtime/postgres.ts';
import { haproxyConfig, type HubReplicaPorts, startHaproxy } from './haproxy.ts';
import { freeLoopbackPort, startPostgres } from './postgres-server.ts';

export interface HaProcess {
  pid: number;
  url: string;
}

export interface HubCluster {
  /** HAProxy's listeners. */
  front: { host: string; port: number; kube_port: number; gateway_port: number };
  frontUrl: string;
  replicas: HubReplicaPorts[];
  /** The current process of each replica (by name). */
  pids(): Map<string, number>;
  tokens: { agent: string; admin: string; user: string };
  /** CA of the shared gateway certificate (kubeconfigs). */
  caPem: string;
  database: string;
  postgres: { pid: number };
  haproxy: { pid: number };
  startReplica(name: string): Promise<HaProcess>;
  stop(): Promise<void>;
}

export const token = (prefix: string) => `${prefix}-${randomBytes(18).toString('base64url')}`;

/** argv that runs this program's CLI with `args`: the compiled binary itself, or bun with src/cli.ts. */
export function selfCommand(args: string[]): [string, string[]] {
  const compiled = import.meta.dir.startsWith('/$bunfs') || import.meta.dir.startsWith('B:\\~BUN');
  return compiled ? [process.execPath, args] : [process.execPath, [join(import.meta.dir, '..', 'cli.ts'), ...args]];
}

/** A probe's verdict that waiting longer cannot change (a process exited). */
export class Fatal extends Error {}

export async function waitUntil(what: string, timeoutMs: number, probe: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await probe().catch((e: unknown) => {
      if (e instanceof Fatal) throw e;
      return false; // not listening yet, not ready yet
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export const accepts = (port: number) =>
  new Promise<boolean>((res) => {
    const s = connect({ host: '127.0.0.1', port }, () => {
      s.destroy();
      res(true);
    });
    s.on('error', () => res(false));
  });

export async function startHubCluster(o: { dir: string; replicas?: number; lease?: string; note?: (line: string) => void; extraConfig?: Record<string, unknown>; durablePostgres?: boolean }): Promise<HubCluster> {
  const dir = o.dir;
  const note = o.note ?? (() => {});
  const tokens = { agent: token('agent'), admin: token('admin'), user: token('user') };
  const replicaSecret = token('replica');
  const credentialsKey = newKeyText();
  for (const t of [...Object.values(tokens), replicaSecret, credentialsKey]) secrets.add(t);
  const stops: (() => Promise<unknown>)[] = [];
  const stopAll = async () => {
    for (const s of stops.splice(0).reverse()) await s().catch((e: Error) => note(`stop: ${e.message}`));
  };
  try {
    // The shared database, in a directory of its own under the temp dir: as root it runs as the postgres user,
    // which may not enter the demo directory (0700).
    const pgDir = mkdtempSync(join(tmpdir(), 'pipeops-demo-pg-'));
    stops.push(async () => rmSync(pgDir, { recursive: true, force: true }));
    const pg = await startPostgres(pgDir, async (url, q) => {
      const c = connectPostgres(url, { max: 1 });
      try {
        await c.query(q, []);
      } finally {
        await c.close();
      }
    }, { durable: o.durablePostgres });
    stops.push(() => pg.stop());
    const database = await pg.createDatabase('pipeops_hub');
    note(`postgres ${pg.url} (pid ${pg.pid})`);

    // One gateway certificate for every replica (kubectl trusts one CA, whichever replica HAProxy picks): minted
    // here once in `<state>.tls/`, and every replica is given that same `state` (with PostgreSQL it names only
    // that directory). The agent endpoint stays plain HTTP on loopback, as in the single-hub demo.
    const sharedState = join(dir, 'gateway');
    const tls = await ensureGatewayTls({ state: sharedState, host: '127.0.0.1', publicUrl: '' });

    const front = { host: '127.0.0.1', port: await freeLoopbackPort(), kube_port: await freeLoopbackPort(), gateway_port: await freeLoopbackPort() };
    const frontUrl = `http://127.0.0.1:${front.port}`;
    const replicas: HubReplicaPorts[] = [];
    for (const name of Array.from({ length: o.replicas ?? 2 }, (_, i) => `hub-${String.fromCharCode(97 + i)}`)) replicas.push({ name, host: '127.0.0.1', port: await freeLoopbackPort(), kube_port: await freeLoopbackPort(), gateway_port: await freeLoopbackPort() });

    const procs = new Map<string, ChildProcess>();
    const startReplica = async (r: HubReplicaPorts): Promise<HaProcess> => {
      const cfgFile = join(dir, `${r.name}.yaml`);
      writeFileSync(
        cfgFile,
        stringify({
          host: r.host,
          port: r.port,
          kube_port: r.kube_port,
          gateway_port: r.gateway_port,
          agent_tokens: [tokens.agent],
          admin_tokens: [tokens.admin],
          user_tokens: [tokens.user],
          database,
          state: sharedState,
          // Agents are handed off to HAProxy, which picks any replica.
          public_url: frontUrl,
          credentials: { key: credentialsKey },
          replica: { id: r.name, secret: replicaSecret, lease: o.lease ?? '5s' },
          // HAProxy (on loopback) sends a PROXY v2 header on the public gateway port (src/devstack/haproxy.ts).
          gateway_proxy_protocol_from: ['127.0.0.1/32'],
          ...o.extraConfig,
          direct_allowed_cidrs: ['127.0.0.0/8'],
        }),
        { mode: 0o600 },
      );
      const log = openSync(join(dir, `${r.name}.log`), 'a');
      const [cmd, args] = selfCommand(['hub', '--config', cfgFile]);
      const p = spawn(cmd, args, { stdio: ['ignore', log, log], env: { ...process.env, PIPEOPS_HUB_CONFIG: '' } });
      procs.set(r.name, p);
      await waitUntil(`${r.name} ready (see ${r.name}.log)`, 30_000, async () => {
        if (p.exitCode !== null) throw new Fatal(`${r.name} exited with ${p.exitCode}; see ${join(dir, `${r.name}.log`)}`);
        return (await fetch(`http://${r.host}:${r.port}/readyz`)).status === 200;
      });
      note(`${r.name} pid ${p.pid} on ${r.port}/${r.kube_port}/${r.gateway_port}`);
      return { pid: p.pid!, url: `http://${r.host}:${r.port}` };
    };
    // Registered before the first start: a replica that never gets ready is stopped too.
    stops.push(async () => {
      await Promise.all(
        [...procs.values()].map(
          (p) =>
            new Promise<void>((res) => {
              if (p.exitCode !== null || p.signalCode !== null) return res();
              p.once('close', () => res());
              p.kill('SIGTERM');
            }),
        ),
      );
    });
    for (const r of replicas) await startReplica(r);

    const cfgFile = join(dir, 'haproxy.cfg');
    writeFileSync(cfgFile, haproxyConfig(front, replicas));
    const haproxy = await startHaproxy(cfgFile);
    stops.push(() => haproxy.stop());
    for (const p of [front.port, front.kube_port, front.gateway_port])
      await waitUntil(`haproxy listening on ${p}`, 10_000, async () => {
        const failed = haproxy.failure();
        if (failed) throw new Fatal(failed);
        return accepts(p);
      });
    await waitUntil('a replica up behind haproxy', 15_000, async () => (await fetch(`${frontUrl}/readyz`)).status === 200);

    return {
      front,
      frontUrl,
      replicas,
      pids: () => new Map([...procs].map(([k, p]) => [k, p.pid!])),
      tokens,
      caPem: tls.caPem!,
      database,
      postgres: { pid: pg.pid },
      haproxy: { pid: haproxy.pid },
      startReplica: (name) => {
        const r = replicas.find((x) => x.name === name);
        if (!r) throw new Error(`no replica ${name}`);
        return startReplica(r);
      },
      stop: stopAll,
    };
  } catch (e) {
    await stopAll();
    throw e;
  }
}
