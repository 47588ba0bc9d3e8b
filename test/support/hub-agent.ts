// Test harness: an in-process hub and agent on loopback, port 0, with fast timeouts.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RunningAgent, runAgent } from '../../src/agent/run.ts';
import { type AgentConfigInput, parseAgentConfig } from '../../src/config/schema.ts';
import { type HubConfigInput, HubConfigSchema } from '../../src/hub/config/schema.ts';
import { type Hub, type HubDeps, startHub } from '../../src/hub/server.ts';
import { createLogger } from '../../src/log/logger.ts';
import { type Sandbox, startSandbox } from '../../src/sandbox/index.ts';

export const AGENT_TOKEN = 'agent-token-for-tests';
export const ADMIN_TOKEN = 'admin-token-for-tests';
export const USER_TOKEN = 'user-token-for-tests';

export const quietLog = createLogger({ level: (process.env.TEST_LOG_LEVEL as 'info') ?? 'fatal', name: 'test', sink: (l) => process.env.TEST_LOG_LEVEL && process.stderr.write(l) });

export function tempDir(prefix = 'pipeops-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export async function testHub(over: Partial<HubConfigInput> = {}, deps: HubDeps = {}): Promise<Hub> {
  const cfg = HubConfigSchema.parse({
    port: 0,
    kube_port: 0,
    // Ephemeral even when a test restarts the hub on a fixed `port` (the defaults would then be 8088/8443).
    gateway_port: 0,
    gateway_tls_port: 0,
    agent_tokens: [AGENT_TOKEN],
    admin_tokens: [ADMIN_TOKEN],
    user_tokens: [USER_TOKEN],
    state: ':memory:',
    ...over,
  });
  return startHub(cfg, quietLog, deps);
}

/** Agent config with fast timeouts for tests; `apiUrl` is the hub's http URL. */
export type DeepPartial<T> = { [K in keyof T]?: T[K] extends Record<string, unknown> ? DeepPartial<T[K]> : T[K] };

export function agentConfig(apiUrl: string, dir: string, over: DeepPartial<AgentConfigInput> = {}) {
  const base = {
    agent: { cluster_name: 'test-cluster', port: 0, host: '127.0.0.1', heartbeat_interval: '300ms', state_file: join(dir, 'agent-state.yaml') },
    pipeops: { api_url: apiUrl, token: AGENT_TOKEN, reconnect: { interval: '100ms' } },
    kubernetes: { in_cluster: false, kubeconfig: '' },
    logging: { level: (process.env.TEST_LOG_LEVEL as 'info') ?? 'error' },
    timeouts: { websocket_reconnect: '100ms', websocket_reconnect_max: '1s', websocket_ping: '500ms', websocket_read: '5s', registration: '5s', shutdown: '5s' },
  };
  return parseAgentConfig(deepMerge(base, over as Record<string, unknown>) as AgentConfigInput);
}

export async function testAgent(apiUrl: string, dir: string, over: DeepPartial<AgentConfigInput> = {}, env: Record<string, string | undefined> = {}): Promise<RunningAgent> {
  return runAgent(agentConfig(apiUrl, dir, await withCluster(dir, over)), { env, logSink: (l) => process.env.TEST_LOG_LEVEL && process.stderr.write(l) });
}

let shared: Promise<Sandbox> | null = null;

/**
 * An agent without a Kubernetes API is not ready (issue 10, item 12). Test agents that do not bring their own
 * cluster (a kubeconfig or in-cluster credentials) get one: an empty sandbox API server shared by the test
 * process (loopback, plain HTTP, anonymous), started on first use; pass `kubernetes.kubeconfig: ''` explicitly
 * for an agent with no cluster at all.
 */
export async function withCluster(dir: string, over: DeepPartial<AgentConfigInput>): Promise<DeepPartial<AgentConfigInput>> {
  const k = (over.kubernetes ?? {}) as { kubeconfig?: string; in_cluster?: boolean };
  if (k.kubeconfig !== undefined || k.in_cluster) return over;
  shared ??= startSandbox({ host: '127.0.0.1', seed: false });
  const sandbox = await shared;
  const kubeconfig = join(dir, 'shared-sandbox.kubeconfig');
  await sandbox.writeKubeconfig(kubeconfig);
  return { ...over, kubernetes: { ...(over.kubernetes ?? {}), kubeconfig } } as DeepPartial<AgentConfigInput>;
}

export async function adminClusters(hub: Hub): Promise<Record<string, unknown>[]> {
  const r = await fetch(`${hub.url}/api/v1/clusters`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  return ((await r.json()) as { clusters: Record<string, unknown>[] }).clusters;
}

function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const cur = out[k];
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && cur && typeof cur === 'object' && !Array.isArray(cur) ? deepMerge(cur as Record<string, unknown>, v as Record<string, unknown>) : v;
  }
  return out;
}
