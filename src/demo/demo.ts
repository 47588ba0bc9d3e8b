// The one-command demo: a sandbox cluster, a hub and an agent on loopback, wired like production
// (the agent dials the hub; kubectl talks to the hub's Kubernetes API gateway, through the tunnel). The
// public gateway serves `hello.demo.local` through the tunnel (the agent's ingress sync registers it; the
// sandbox's ingress controller stand-in routes it to the hello app) and `shop.demo.local` in direct mode: a second
// sandbox cluster ("demo-public") whose ingress controller is a LoadBalancer on a loopback address, with its own
// agent (tunnels.routing.direct_cidrs makes 127.0.0.0/8 count as reachable), whose ingress sync registers the route
// with `routing_mode: direct`, so the hub forwards to the load balancer without the tunnel.
import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type RunningAgent, runAgent } from '../agent/run.ts';
import { parseAgentConfig } from '../config/schema.ts';
import { kubeconfigFor } from '../hub/kube-gateway/kubeconfig.ts';
import { HubConfigSchema } from '../hub/config/schema.ts';
import { type Hub, startHub } from '../hub/server.ts';
import { createLogger, secrets } from '../log/logger.ts';
import { type Sandbox, startSandbox } from '../sandbox/index.ts';
import { startIngressController } from '../sandbox/ingress-controller.ts';
import { type DemoApp, startDemoApp } from './demo-apps.ts';
import { type DemoL4Service, startDemoTcp, startDemoUdp } from './demo-l4.ts';
import { sleep } from '../timing/sleep.ts';

export interface DemoEndpoints {
  hub_url: string;
  kube_url: string;
  /** Public gateway: `curl -H 'Host: hello.demo.local' <gateway_url>/`. */
  gateway_url: string;
  agent_url: string;
  sandbox_url: string;
  cluster_id: string;
  kubeconfig: string;
  /** L4 services of the `demo` cluster exposed by the hub: `redis-cli -h/-p`, `socat - UDP4:…` against `hub_address`. */
  l4?: { name: string; protocol: 'tcp' | 'udp'; hub_address: string }[];
}

export interface RunningDemo {
  endpoints: DemoEndpoints;
  sandbox: Sandbox;
  hub: Hub;
  agent: RunningAgent;
  /** The public cluster's agent (direct mode). */
  publicAgent: RunningAgent;
  stop(): Promise<void>;
}

const token = (prefix: string) => `${prefix}-${randomBytes(18).toString('base64url')}`;

/** The demo hub: ephemeral ports, state in the demo directory; the public cluster's load balancer is the shop app
 * on loopback, so loopback direct endpoints are allowed by name, as an operator would. */
export function demoHubConfig(dir: string, tokens: { agent: string; admin: string; user: string }, l4: readonly DemoL4Service[] = []) {
  return HubConfigSchema.parse({
    l4_exposures: l4.map((x) => ({ name: x.name, protocol: x.protocol, listen_port: 0, cluster: 'demo', namespace: 'demo', service: x.service, port: x.port })),
    port: 0,
    kube_port: 0,
    gateway_port: 0,
    agent_tokens: [tokens.agent],
    admin_tokens: [tokens.admin],
    user_tokens: [tokens.user],
    state: join(dir, 'hub.db'),
    direct_allowed_cidrs: ['127.0.0.0/8'],
  });
}

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
  // bound as pipeops-system/traefik:80).
  const ingress = await startIngressController(sandbox);
  const hello = await startDemoApp({ directLabel: 'directly' });
  ingress.bind('demo', 'hello', 80, { host: '127.0.0.1', port: hello.port });
  // The public cluster: its ingress controller is a LoadBalancer whose address (127.0.0.1, the shop app's port)
  // the hub reaches directly.
  const shop = await startDemoApp({ directLabel: 'direct to the load balancer, no tunnel' });
  const publicSandbox = await startSandbox({ tls: 'generate', tokens: { [tokens.sandboxSa]: { verbs: '*', resources: '*', namespaces: '*' } }, seed: 'minimal' });
  const publicKubeconfig = join(dir, 'sandbox-public-kubeconfig');
  await publicSandbox.writeKubeconfig(publicKubeconfig, { token: tokens.sandboxSa });
  applyPublicCluster(publicSandbox, shop.port);

  // L4: a TCP and a UDP service of the demo cluster, exposed on the hub (yamux streams through the agent).
  const l4 = [await startDemoTcp(), await startDemoUdp()];
  for (const x of l4)
    sandbox.apply({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: x.service, namespace: 'demo', labels: { app: x.service }, creationTimestamp: '2026-01-01T00:00:00Z' },
      spec: { type: 'ClusterIP', selector: { app: x.service }, ports: [{ name: x.protocol, port: x.port, protocol: x.protocol.toUpperCase() }] },
    });

  const hub = await startHub(
    demoHubConfig(dir, tokens, l4),
    createLogger({ name: 'hub', sink }),
  );

  const agent = await runAgent(
    parseAgentConfig({
      agent: { cluster_name: 'demo', port: 0, host: '127.0.0.1', state_file: join(dir, 'agent-state.yaml'), heartbeat_interval: '10s', enable_ingress_sync: true },
      pipeops: { api_url: hub.url, token: tokens.agent },
      kubernetes: {
        in_cluster: false,
        kubeconfig: sandboxKubeconfig,
        service_token: tokens.sandboxSa,
        service_proxy: 'apiserver',
        // The sandbox has no cluster DNS: the L4 Services' "pods" are named here (L4 cannot use services/proxy).
        service_map: Object.fromEntries(l4.map((x) => [`demo/${x.service}:${x.port}`, `${x.protocol}://127.0.0.1:${x.backendPort}`])),
      },
      tunnels: { enabled: true },
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

  // The public cluster's agent: same hub, its own cluster record; detection decides direct mode.
  const publicAgent = await runAgent(
    parseAgentConfig({
      agent: {
        cluster_name: 'demo-public',
        port: 0,
        host: '127.0.0.1',
        state_file: join(dir, 'agent-public-state.yaml'),
        heartbeat_interval: '10s',
        enable_ingress_sync: true,
        gateway_detection_wait: '10s',
      },
      pipeops: { api_url: hub.url, token: tokens.agent },
      kubernetes: { in_cluster: false, kubeconfig: publicKubeconfig, service_token: tokens.sandboxSa, service_proxy: 'apiserver' },
      tunnels: { routing: { force_tunnel_mode: false, direct_cidrs: ['127.0.0.0/8'] } },
    }),
    { env: {}, logSink: sink },
  );

  // Each agent's ingress sync registers its routes with the hub's route registry (through the REST API).
  await waitForRoute(hub, 'hello.demo.local', 20_000);
  await waitForRoute(hub, 'shop.demo.local', 20_000);

  await waitForYamux(hub, clusterId, 20_000);

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
    l4: l4.map((x) => ({ name: x.name, protocol: x.protocol, hub_address: hub.l4.address(x.name)! })),
  };
  writeFileSync(join(dir, 'endpoints.json'), `${JSON.stringify(endpoints, null, 2)}\n`);
  writeFileSync(join(dir, 'tokens.json'), `${JSON.stringify({ admin_token: tokens.admin, user_token: tokens.user }, null, 2)}\n`, { mode: 0o600 });

  return {
    endpoints,
    sandbox,
    hub,
    agent,
    publicAgent,
    async stop() {
      await Promise.all([agent.stop(), publicAgent.stop()]);
      await hub.stop();
      await ingress.stop();
      await Promise.all([hello, shop].map((a: DemoApp) => a.stop()));
      await Promise.all(l4.map((x) => x.stop()));
      await Promise.all([sandbox.close(), publicSandbox.close()]);
    },
  };
}

async function waitForYamux(hub: Hub, clusterId: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  // The yamux negotiation is one message each way right after the gateway session opens.
  while (!hub.yamux.active().includes(clusterId)) {
    if (Date.now() > deadline) throw new Error(`no yamux session with the demo agent within ${timeoutMs / 1000} s; see demo.log`);
    await sleep(25);
  }
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
 * The public cluster's objects: the ingress controller Service `pipeops-system/traefik` of type LoadBalancer with
 * the address 127.0.0.1 and the shop app's port (the agent's §6.1 detection picks it as `public_endpoint`), and a
 * managed Ingress for shop.demo.local.
 */
function applyPublicCluster(sb: Sandbox, lbPort: number): void {
  const at = '2026-01-01T00:00:00Z';
  for (const ns of ['pipeops-system', 'demo']) sb.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, creationTimestamp: at }, status: { phase: 'Active' } });
  sb.apply({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'traefik', namespace: 'pipeops-system', labels: { 'app.kubernetes.io/name': 'traefik' }, creationTimestamp: at },
    spec: { type: 'LoadBalancer', clusterIP: '10.96.120.7', selector: { 'app.kubernetes.io/name': 'traefik' }, ports: [{ name: 'lb', port: lbPort, protocol: 'TCP' }] },
    status: { loadBalancer: { ingress: [{ ip: '127.0.0.1' }] } },
  });
  sb.apply({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'shop', namespace: 'demo', labels: { app: 'shop' }, creationTimestamp: at },
    spec: { type: 'ClusterIP', clusterIP: '10.96.130.9', selector: { app: 'shop' }, ports: [{ name: 'http', port: 80, protocol: 'TCP' }] },
  });
  sb.apply({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { name: 'shop', namespace: 'demo', labels: { 'pipeops.io/managed': 'true' }, creationTimestamp: at },
    spec: { ingressClassName: 'traefik', rules: [{ host: 'shop.demo.local', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'shop', port: { number: 80 } } } }] } }] },
    status: { loadBalancer: { ingress: [{ ip: '127.0.0.1' }] } },
  });
}

export function demoInstructions(e: DemoEndpoints, dir: string): string {
  return `
pipeops demo is running (cluster ${e.cluster_id}).

  kubectl --kubeconfig ${e.kubeconfig} get pods -A           # through the hub, the tunnel and the agent
  kubectl --kubeconfig ${e.kubeconfig} get ns,nodes,svc,ingress -A
  kubectl --kubeconfig ${e.kubeconfig} logs -f deploy/hello
  curl -s -H 'Host: hello.demo.local' ${e.gateway_url}/          # public gateway → tunnel → agent → ingress → app
  curl -s -H 'Host: shop.demo.local' ${e.gateway_url}/           # public gateway → load balancer (direct mode)
${(e.l4 ?? []).map((x) => (x.protocol === 'tcp' ? `  redis-cli -h ${x.hub_address.replace(/:\d+$/, '')} -p ${x.hub_address.split(':').pop()} PING            # L4 TCP: hub → yamux → agent → redis` : `  echo hello | socat -t1 - UDP4:${x.hub_address}             # L4 UDP: hub → yamux → agent → UDP echo`)).join('\n')}
  curl -s ${e.agent_url}/ready                                  # the agent's truthful readiness
  open ${e.agent_url}/dashboard                                 # live dashboard
  curl -s -H "Authorization: Bearer $(jq -r .admin_token ${join(dir, 'tokens.json')})" ${e.hub_url}/api/v1/clusters
  curl -s -H "Authorization: Bearer $(jq -r .admin_token ${join(dir, 'tokens.json')})" ${e.hub_url}/api/v1/gateway/routes

Endpoints: ${join(dir, 'endpoints.json')}   Logs: ${join(dir, 'demo.log')}   Stop: Ctrl-C
`;
}
