// The agent against a real kube-apiserver, as it runs in a cluster: the chart installed by `helm install` (real
// validation of every object), the agent in in-cluster mode with a TokenRequest token for the chart's
// ServiceAccount, the control-plane token from the chart's Secret. Proven from the apiserver's audit log:
//   - zero 403 for the agent's identity over registration, state, heartbeats (counts), ingress sync and the
//     service proxy; the metrics.k8s.io request is authorized before its 404 (the chart rule is needed);
//   - ingress sync across a real 410: the agent is cut off, an Ingress changes, etcd compacts past the agent's
//     resourceVersion, the agent's resumed watch gets 410 and its relist converges the hub's routes;
//   - the agent across an apiserver restart: it keeps heartbeating and syncing, and the 403s a starting apiserver
//     answers before /readyz do not make it advise an RBAC grant.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { adminClusters } from '../support/hub-agent.ts';
import { waitFor } from '../support/wait.ts';
import {
  AGENT_USER,
  CuttableRelay,
  controlPlaneToken,
  forbidden,
  helmInstall,
  type InClusterAgent,
  kubeJson,
  NS,
  type RealCluster,
  realTierMissing,
  startInClusterAgent,
  startRealCluster,
} from './real-support.ts';

const missing = realTierMissing();
if (missing) console.log(`test/real: SKIPPED (${missing})`);

let c: RealCluster;
let relay: CuttableRelay;
let a: InClusterAgent;

const ingress = (name: string, host: string, managed = true) => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'Ingress',
  metadata: { name, namespace: 'demo', ...(managed ? { labels: { 'pipeops.io/managed': 'true' } } : {}) },
  spec: { ingressClassName: 'traefik', rules: [{ host, http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'app', port: { number: 80 } } } }] } }] },
});
const hosts = async () => (await a.hub.routes.list()).map((r) => r.hostname).sort();
const agentEvents = (from = 0) => c.kube.audit().slice(from).filter((e) => e.user.username === AGENT_USER);

describe.skipIf(missing !== null)('agent in-cluster against a real kube-apiserver', () => {
  beforeAll(async () => {
    // Ingresses bypass the watch cache so a watch resumed from a compacted revision really reaches etcd's 410;
    // compaction every 2 s makes that happen within the test.
    c = await startRealCluster({ compactionInterval: '2s', apiserverFlags: ['--watch-cache-sizes=ingresses.networking.k8s.io#0'] });
    await helmInstall(c.kube, { token: 'pipeops-agent-token-placeholder', 'config.agent.enable_ingress_sync': 'true', 'config.kubernetes.service_proxy': 'apiserver' });
    await controlPlaneToken(c.kube);
    await kubeJson(c.kube, 'POST', `/api/v1/namespaces/${NS}/services`, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'traefik', namespace: NS },
      spec: { type: 'ClusterIP', selector: { app: 'traefik' }, ports: [{ name: 'web', port: 80, targetPort: 8000 }] },
    });
    await kubeJson(c.kube, 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'demo' } });
    // Routes are extracted only for backends whose Service exists.
    await kubeJson(c.kube, 'POST', '/api/v1/namespaces/demo/services', { apiVersion: 'v1', kind: 'Service', metadata: { name: 'app', namespace: 'demo' }, spec: { selector: { app: 'app' }, ports: [{ name: 'http', port: 80 }] } });
    await kubeJson(c.kube, 'POST', '/apis/networking.k8s.io/v1/namespaces/demo/ingresses', ingress('app', 'app.real.test'));
    await kubeJson(c.kube, 'POST', '/apis/networking.k8s.io/v1/namespaces/demo/ingresses', ingress('unmanaged', 'unmanaged.real.test', false));
    relay = await new CuttableRelay(c.kube.port).start();
    a = await startInClusterAgent(c.kube, relay.port, { agent: { enable_ingress_sync: true, heartbeat_interval: '300ms' }, kubernetes: { service_proxy: 'apiserver' } });
  }, 180_000);

  afterAll(async () => {
    await a?.stop();
    await relay?.close();
    await c?.stop();
  });

  test('the chart installed into the real apiserver: every object accepted', async () => {
    for (const [path, name] of [
      [`/apis/apps/v1/namespaces/${NS}/deployments`, 'pipeops-agent'],
      [`/api/v1/namespaces/${NS}/serviceaccounts`, 'pipeops-agent'],
      [`/api/v1/namespaces/${NS}/serviceaccounts`, 'pipeops-agent-control-plane'],
      ['/apis/rbac.authorization.k8s.io/v1/clusterroles', 'pipeops-agent'],
      [`/apis/rbac.authorization.k8s.io/v1/namespaces/${NS}/roles`, 'pipeops-agent-state'],
    ] as const) {
      expect(`${path}/${name}: ${(await c.kube.request('GET', `${path}/${name}`)).status}`).toBe(`${path}/${name}: 200`);
    }
  });

  test('registration, state, heartbeats with real counts, ingress sync and the service proxy: zero 403', async () => {
    await waitFor(async () => (await adminClusters(a.hub)).find((x) => x.connected && x.last_heartbeat), { what: 'registered with a heartbeat', timeoutMs: 30_000 });
    await waitFor(async () => {
      const cm = await kubeJson<{ data?: Record<string, string> }>(c.kube, 'GET', `/api/v1/namespaces/${NS}/configmaps/pipeops-agent-state`);
      return cm.data?.cluster_id;
    }, { what: 'cluster_id in the state ConfigMap' });
    // Heartbeat counts from the real server (limit=1 + remainingItemCount): 1 node, and every pod.
    const pods = (await kubeJson<{ items: unknown[] }>(c.kube, 'GET', '/api/v1/pods')).items.length;
    await waitFor(async () => {
      const md = ((await a.hub.store.get(a.clusterId))?.last_heartbeat_payload?.metadata ?? {}) as Record<string, unknown>;
      return md.k8s_nodes === 1 && md.k8s_pods === pods;
    }, { what: `heartbeat with 1 node and ${pods} pods`, timeoutMs: 15_000 });
    await waitFor(async () => (await hosts()).includes('app.real.test'), { what: 'managed ingress registered', timeoutMs: 20_000 });
    expect(await hosts()).not.toContain('unmanaged.real.test');
    // Service proxy: public gateway → agent → apiserver services/proxy. Authorized; the Service has no endpoint
    // the apiserver may dial (it refuses loopback), so the answer is the apiserver's 503, not a 403.
    const r = await fetch(`${a.hub.gatewayUrl}/hello`, { headers: { host: 'app.real.test' } });
    await r.body?.cancel();
    const proxied = await waitFor(() => agentEvents().find((e) => e.objectRef?.resource === 'services' && e.objectRef.subresource === 'proxy'), { what: 'services/proxy in the audit log' });
    expect(proxied.annotations?.['authorization.k8s.io/decision']).toBe('allow');
    expect(proxied.responseStatus?.code).not.toBe(403);
    // metrics.k8s.io: authorized first (the chart's rule allows it), then 404 because no metrics-server runs.
    const metrics = await waitFor(() => agentEvents().find((e) => e.requestURI.startsWith('/apis/metrics.k8s.io/')), { what: 'metrics.k8s.io request' });
    expect(metrics.annotations?.['authorization.k8s.io/decision']).toBe('allow');
    expect(metrics.annotations?.['authorization.k8s.io/reason']).toContain('pipeops-agent');
    expect(metrics.responseStatus?.code).toBe(404);
    await waitFor(() => agentEvents().some((e) => e.objectRef?.resource === 'configmaps' && e.verb === 'update'), { what: 'state update' });
    expect(forbidden(c.kube, AGENT_USER)).toEqual([]);
  }, 90_000);

  test('ingress sync across a real 410: relisted after etcd compacted past the agent\'s resourceVersion', async () => {
    await waitFor(async () => (await hosts()).includes('app.real.test'), { what: 'app registered', timeoutMs: 20_000 });
    const before = (await kubeJson<{ metadata: { resourceVersion: string } }>(c.kube, 'GET', '/apis/networking.k8s.io/v1/ingresses')).metadata.resourceVersion;
    const from = c.kube.audit().length;
    relay.cut();
    await kubeJson(c.kube, 'DELETE', '/apis/networking.k8s.io/v1/namespaces/demo/ingresses/app');
    await kubeJson(c.kube, 'POST', '/apis/networking.k8s.io/v1/namespaces/demo/ingresses', ingress('app2', 'app2.real.test'));
    // Wait for the compactor: an exact read at the old revision is then 410 (what the agent's resume will get).
    await waitFor(async () => {
      await kubeJson(c.kube, 'PUT', `/api/v1/namespaces/demo/configmaps/tick`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'tick', namespace: 'demo' }, data: { t: String(Date.now()) } }).catch(() =>
        kubeJson(c.kube, 'POST', '/api/v1/namespaces/demo/configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'tick', namespace: 'demo' } }),
      );
      return (await c.kube.request('GET', `/apis/networking.k8s.io/v1/ingresses?resourceVersion=${before}&resourceVersionMatch=Exact`)).status === 410;
    }, { what: `revision ${before} compacted`, timeoutMs: 30_000, intervalMs: 500 });
    relay.restore();
    await waitFor(async () => { const h = await hosts(); return h.includes('app2.real.test') && !h.includes('app.real.test'); }, { what: 'routes converged after the relist', timeoutMs: 30_000 });
    const after = agentEvents(from).filter((e) => e.objectRef?.resource === 'ingresses');
    // The resumed watch (from the old revision), then a fresh LIST: the relist only a 410 causes.
    const resumed = after.findIndex((e) => e.verb === 'watch' && new URL(e.requestURI, 'https://x').searchParams.get('resourceVersion') !== '');
    expect(resumed).toBeGreaterThanOrEqual(0);
    expect(after.slice(resumed).some((e) => e.verb === 'list')).toBe(true);
    expect(forbidden(c.kube, AGENT_USER, from)).toEqual([]);
  }, 90_000);

  test('across an apiserver restart: heartbeats and ingress sync resume; the 403s before /readyz bring no RBAC advice', async () => {
    const from = c.kube.audit().length;
    const logFrom = a.logs.length;
    await c.kube.restartApiserver();
    const beat = (await a.hub.store.get(a.clusterId))?.last_heartbeat;
    await waitFor(async () => (await a.hub.store.get(a.clusterId))?.last_heartbeat !== beat, { what: 'a heartbeat after the restart', timeoutMs: 20_000 });
    await kubeJson(c.kube, 'POST', '/apis/networking.k8s.io/v1/namespaces/demo/ingresses', ingress('app3', 'app3.real.test'));
    await waitFor(async () => (await hosts()).includes('app3.real.test'), { what: 'ingress created after the restart registered', timeoutMs: 30_000 });
    const early = forbidden(c.kube, AGENT_USER, from);
    const lines = a.logs.slice(logFrom);
    console.log(`apiserver restart: ${early.length} requests of the agent were answered 403 before /readyz`);
    expect(lines.filter((l) => l.includes('grant it with a Role/ClusterRole binding'))).toEqual([]);
    // A 403 is logged only by callers that log their failures (some retry silently), so the count of lines is not
    // tied to `early`; every one that is logged names the not-ready server instead of advising a grant.
    expect(lines.filter((l) => l.includes('forbidden:') && !l.includes('while the API server is not ready'))).toEqual([]);
  }, 90_000);
});
