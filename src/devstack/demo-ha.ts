// `demo --ha`: PostgreSQL, two hub replicas (separate processes), HAProxy in front of them, and the `demo`
// cluster's agent (a separate process) dialling HAProxy; the sandbox cluster runs in this process. endpoints.json
// lists every process with its pid, so a person or a script can kill one replica and watch the other carry on:
// the agent redials through HAProxy and lands on the survivor, and kubectl (pointed at HAProxy) works again.
// One agent replica: agent leader election (issue 15 item 5) is not part of this build.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { connect } from 'node:net';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { newKeyText } from '../hub/credential-cipher.ts';
import { ensureGatewayTls } from '../hub/kube-gateway/gateway-tls.ts';
import { renderGatewayKubeconfig } from '../hub/kube-gateway/kubeconfig.ts';
import { secrets } from '../log/logger.ts';
import { connectPostgres } from '../runtime/postgres.ts';
import { type Sandbox, startSandbox } from '../sandbox/index.ts';
import { startIngressController } from '../sandbox/ingress-controller.ts';
import { startDemoApp } from '../demo/demo-apps.ts';
import { haproxyConfig, type HubReplicaPorts, startHaproxy } from './haproxy.ts';
import { freeLoopbackPort, startPostgres } from './postgres-server.ts';

export interface HaProcess {
  pid: number;
  url: string;
}

export interface HaDemoEndpoints {
  /** HAProxy: what agents, kubectl and app clients use. */
  hub_url: string;
  kube_url: string;
  gateway_url: string;
  sandbox_url: string;
  cluster_id: string;
  kubeconfig: string;
  hub_replicas: (HaProcess & { id: string; kube_url: string; gateway_url: string; log: string })[];
  agent_replicas: (HaProcess & { log: string })[];
  haproxy: { pid: number };
  postgres: { pid: number; url: string };
  /** The agent redials a lost session within this bound (its reconnect cap, jitter included). */
  agent_reconnect_max_ms: number;
}

export interface RunningHaDemo {
  endpoints: HaDemoEndpoints;
  sandbox: Sandbox;
  adminToken: string;
  userToken: string;
  /** Start a killed hub replica again (same id, ports and config). */
  restartReplica(id: string): Promise<HaProcess>;
  stop(): Promise<void>;
}

const token = (prefix: string) => `${prefix}-${randomBytes(18).toString('base64url')}`;
const AGENT_RECONNECT_MAX_MS = 2_000;

/** argv that runs this program's CLI with `args`: the compiled binary itself, or bun with src/cli.ts. */
function selfCommand(args: string[]): [string, string[]] {
  const compiled = import.meta.dir.startsWith('/$bunfs') || import.meta.dir.startsWith('B:\\~BUN');
  return compiled ? [process.execPath, args] : [process.execPath, [join(import.meta.dir, '..', 'cli.ts'), ...args]];
}

/** A probe's verdict that waiting longer cannot change (a process exited). */
class Fatal extends Error {}

async function waitUntil(what: string, timeoutMs: number, probe: () => Promise<boolean>): Promise<void> {
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

const accepts = (port: number) =>
  new Promise<boolean>((res) => {
    const s = connect({ host: '127.0.0.1', port }, () => {
      s.destroy();
      res(true);
    });
    s.on('error', () => res(false));
  });

export async function startHaDemo(o: { dir: string }): Promise<RunningHaDemo> {
  const dir = resolve(o.dir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const note = (line: string) => appendFileSync(join(dir, 'demo.log'), `${new Date().toISOString()} ${line}\n`);
  const tokens = { agent: token('agent'), admin: token('admin'), user: token('user'), sandboxSa: token('sa') };
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
    });
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
    for (const name of ['hub-a', 'hub-b']) replicas.push({ name, host: '127.0.0.1', port: await freeLoopbackPort(), kube_port: await freeLoopbackPort(), gateway_port: await freeLoopbackPort() });

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
          replica: { id: r.name, secret: replicaSecret, lease: '5s' },
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
    const started: HaProcess[] = [];
    for (const r of replicas) started.push(await startReplica(r));

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

    // The cluster: the sandbox API server, its ingress controller stand-in and the hello app (in this process).
    const sandbox = await startSandbox({ tls: 'generate', tokens: { [tokens.sandboxSa]: { verbs: '*', resources: '*', namespaces: '*' } }, seed: 'demo' });
    stops.push(() => sandbox.close());
    const sandboxKubeconfig = join(dir, 'sandbox-kubeconfig');
    await sandbox.writeKubeconfig(sandboxKubeconfig, { token: tokens.sandboxSa });
    const ingress = await startIngressController(sandbox);
    stops.push(() => ingress.stop());
    const hello = await startDemoApp({ directLabel: 'directly' });
    stops.push(() => hello.stop());
    ingress.bind('demo', 'hello', 80, { host: '127.0.0.1', port: hello.port });

    // The agent, dialling HAProxy, as its own process.
    const agentPort = await freeLoopbackPort();
    const agentCfg = join(dir, 'agent.yaml');
    writeFileSync(
      agentCfg,
      stringify({
        agent: { cluster_name: 'demo', port: agentPort, host: '127.0.0.1', state_file: join(dir, 'agent-state.yaml'), heartbeat_interval: '10s', enable_ingress_sync: true },
        pipeops: { api_url: frontUrl, token: tokens.agent },
        kubernetes: { in_cluster: false, kubeconfig: sandboxKubeconfig, service_token: tokens.sandboxSa, service_proxy: 'apiserver' },
        timeouts: { websocket_reconnect: '200ms', websocket_reconnect_max: `${AGENT_RECONNECT_MAX_MS}ms` },
      }),
      { mode: 0o600 },
    );
    const agentLog = join(dir, 'agent.log');
    const [acmd, aargs] = selfCommand(['agent', '--config', agentCfg]);
    const agent = spawn(acmd, aargs, { stdio: ['ignore', openSync(agentLog, 'a'), openSync(agentLog, 'a')], env: { ...process.env, PIPEOPS_CONFIG: '' } });
    stops.push(
      () =>
        new Promise<void>((res) => {
          if (agent.exitCode !== null || agent.signalCode !== null) return res();
          agent.once('close', () => res());
          agent.kill('SIGTERM');
        }),
    );
    const admin = { authorization: `Bearer ${tokens.admin}` };
    let clusterId = '';
    await waitUntil('the agent registered and connected (see agent.log)', 30_000, async () => {
      if (agent.exitCode !== null) throw new Fatal(`the agent exited with ${agent.exitCode}; see ${agentLog}`);
      const list = (await (await fetch(`${frontUrl}/api/v1/clusters`, { headers: admin })).json()) as { clusters: { cluster_id: string; name: string; connected: boolean }[] };
      clusterId = list.clusters.find((c) => c.name === 'demo' && c.connected)?.cluster_id ?? '';
      return clusterId !== '';
    });
    await waitUntil('hello.demo.local registered by the agent', 30_000, async () => {
      const r = (await (await fetch(`${frontUrl}/api/v1/gateway/routes`, { headers: admin })).json()) as { routes: { hostname: string }[] };
      return r.routes.some((x) => x.hostname === 'hello.demo.local');
    });

    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(
      kubeconfig,
      renderGatewayKubeconfig({ gatewayUrl: `https://127.0.0.1:${front.kube_port}`, clusterId, clusterName: 'demo', caPem: tls.caPem, userToken: tokens.user, namespace: 'demo' }),
      { mode: 0o600 },
    );
    const endpoints: HaDemoEndpoints = {
      hub_url: frontUrl,
      kube_url: `https://127.0.0.1:${front.kube_port}`,
      gateway_url: `http://127.0.0.1:${front.gateway_port}`,
      sandbox_url: sandbox.url,
      cluster_id: clusterId,
      kubeconfig,
      hub_replicas: replicas.map((r, i) => ({
        id: r.name,
        url: started[i]!.url,
        kube_url: `https://${r.host}:${r.kube_port}`,
        gateway_url: `http://${r.host}:${r.gateway_port}`,
        pid: started[i]!.pid,
        log: join(dir, `${r.name}.log`),
      })),
      agent_replicas: [{ url: `http://127.0.0.1:${agentPort}`, pid: agent.pid!, log: agentLog }],
      haproxy: { pid: haproxy.pid },
      postgres: { pid: pg.pid, url: database },
      agent_reconnect_max_ms: AGENT_RECONNECT_MAX_MS,
    };
    writeFileSync(join(dir, 'endpoints.json'), `${JSON.stringify(endpoints, null, 2)}\n`);
    writeFileSync(join(dir, 'tokens.json'), `${JSON.stringify({ admin_token: tokens.admin, user_token: tokens.user }, null, 2)}\n`, { mode: 0o600 });
    return {
      endpoints,
      sandbox,
      adminToken: tokens.admin,
      userToken: tokens.user,
      async restartReplica(id) {
        const r = replicas.find((x) => x.name === id);
        if (!r) throw new Error(`no replica ${id}`);
        const p = await startReplica(r);
        const e = endpoints.hub_replicas.find((x) => x.id === id)!;
        e.pid = p.pid;
        writeFileSync(join(dir, 'endpoints.json'), `${JSON.stringify(endpoints, null, 2)}\n`);
        return p;
      },
      stop: stopAll,
    };
  } catch (e) {
    await stopAll();
    throw e;
  }
}

export function haDemoInstructions(e: HaDemoEndpoints, dir: string): string {
  const [a, b] = e.hub_replicas;
  return `
PipeOps HA demo is running: PostgreSQL, two hub replicas behind HAProxy, the "demo" cluster's agent.

  export KUBECONFIG=${e.kubeconfig}
  kubectl get pods                       # through HAProxy → any replica → the one holding the session → agent
  curl -H 'Host: hello.demo.local' ${e.gateway_url}/

Replicas: ${a?.id} pid ${a?.pid} (${a?.url}), ${b?.id} pid ${b?.pid} (${b?.url}); agent pid ${e.agent_replicas[0]?.pid}; haproxy pid ${e.haproxy.pid}.
Kill one (kill -9 ${a?.pid}) and run kubectl again: the agent redials through HAProxy within ${e.agent_reconnect_max_ms / 1000} s.
One agent replica: agent leader election (issue 15 item 5) is not in this build.

Endpoints: ${join(dir, 'endpoints.json')}   Logs: ${dir}/*.log   Stop: Ctrl-C
`;
}
