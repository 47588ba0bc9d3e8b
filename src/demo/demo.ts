// The one-command demo: a sandbox cluster, a hub and an agent on loopback, wired like production
// (the agent dials the hub; kubectl talks to the hub's Kubernetes API gateway, through the tunnel). The
// public gateway serves `hello.demo.local` through the tunnel (the agent's ingress sync registers it; the
// sandbox's ingress controller stand-in routes it to the hello app) and `shop.demo.local` in direct mode.
import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type RunningAgent, runAgent } from '../agent/run.ts';
import { parseAgentConfig } from '../config/schema.ts';
import { tokenDigest } from '../hub/auth.ts';
import { kubeconfigFor } from '../hub/kube-gateway/kubeconfig.ts';
import { HubConfigSchema } from '../hub/config.ts';
import { type Hub, startHub } from '../hub/server.ts';
import { createLogger, secrets } from '../log/logger.ts';
import { type Sandbox, startSandbox } from '../sandbox/index.ts';
import { startIngressController } from '../sandbox/ingress-controller.ts';
import { type DemoApp, startDemoApp } from './demo-apps.ts';

export interface DemoEndpoints {
  hub_url: string;
  kube_url: string;
  /** Public gateway: `curl -H 'Host: hello.demo.local' <gateway_url>/`. */
  gateway_url: string;
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
  // The pods behind the demo Services: hello (Ingress hello.demo.local, via the ingress controller stand-in
  // bound as pipeops-system/traefik:80) and shop (a LoadBalancer Service on loopback: direct mode).
  const ingress = await startIngressController(sandbox);
  const hello = await startDemoApp({ directLabel: 'directly' });
  const shop = await startDemoApp({ directLabel: 'direct to the load balancer, no tunnel' });
  ingress.bind('demo', 'hello', 80, { host: '127.0.0.1', port: hello.port });
  sandbox.apply({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'shop', namespace: 'demo', labels: { app: 'shop' } },
    spec: { type: 'LoadBalancer', clusterIP: '10.96.130.9', selector: { app: 'shop' }, ports: [{ name: 'http', port: shop.port, protocol: 'TCP' }] },
    status: { loadBalancer: { ingress: [{ ip: '127.0.0.1' }] } },
  });
  ingress.bind('demo', 'shop', shop.port, { host: '127.0.0.1', port: shop.port });

  const hub = await startHub(
    HubConfigSchema.parse({
      port: 0,
      kube_port: 0,
      gateway_port: 0,
      agent_tokens: [tokens.agent],
      admin_tokens: [tokens.admin],
      user_tokens: [tokens.user],
      state: join(dir, 'hub.db'),
    }),
    createLogger({ name: 'hub', sink }),
  );

  const agent = await runAgent(
    parseAgentConfig({
      agent: { cluster_name: 'demo', port: 0, host: '127.0.0.1', state_file: join(dir, 'agent-state.yaml'), heartbeat_interval: '10s', enable_ingress_sync: true },
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

  // The agent's ingress sync registers hello.demo.local with the hub's route registry (through the REST API).
  await waitForRoute(hub, 'hello.demo.local', 20_000);
  await registerDirectRoute(hub, tokens.agent, shop.port);

  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, kubeconfigFor(hub, clusterId, tokens.user, { namespace: 'demo' }), { mode: 0o600 });
  const endpoints: DemoEndpoints = {
    hub_url: hub.url,
    kube_url: hub.kubeUrl,
    gateway_url: hub.gatewayUrl,
    agent_url: agent.url,
    sandbox_url: sandbox.url,
    cluster_id: clusterId,
    kubeconfig,
  };
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
      await ingress.stop();
      await Promise.all([hello, shop].map((a: DemoApp) => a.stop()));
      await sandbox.close();
    },
  };
}

function waitForRoute(hub: Hub, hostname: string, timeoutMs: number): Promise<void> {
  return new Promise((resolveRoute, reject) => {
    const has = () => hub.routes.list().some((r) => r.hostname === hostname);
    if (has()) return resolveRoute();
    const t = setTimeout(() => {
      off();
      reject(new Error(`the agent did not register ${hostname} with the hub within ${timeoutMs / 1000} s; see demo.log`));
    }, timeoutMs);
    const off = hub.routes.onChange(() => {
      if (!has()) return;
      clearTimeout(t);
      off();
      resolveRoute();
    });
  });
}

/**
 * Direct mode as a public cluster's agent reports it: its ingress controller has a public LoadBalancer address,
 * so the hub forwards to `public_endpoint` instead of the tunnel. The sandbox's agent is private (its
 * controller is ClusterIP), so the demo registers this route itself, for a second cluster record
 * ("demo-public") that a bulk sync of the demo agent never clears.
 */
async function registerDirectRoute(hub: Hub, agentToken: string, port: number): Promise<void> {
  const rec = hub.store.register({ agentId: 'demo-public', name: 'demo-public', k8sVersion: '', agentVersion: '', tokenDigest: tokenDigest(agentToken), metadata: { note: 'direct-mode demo route' }, registration: {} });
  const res = await fetch(`${hub.url}/api/v1/gateway/routes/register`, {
    method: 'POST',
    headers: { authorization: `Bearer ${agentToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      hostname: 'shop.demo.local',
      cluster_uuid: rec.cluster_id,
      namespace: 'demo',
      service_name: 'shop',
      service_port: port,
      ingress_name: 'shop',
      path: '/',
      path_type: 'Prefix',
      tls: false,
      routing_mode: 'direct',
      public_endpoint: `127.0.0.1:${port}`,
    }),
  });
  if (res.status !== 200) throw new Error(`registering the direct-mode demo route failed: ${res.status} ${await res.text()}`);
}

export function demoInstructions(e: DemoEndpoints, dir: string): string {
  return `
pipeops demo is running (cluster ${e.cluster_id}).

  kubectl --kubeconfig ${e.kubeconfig} get pods -A           # through the hub, the tunnel and the agent
  kubectl --kubeconfig ${e.kubeconfig} get ns,nodes,svc,ingress -A
  kubectl --kubeconfig ${e.kubeconfig} logs -f deploy/hello
  curl -s -H 'Host: hello.demo.local' ${e.gateway_url}/          # public gateway → tunnel → agent → ingress → app
  curl -s -H 'Host: shop.demo.local' ${e.gateway_url}/           # public gateway → load balancer (direct mode)
  curl -s ${e.agent_url}/ready                                  # the agent's truthful readiness
  open ${e.agent_url}/dashboard                                 # live dashboard
  curl -s -H "Authorization: Bearer $(jq -r .admin_token ${join(dir, 'tokens.json')})" ${e.hub_url}/api/v1/clusters
  curl -s -H "Authorization: Bearer $(jq -r .admin_token ${join(dir, 'tokens.json')})" ${e.hub_url}/api/v1/gateway/routes

Endpoints: ${join(dir, 'endpoints.json')}   Logs: ${join(dir, 'demo.log')}   Stop: Ctrl-C
`;
}
