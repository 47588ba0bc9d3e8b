// The real tier's fixtures: a real control plane (src/realkube/) with a stand-in kubelet, the chart installed by
// helm, TokenRequest tokens, an agent in in-cluster mode against it, a hub, and a TCP relay the tests can cut.
import { mkdirSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { type RunningAgent, runAgent } from '../../src/agent/run.ts';
import type { AgentConfigInput } from '../../src/config/schema.ts';
import type { Hub } from '../../src/hub/server.ts';
import { cachedBinaries } from '../../src/realkube/binaries.ts';
import { type RealKube, type RealKubeOptions, startRealKube } from '../../src/realkube/cluster.ts';
import { type StandInKubelet, startStandInKubelet } from '../../src/realkube/standin-kubelet.ts';
import { CHART, HELM } from '../packaging/chart-support.ts';
import { agentConfig, type DeepPartial, tempDir, testHub } from '../support/hub-agent.ts';
import { waitFor } from '../support/wait.ts';

export const NS = 'pipeops-system';
export const AGENT_USER = `system:serviceaccount:${NS}:pipeops-agent`;
export const CP_USER = `system:serviceaccount:${NS}:pipeops-agent-control-plane`;

/**
 * Why the real tier cannot run here, or null. Without the binaries or helm the files skip with that message, except
 * under PIPEOPS_REAL_TIER=required (.ci/run sets it once the control plane is built): then they run and fail.
 */
export function realTierMissing(): string | null {
  if (process.env.PIPEOPS_REAL_TIER === 'required') return null;
  if (!cachedBinaries()) return 'the Kubernetes control plane is not built: bash scripts/kube/build.sh (~11 min)';
  if (!HELM) return 'helm is not built (see .ci/run)';
  return null;
}

export interface RealCluster {
  kube: RealKube;
  kubelet: StandInKubelet;
  stop(): Promise<void>;
}

export async function startRealCluster(opts: RealKubeOptions = {}): Promise<RealCluster> {
  const kube = await startRealKube(opts);
  let kubelet: StandInKubelet;
  try {
    kubelet = await startStandInKubelet(kube);
  } catch (e) {
    await kube.stop();
    throw e;
  }
  return {
    kube,
    kubelet,
    stop: async () => {
      await kubelet.stop();
      await kube.stop();
    },
  };
}

/** Admin JSON request that must succeed. */
export async function kubeJson<T = Record<string, unknown>>(kube: RealKube, method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<T> {
  const r = await kube.request(method, path, body, headers);
  const text = await r.text();
  if (!r.ok) throw new Error(`${method} ${path}: HTTP ${r.status} ${text.slice(0, 300)}`);
  return (text ? JSON.parse(text) : {}) as T;
}

/** `helm install` of our chart into the real apiserver (every object must pass real validation). */
export async function helmInstall(kube: RealKube, set: Record<string, string>): Promise<string> {
  const dir = tempDir('pipeops-real-helm-');
  const kubeconfig = join(dir, 'kubeconfig');
  kube.writeKubeconfig(kubeconfig);
  const args = ['install', 'pipeops-agent', CHART, '--namespace', NS, '--create-namespace', '--kubeconfig', kubeconfig];
  for (const [k, v] of Object.entries(set)) args.push('--set', `${k}=${v}`);
  const p = Bun.spawn([HELM as string, ...args], { stdout: 'pipe', stderr: 'pipe', env: { ...process.env, HOME: dir, HELM_CACHE_HOME: join(dir, 'cache'), HELM_CONFIG_HOME: join(dir, 'config'), HELM_DATA_HOME: join(dir, 'data') } });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`helm install failed (${code}): ${err}${out}`);
  return out;
}

/** A bound ServiceAccount token from the TokenRequest API (what `kubectl create token` does). */
export async function tokenRequest(kube: RealKube, namespace: string, sa: string, seconds = 3600): Promise<string> {
  const r = await kubeJson<{ status: { token: string } }>(kube, 'POST', `/api/v1/namespaces/${namespace}/serviceaccounts/${sa}/token`, {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenRequest',
    spec: { expirationSeconds: seconds },
  });
  return r.status.token;
}

/** The long-lived token the token controller put into the chart's control-plane Secret. */
export async function controlPlaneToken(kube: RealKube): Promise<string> {
  return waitFor(
    async () => {
      const s = await kubeJson<{ data?: { token?: string } }>(kube, 'GET', `/api/v1/namespaces/${NS}/secrets/pipeops-agent-control-plane-token`);
      return s.data?.token ? Buffer.from(s.data.token, 'base64').toString() : null;
    },
    { what: 'the control-plane token Secret filled by the token controller', timeoutMs: 30_000 },
  );
}

/** A loopback TCP relay to the apiserver that a test can cut (all connections dropped, new ones refused) and restore. */
export class CuttableRelay {
  readonly #server: Server;
  readonly #conns = new Set<Socket>();
  #cut = false;
  port = 0;

  constructor(private readonly targetPort: number) {
    this.#server = createServer((client) => {
      if (this.#cut) {
        client.destroy();
        return;
      }
      const upstream = connect({ host: '127.0.0.1', port: this.targetPort });
      for (const s of [client, upstream]) {
        this.#conns.add(s);
        s.once('close', () => this.#conns.delete(s));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    const a = this.#server.address();
    this.port = typeof a === 'object' && a ? a.port : 0;
    return this;
  }

  cut(): void {
    this.#cut = true;
    for (const s of this.#conns) s.destroy();
  }

  restore(): void {
    this.#cut = false;
  }

  close(): Promise<void> {
    this.cut();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

export interface InClusterAgent {
  agent: RunningAgent;
  hub: Hub;
  clusterId: string;
  /** Every log line the agent wrote (JSON), for asserting what it warned about. */
  logs: string[];
  stop(): Promise<void>;
}

/**
 * An agent as if in a Pod of the chart: a ServiceAccount mount with a TokenRequest token for `pipeops-agent`, the
 * cluster CA and the namespace; KUBERNETES_SERVICE_HOST/PORT pointing at `apiPort` (the apiserver or a relay).
 */
export async function startInClusterAgent(kube: RealKube, apiPort: number, over: DeepPartial<AgentConfigInput> = {}, hub?: Hub): Promise<InClusterAgent> {
  const ownHub = !hub;
  const h = hub ?? (await testHub());
  const dir = tempDir('pipeops-real-agent-');
  const sa = join(dir, 'serviceaccount');
  mkdirSync(sa);
  writeFileSync(join(sa, 'token'), await tokenRequest(kube, NS, 'pipeops-agent'), { mode: 0o600 });
  writeFileSync(join(sa, 'ca.crt'), kube.caPem);
  writeFileSync(join(sa, 'namespace'), NS);
  const logs: string[] = [];
  const o = over as Record<string, Record<string, unknown>>;
  const cfg = agentConfig(h.url, dir, {
    ...over,
    kubernetes: { in_cluster: true, kubeconfig: '', service_account_dir: sa, service_token: await controlPlaneToken(kube), ...(o.kubernetes ?? {}) },
    logging: { level: 'info' },
  } as DeepPartial<AgentConfigInput>);
  const agent = await runAgent(cfg, {
    env: { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(apiPort) },
    logSink: (l) => {
      logs.push(l);
      if (process.env.TEST_LOG_LEVEL) process.stderr.write(l);
    },
  });
  const clusterId = await waitFor(() => {
    const id = agent.status.snapshot().clusterId;
    return id && h.agents.isConnected(id) ? id : null;
  }, { what: 'agent registered with the hub', timeoutMs: 30_000 });
  return {
    agent,
    hub: h,
    clusterId,
    logs,
    stop: async () => {
      await agent.stop();
      if (ownHub) await h.stop();
    },
  };
}

/** Audit events of `user` with code 403 since index `from`, as "verb uri (code)". */
export function forbidden(kube: RealKube, user: string, from = 0): string[] {
  return kube
    .audit()
    .slice(from)
    .filter((e) => e.user.username === user && e.responseStatus?.code === 403)
    .map((e) => `${e.verb} ${e.requestURI} (${e.responseStatus?.message ?? ''})`);
}
