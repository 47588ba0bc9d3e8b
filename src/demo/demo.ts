// The one-command demo: a sandbox cluster, a hub and an agent on loopback, wired like production
// (the agent dials the hub; kubectl talks to the hub's Kubernetes API gateway, through the tunnel).
import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type RunningAgent, runAgent } from '../agent/run.ts';
import { parseAgentConfig } from '../config/schema.ts';
import { kubeconfigFor } from '../hub/kube-gateway/kubeconfig.ts';
import { HubConfigSchema } from '../hub/config.ts';
import { type Hub, startHub } from '../hub/server.ts';
import { createLogger, secrets } from '../log/logger.ts';
import { type Sandbox, startSandbox } from '../sandbox/index.ts';

export interface DemoEndpoints {
  hub_url: string;
  kube_url: string;
  gateway_url?: string;
  agent_url: string;
  sandbox_url: string;
  cluster_id: string;
  kubeconfig: string;
}

export interface RunningDemo {
  endpoints: DemoEndpoints;
  sandbox: Sandbox;
  hub: Hub;
  agent: RunningAgent;
  stop(): Promise<void>;
}

const token = (prefix: string) => `${prefix}-${randomBytes(18).toString('base64url')}`;

export async function startDemo(o: { dir: string; log?: (line: string) => void }): Promise<RunningDemo> {
  const dir = resolve(o.dir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const logFile = join(dir, 'demo.log');
  const sink = o.log ?? ((line: string) => appendFileSync(logFile, line));
  const tokens = { agent: token('agent'), admin: token('admin'), user: token('user'), sandboxSa: token('sa') };
  for (const t of Object.values(tokens)) secrets.add(t);

  const sandbox = await startSandbox({ tls: 'generate', tokens: { [tokens.sandboxSa]: { verbs: '*', resources: '*', namespaces: '*' } }, seed: 'demo' });
  const sandboxKubeconfig = join(dir, 'sandbox-kubeconfig');
  await sandbox.writeKubeconfig(sandboxKubeconfig, { token: tokens.sandboxSa });

  const hub = await startHub(
    HubConfigSchema.parse({
      port: 0,
      kube_port: 0,
      agent_tokens: [tokens.agent],
      admin_tokens: [tokens.admin],
      user_tokens: [tokens.user],
      state: join(dir, 'hub.db'),
    }),
    createLogger({ name: 'hub', sink }),
  );

  const agent = await runAgent(
    parseAgentConfig({
      agent: { cluster_name: 'demo', port: 0, host: '127.0.0.1', state_file: join(dir, 'agent-state.yaml'), heartbeat_interval: '10s' },
      pipeops: { api_url: hub.url, token: tokens.agent },
      kubernetes: { in_cluster: false, kubeconfig: sandboxKubeconfig, service_token: tokens.sandboxSa, service_proxy: 'apiserver' },
    }),
    { env: {}, logSink: sink },
  );
  const clusterId = await new Promise<string>((resolveId, reject) => {
    const t = setTimeout(() => reject(new Error('the agent did not register with the hub within 30 s; see demo.log')), 30_000);
    const check = () => {
      const s = agent.status.snapshot();
      if (s.connection.registered && s.connection.state === 'connected' && s.clusterId) {
        clearTimeout(t);
        agent.status.removeEventListener('change', check);
        resolveId(s.clusterId);
      }
    };
    agent.status.addEventListener('change', check);
    check();
  });

  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, kubeconfigFor(hub, clusterId, tokens.user, { namespace: 'demo' }), { mode: 0o600 });
  const endpoints: DemoEndpoints = { hub_url: hub.url, kube_url: hub.kubeUrl, agent_url: agent.url, sandbox_url: sandbox.url, cluster_id: clusterId, kubeconfig };
  writeFileSync(join(dir, 'endpoints.json'), `${JSON.stringify(endpoints, null, 2)}\n`);
  writeFileSync(join(dir, 'tokens.json'), `${JSON.stringify({ admin_token: tokens.admin, user_token: tokens.user }, null, 2)}\n`, { mode: 0o600 });

  return {
    endpoints,
    sandbox,
    hub,
    agent,
    async stop() {
      await agent.stop();
      await hub.stop();
      await sandbox.close();
    },
  };
}

export function demoInstructions(e: DemoEndpoints, dir: string): string {
  return `
pipeops demo is running (cluster ${e.cluster_id}).

  kubectl --kubeconfig ${e.kubeconfig} get pods -A           # through the hub, the tunnel and the agent
  kubectl --kubeconfig ${e.kubeconfig} get ns,nodes,svc,ingress -A
  kubectl --kubeconfig ${e.kubeconfig} logs -f deploy/hello
  curl -s ${e.agent_url}/ready                                  # the agent's truthful readiness
  open ${e.agent_url}/dashboard                                 # live dashboard
  curl -s -H "Authorization: Bearer $(jq -r .admin_token ${join(dir, 'tokens.json')})" ${e.hub_url}/api/v1/clusters

Endpoints: ${join(dir, 'endpoints.json')}   Logs: ${join(dir, 'demo.log')}   Stop: Ctrl-C
`;
}
