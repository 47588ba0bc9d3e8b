// `demo --real`: the same demo on real API servers. Two real control planes (etcd, kube-apiserver,
// kube-controller-manager, built on first use by scripts/kube/build.sh) each with a stand-in kubelet, a hub and
// two agents. The private cluster runs a `hello` Deployment (Pods bound and run by the stand-in kubelet, so
// `kubectl logs/exec/port-forward` work through the hub) behind a managed Ingress; the public cluster's ingress
// controller is a LoadBalancer on 127.0.0.1 (direct mode). A real apiserver refuses to proxy to loopback
// addresses, so the private agent reaches the ingress controller with `service_map` instead of services/proxy.
import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type RunningAgent, runAgent } from '../agent/run.ts';
import { parseAgentConfig } from '../config/schema.ts';
import { kubeconfigFor } from '../hub/kube-gateway/kubeconfig.ts';
import { type Hub, startHub } from '../hub/server.ts';
import { createLogger, secrets } from '../log/logger.ts';
import { type RealKube, startRealKube } from '../realkube/cluster.ts';
import { type StandInKubelet, startStandInKubelet } from '../realkube/standin-kubelet.ts';
import { type DemoEndpoints, demoHubConfig } from './demo.ts';
import { type DemoApp, startDemoApp } from './demo-apps.ts';

export interface RunningRealDemo {
  endpoints: DemoEndpoints;
  hub: Hub;
  agent: RunningAgent;
  stop(): Promise<void>;
}

const token = (prefix: string) => `${prefix}-${randomBytes(18).toString('base64url')}`;

async function must(kube: RealKube, method: string, path: string, body?: unknown, contentType?: string): Promise<void> {
  const r = await kube.request(method, path, body, contentType ? { 'content-type': contentType } : {});
  const text = await r.text();
  if (!r.ok && r.status !== 409) throw new Error(`${method} ${path}: HTTP ${r.status} ${text.slice(0, 300)}`);
}

const ns = (name: string) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
const ingress = (name: string, host: string, service: string) => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'Ingress',
  metadata: { name, namespace: 'demo', labels: { 'pipeops.io/managed': 'true' } },
  spec: { ingressClassName: 'traefik', rules: [{ host, http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: service, port: { number: 80 } } } }] } }] },
});

async function seedPrivate(kube: RealKube): Promise<void> {
  for (const n of ['demo', 'pipeops-system']) await must(kube, 'POST', '/api/v1/namespaces', ns(n));
  const labels = { app: 'hello' };
  await must(kube, 'POST', '/apis/apps/v1/namespaces/demo/deployments', {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'hello', namespace: 'demo', labels },
    spec: { replicas: 2, selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { containers: [{ name: 'hello', image: 'nginx:1.27', stdin: true, tty: true, ports: [{ containerPort: 80 }] }] } } },
  });
  await must(kube, 'POST', '/api/v1/namespaces/demo/services', { apiVersion: 'v1', kind: 'Service', metadata: { name: 'hello', namespace: 'demo' }, spec: { selector: labels, ports: [{ name: 'http', port: 80, targetPort: 80 }] } });
  await must(kube, 'POST', '/api/v1/namespaces/pipeops-system/services', {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'traefik', namespace: 'pipeops-system', labels: { 'app.kubernetes.io/name': 'traefik' } },
    spec: { type: 'ClusterIP', selector: { 'app.kubernetes.io/name': 'traefik' }, ports: [{ name: 'web', port: 80, targetPort: 8000 }] },
  });
  await must(kube, 'POST', '/apis/networking.k8s.io/v1/namespaces/demo/ingresses', ingress('hello', 'hello.demo.local', 'hello'));
}

async function seedPublic(kube: RealKube, lbPort: number): Promise<void> {
  for (const n of ['demo', 'pipeops-system']) await must(kube, 'POST', '/api/v1/namespaces', ns(n));
  await must(kube, 'POST', '/api/v1/namespaces/pipeops-system/services', {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'traefik', namespace: 'pipeops-system', labels: { 'app.kubernetes.io/name': 'traefik' } },
    spec: { type: 'LoadBalancer', selector: { 'app.kubernetes.io/name': 'traefik' }, ports: [{ name: 'lb', port: lbPort, protocol: 'TCP' }] },
  });
  // No cloud controller here: the demo plays it and publishes the load balancer's address.
  await must(kube, 'PATCH', '/api/v1/namespaces/pipeops-system/services/traefik/status', { status: { loadBalancer: { ingress: [{ ip: '127.0.0.1' }] } } }, 'application/merge-patch+json');
  await must(kube, 'POST', '/api/v1/namespaces/demo/services', { apiVersion: 'v1', kind: 'Service', metadata: { name: 'shop', namespace: 'demo' }, spec: { selector: { app: 'shop' }, ports: [{ name: 'http', port: 80 }] } });
  await must(kube, 'POST', '/apis/networking.k8s.io/v1/namespaces/demo/ingresses', ingress('shop', 'shop.demo.local', 'shop'));
}

export async function startRealDemo(o: { dir: string; log?: (line: string) => void; progress?: (line: string) => void }): Promise<RunningRealDemo> {
  const dir = resolve(o.dir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const sink = o.log ?? ((line: string) => appendFileSync(join(dir, 'demo.log'), line));
  const progress = o.progress ?? (() => {});
  const tokens = { agent: token('agent'), admin: token('admin'), user: token('user') };
  for (const t of Object.values(tokens)) secrets.add(t);
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const s of stops.splice(0).reverse()) await s().catch(() => {});
  };
  try {
    const clusters: { kube: RealKube; kubelet: StandInKubelet }[] = [];
    for (const name of ['demo', 'demo-public']) {
      progress(`starting real control plane "${name}" (etcd, kube-apiserver, kube-controller-manager, stand-in kubelet)`);
      const kube = await startRealKube({ dir: join(dir, `kube-${name}`), log: progress });
      stops.push(() => kube.stop());
      const kubelet = await startStandInKubelet(kube);
      stops.push(() => kubelet.stop());
      for (const k of [kube.adminToken]) secrets.add(k);
      clusters.push({ kube, kubelet });
    }
    const [priv, pub] = clusters as [(typeof clusters)[0], (typeof clusters)[0]];
    const hello = await startDemoApp({ directLabel: 'through the tunnel; the agent reached the ingress controller via service_map' });
    const shop = await startDemoApp({ directLabel: 'direct to the load balancer, no tunnel' });
    stops.push(async () => {
      await Promise.all([hello, shop].map((a: DemoApp) => a.stop()));
    });
    await seedPrivate(priv.kube);
    await seedPublic(pub.kube, shop.port);

    const hub = await startHub(
      demoHubConfig(dir, tokens),
      createLogger({ name: 'hub', sink }),
    );
    stops.push(() => hub.stop());
    const kubeconfigs = clusters.map((c, i) => {
      const path = join(dir, `real-kubeconfig-${i === 0 ? 'demo' : 'demo-public'}`);
      c.kube.writeKubeconfig(path);
      return path;
    });
    const agent = await runAgent(
      parseAgentConfig({
        agent: { cluster_name: 'demo', port: 0, host: '127.0.0.1', state_file: join(dir, 'agent-state.yaml'), heartbeat_interval: '10s', enable_ingress_sync: true },
        pipeops: { api_url: hub.url, token: tokens.agent },
        kubernetes: {
          in_cluster: false,
          kubeconfig: kubeconfigs[0],
          service_token: priv.kube.adminToken,
          service_proxy: 'map',
          service_map: { 'pipeops-system/traefik:80': `http://127.0.0.1:${hello.port}` },
        },
      }),
      { env: {}, logSink: sink },
    );
    stops.push(() => agent.stop());
    const publicAgent = await runAgent(
      parseAgentConfig({
        agent: { cluster_name: 'demo-public', port: 0, host: '127.0.0.1', state_file: join(dir, 'agent-public-state.yaml'), heartbeat_interval: '10s', enable_ingress_sync: true, gateway_detection_wait: '10s' },
        pipeops: { api_url: hub.url, token: tokens.agent },
        kubernetes: { in_cluster: false, kubeconfig: kubeconfigs[1], service_token: pub.kube.adminToken },
        tunnels: { routing: { force_tunnel_mode: false, direct_cidrs: ['127.0.0.0/8'] } },
      }),
      { env: {}, logSink: sink },
    );
    stops.push(() => publicAgent.stop());
    const clusterId = await until(() => {
      const s = agent.status.snapshot();
      return s.connection.registered && s.connection.state === 'connected' ? s.clusterId : null;
    }, 'the agent registered with the hub', 30_000);
    for (const host of ['hello.demo.local', 'shop.demo.local']) {
      await until(async () => (await hub.routes.list()).some((r) => r.hostname === host), `the route ${host} registered by ingress sync`, 30_000);
    }
    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(kubeconfig, await kubeconfigFor(hub, clusterId, tokens.user, { namespace: 'demo' }), { mode: 0o600 });
    const endpoints: DemoEndpoints = { hub_url: hub.url, kube_url: hub.kubeUrl, gateway_url: hub.gatewayUrl, agent_url: agent.url, sandbox_url: priv.kube.url, cluster_id: clusterId, kubeconfig };
    writeFileSync(join(dir, 'endpoints.json'), `${JSON.stringify(endpoints, null, 2)}\n`);
    writeFileSync(join(dir, 'tokens.json'), `${JSON.stringify({ admin_token: tokens.admin, user_token: tokens.user }, null, 2)}\n`, { mode: 0o600 });
    return { endpoints, hub, agent, stop: stopAll };
  } catch (e) {
    await stopAll();
    throw e;
  }
}

async function until<T>(probe: () => T | null | undefined | Promise<T | null | undefined>, what: string, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; see demo.log`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
