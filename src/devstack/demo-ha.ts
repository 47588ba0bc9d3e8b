// `demo --ha`: PostgreSQL, two hub replicas (separate processes), HAProxy in front of them, and the `demo`
// cluster's agent (a separate process) dialling HAProxy; the sandbox cluster runs in this process. endpoints.json
// lists every process with its pid, so a person or a script can kill one replica and watch the other carry on:
// the agent redials through HAProxy and lands on the survivor, and kubectl (pointed at HAProxy) works again.
// Two agent replicas for the `demo` cluster with leader election on (a Lease in the sandbox's `pipeops-system`,
// the kubeconfig's namespace): one config file and one state file (one cluster identity), a distinct identity and
// port each; the leader holds the session, the standby is ready but passive and takes over when the leader dies.
import { spawn } from 'node:child_process';
import { appendFileSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { renderGatewayKubeconfig } from '../hub/kube-gateway/kubeconfig.ts';
import { secrets } from '../log/logger.ts';
import { type Sandbox, startSandbox } from '../sandbox/index.ts';
import { startIngressController } from '../sandbox/ingress-controller.ts';
import { startDemoApp } from '../demo/demo-apps.ts';
import { Fatal, type HaProcess, selfCommand, startHubCluster, token, waitUntil } from './hub-cluster.ts';
import { freeLoopbackPort } from './postgres-server.ts';

export type { HaProcess };

export interface HaDemoEndpoints {
  /** HAProxy: what agents, kubectl and app clients use. */
  hub_url: string;
  kube_url: string;
  gateway_url: string;
  sandbox_url: string;
  cluster_id: string;
  kubeconfig: string;
  hub_replicas: (HaProcess & { id: string; kube_url: string; gateway_url: string; log: string })[];
  /** Both agent replicas; `identity` is the Lease holder name, `/ready` (at `url`) tells the current role. */
  agent_replicas: (HaProcess & { identity: string; log: string })[];
  /** The identity that held the agent Lease when the demo came up. */
  agent_leader: string;
  /** The agent Lease (namespace/name) in the sandbox. */
  agent_lease: string;
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

const AGENT_RECONNECT_MAX_MS = 2_000;
const AGENT_IDENTITIES = ['agent-a', 'agent-b'] as const;
const LEASE_NAMESPACE = 'pipeops-system';

export async function startHaDemo(o: { dir: string }): Promise<RunningHaDemo> {
  const dir = resolve(o.dir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const note = (line: string) => appendFileSync(join(dir, 'demo.log'), `${new Date().toISOString()} ${line}\n`);
  const stops: (() => Promise<unknown>)[] = [];
  const stopAll = async () => {
    for (const s of stops.splice(0).reverse()) await s().catch((e: Error) => note(`stop: ${e.message}`));
  };

  try {
    const hubs = await startHubCluster({ dir, note });
    stops.push(() => hubs.stop());
    const { front, frontUrl, replicas } = hubs;
    const tokens = { ...hubs.tokens, sandboxSa: token('sa') };
    secrets.add(tokens.sandboxSa);

    // The cluster: the sandbox API server, its ingress controller stand-in and the hello app (in this process).
    const sandbox = await startSandbox({ tls: 'generate', tokens: { [tokens.sandboxSa]: { verbs: '*', resources: '*', namespaces: '*' } }, seed: 'demo' });
    stops.push(() => sandbox.close());
    const sandboxKubeconfig = join(dir, 'sandbox-kubeconfig');
    // The kubeconfig's namespace is where the agents' Lease lives (the seeded sandbox has it).
    await sandbox.writeKubeconfig(sandboxKubeconfig, { token: tokens.sandboxSa, namespace: LEASE_NAMESPACE });
    const ingress = await startIngressController(sandbox);
    stops.push(() => ingress.stop());
    const hello = await startDemoApp({ directLabel: 'directly' });
    stops.push(() => hello.stop());
    ingress.bind('demo', 'hello', 80, { host: '127.0.0.1', port: hello.port });

    // Two agent replicas, dialling HAProxy, each its own process: one config and state file, leader election on.
    const agentCfg = join(dir, 'agent.yaml');
    writeFileSync(
      agentCfg,
      stringify({
        agent: { cluster_name: 'demo', host: '127.0.0.1', state_file: join(dir, 'agent-state.yaml'), heartbeat_interval: '10s', enable_ingress_sync: true, leader_election: { enabled: true } },
        pipeops: { api_url: frontUrl, token: tokens.agent },
        kubernetes: { in_cluster: false, kubeconfig: sandboxKubeconfig, service_token: tokens.sandboxSa, service_proxy: 'apiserver' },
        timeouts: { websocket_reconnect: '200ms', websocket_reconnect_max: `${AGENT_RECONNECT_MAX_MS}ms` },
      }),
      { mode: 0o600 },
    );
    const agents: { identity: string; port: number; log: string; proc: ReturnType<typeof spawn> }[] = [];
    for (const identity of AGENT_IDENTITIES) {
      const port = await freeLoopbackPort();
      const log = join(dir, `${identity}.log`);
      const [acmd, aargs] = selfCommand(['agent', '--config', agentCfg, '--leader-elect', '--port', String(port)]);
      const proc = spawn(acmd, aargs, {
        stdio: ['ignore', openSync(log, 'a'), openSync(log, 'a')],
        env: { ...process.env, PIPEOPS_CONFIG: '', PIPEOPS_LEADER_ELECTION_IDENTITY: identity },
      });
      agents.push({ identity, port, log, proc });
      stops.push(
        () =>
          new Promise<void>((res) => {
            if (proc.exitCode !== null || proc.signalCode !== null) return res();
            proc.once('close', () => res());
            proc.kill('SIGTERM');
          }),
      );
    }
    const admin = { authorization: `Bearer ${tokens.admin}` };
    let clusterId = '';
    await waitUntil('the agent registered and connected (see agent.log)', 30_000, async () => {
      for (const a of agents) if (a.proc.exitCode !== null) throw new Fatal(`agent ${a.identity} exited with ${a.proc.exitCode}; see ${a.log}`);
      const list = (await (await fetch(`${frontUrl}/api/v1/clusters`, { headers: admin })).json()) as { clusters: { cluster_id: string; name: string; connected: boolean }[] };
      clusterId = list.clusters.find((c) => c.name === 'demo' && c.connected)?.cluster_id ?? '';
      return clusterId !== '';
    });
    await waitUntil('hello.demo.local registered by the agent', 30_000, async () => {
      const r = (await (await fetch(`${frontUrl}/api/v1/gateway/routes`, { headers: admin })).json()) as { routes: { hostname: string }[] };
      return r.routes.some((x) => x.hostname === 'hello.demo.local');
    });

    // Both replicas up: one leads (holds the session), the other reports itself standby behind that leader.
    let agentLeader = '';
    await waitUntil('both agent replicas ready, one leading (see agent-*.log)', 30_000, async () => {
      const roles = await Promise.all(
        agents.map(async (a) => ((await (await fetch(`http://127.0.0.1:${a.port}/ready`)).json()) as { leader_election?: { role: string; leader: string | null } }).leader_election),
      );
      const leader = roles.find((r) => r?.role === 'leader')?.leader ?? '';
      agentLeader = leader;
      return leader !== '' && roles.every((r) => r?.leader === leader);
    });

    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(
      kubeconfig,
      renderGatewayKubeconfig({ gatewayUrl: `https://127.0.0.1:${front.kube_port}`, clusterId, clusterName: 'demo', caPem: hubs.caPem, userToken: tokens.user, namespace: 'demo' }),
      { mode: 0o600 },
    );
    const endpoints: HaDemoEndpoints = {
      hub_url: frontUrl,
      kube_url: `https://127.0.0.1:${front.kube_port}`,
      gateway_url: `http://127.0.0.1:${front.gateway_port}`,
      sandbox_url: sandbox.url,
      cluster_id: clusterId,
      kubeconfig,
      hub_replicas: replicas.map((r) => ({
        id: r.name,
        url: `http://${r.host}:${r.port}`,
        kube_url: `https://${r.host}:${r.kube_port}`,
        gateway_url: `http://${r.host}:${r.gateway_port}`,
        pid: hubs.pids().get(r.name)!,
        log: join(dir, `${r.name}.log`),
      })),
      agent_replicas: agents.map((a) => ({ identity: a.identity, url: `http://127.0.0.1:${a.port}`, pid: a.proc.pid!, log: a.log })),
      agent_leader: agentLeader,
      agent_lease: `${LEASE_NAMESPACE}/pipeops-agent-leader`,
      haproxy: hubs.haproxy,
      postgres: { pid: hubs.postgres.pid, url: hubs.database },
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
        const p = await hubs.startReplica(id);
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
  const leader = e.agent_replicas.find((r) => r.identity === e.agent_leader);
  return `
PipeOps HA demo is running: PostgreSQL, two hub replicas behind HAProxy, two agent replicas (leader election) for "demo".

  export KUBECONFIG=${e.kubeconfig}
  kubectl get pods                       # through HAProxy → any replica → the one holding the session → agent
  curl -H 'Host: hello.demo.local' ${e.gateway_url}/

Hub replicas: ${a?.id} pid ${a?.pid} (${a?.url}), ${b?.id} pid ${b?.pid} (${b?.url}); haproxy pid ${e.haproxy.pid}.
Kill one (kill -9 ${a?.pid}) and run kubectl again: the agent redials through HAProxy within ${e.agent_reconnect_max_ms / 1000} s.
Agent replicas: ${e.agent_replicas.map((r) => `${r.identity} pid ${r.pid} (${r.url})`).join(', ')}; ${e.agent_leader} leads (Lease ${e.agent_lease}).
Kill the leader (kill -9 ${leader?.pid}): the standby takes the Lease over and registers within ~12 s; curl <url>/ready shows each role.

Endpoints: ${join(dir, 'endpoints.json')}   Logs: ${dir}/*.log   Stop: Ctrl-C
`;
}
