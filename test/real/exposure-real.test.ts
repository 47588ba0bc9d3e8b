// Exposure and Gateway discovery against a real kube-apiserver (issue 13 items 3, 4 and 8): the Gateway API and
// Istio kinds installed as CRDs, the chart installed with gateway.enabled and tunnels.enabled, the agent in-cluster
// with the chart's RBAC. The agent's server-side applies are real ones (managedFields, removal of fields it stops
// applying), nothing it does is forbidden (so the Role's `create` for apply-creates is really needed and enough),
// and the Gateway it creates is discovered and registered with the hub's tunnel registry.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import type { AgentConfigInput } from '../../src/config/schema.ts';
import { waitFor } from '../support/wait.ts';
import { AGENT_USER, controlPlaneToken, forbidden, helmInstall, type InClusterAgent, kubeJson, NS, type RealCluster, realTierMissing, startInClusterAgent, startRealCluster } from './real-support.ts';

const missing = realTierMissing();
if (missing) console.log(`test/real: SKIPPED (${missing})`);

const CRDS = [
  { group: 'gateway.networking.k8s.io', version: 'v1', plural: 'gateways', kind: 'Gateway' },
  { group: 'gateway.networking.k8s.io', version: 'v1alpha2', plural: 'tcproutes', kind: 'TCPRoute' },
  { group: 'gateway.networking.k8s.io', version: 'v1alpha2', plural: 'udproutes', kind: 'UDPRoute' },
  { group: 'networking.istio.io', version: 'v1', plural: 'gateways', kind: 'Gateway' },
  { group: 'networking.istio.io', version: 'v1', plural: 'virtualservices', kind: 'VirtualService' },
];

function crd(c: (typeof CRDS)[number]) {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    // Groups under k8s.io need the approval annotation (the Gateway API CRDs carry it).
    metadata: { name: `${c.plural}.${c.group}`, ...(c.group.endsWith('.k8s.io') ? { annotations: { 'api-approved.kubernetes.io': 'https://github.com/kubernetes-sigs/gateway-api/pull/2466' } } : {}) },
    spec: {
      group: c.group,
      scope: 'Namespaced',
      names: { plural: c.plural, singular: c.kind.toLowerCase(), kind: c.kind, listKind: `${c.kind}List` },
      versions: [{ name: c.version, served: true, storage: true, subresources: { status: {} }, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }],
    },
  };
}

const GATEWAY_A = {
  enabled: true,
  environment: { mode: 'managed' },
  gateway_api: {
    enabled: true,
    listeners: [{ name: 'tcp-redis', port: 6379, protocol: 'TCP' }, { name: 'udp-dns', port: 5353, protocol: 'UDP' }],
    tcp_routes: [{ name: 'redis', section_name: 'tcp-redis', backend_refs: [{ name: 'redis', port: 6379 }] }],
    udp_routes: [{ name: 'dns', section_name: 'udp-dns', backend_refs: [{ name: 'coredns', port: 53 }] }],
  },
  istio: {
    enabled: true,
    gateway: { servers: [{ port: { number: 443, name: 'tls-app', protocol: 'TLS' }, hosts: ['app.example.com'], tls: { mode: 'PASSTHROUGH' } }] },
    virtual_service: { tls_routes: [{ name: 'app', port: 443, sni_hosts: ['app.example.com'], destination: { host: 'app.default.svc.cluster.local', port: 443 } }] },
  },
};
// B: the UDP route gone, the Istio server without its tls block, the TCP backend moved.
const GATEWAY_B = {
  ...GATEWAY_A,
  gateway_api: { ...GATEWAY_A.gateway_api, tcp_routes: [{ name: 'redis', section_name: 'tcp-redis', backend_refs: [{ name: 'redis-v2', port: 6380 }] }], udp_routes: [] },
  istio: { ...GATEWAY_A.istio, gateway: { servers: [{ port: { number: 443, name: 'tls-app', protocol: 'TLS' }, hosts: ['app.example.com'] }] } },
};

type Obj = { metadata: { labels?: Record<string, string>; managedFields?: { manager: string; operation: string }[] }; spec: Record<string, any> };

describe.skipIf(missing !== null)('exposure and discovery against a real kube-apiserver', () => {
  let c: RealCluster;
  let a: InClusterAgent | undefined;
  beforeAll(async () => {
    c = await startRealCluster();
    for (const x of CRDS) await kubeJson(c.kube, 'POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd(x));
    for (const x of CRDS) {
      await waitFor(async () => (await c.kube.request('GET', `/apis/${x.group}/${x.version}/${x.plural}`)).status === 200, { what: `${x.plural}.${x.group} served`, timeoutMs: 30_000 });
    }
    await helmInstall(c.kube, { token: 'pipeops-agent-token-placeholder', 'config.gateway.enabled': 'true', 'config.tunnels.enabled': 'true' });
    await controlPlaneToken(c.kube);
  }, 180_000);
  afterAll(async () => {
    await a?.stop();
    await c?.stop();
  });

  const get = async (path: string) => {
    const r = await c.kube.request('GET', path);
    return r.status === 200 ? ((await r.json()) as Obj) : null;
  };
  const GWAPI = `/apis/gateway.networking.k8s.io/v1/namespaces/${NS}/gateways/pipeops-gateway`;
  const TCP = `/apis/gateway.networking.k8s.io/v1alpha2/namespaces/${NS}/tcproutes/redis`;
  const UDP = `/apis/gateway.networking.k8s.io/v1alpha2/namespaces/${NS}/udproutes/dns`;
  const ISTIO = `/apis/networking.istio.io/v1/namespaces/${NS}/gateways/pipeops-gateway`;
  const VS = `/apis/networking.istio.io/v1/namespaces/${NS}/virtualservices/pipeops-gateway`;

  test('applied with the agent\'s field manager, changed and removed on a config change, discovered into the hub; nothing forbidden', async () => {
    const auditFrom = c.kube.audit().length;
    const over = (gateway: unknown) => ({ agent: { heartbeat_interval: '300ms' }, tunnels: { enabled: true }, gateway }) as never as Parameters<typeof startInClusterAgent>[2] & AgentConfigInput;
    a = await startInClusterAgent(c.kube, c.kube.port, over(GATEWAY_A));
    for (const p of [GWAPI, TCP, UDP, ISTIO, VS]) await waitFor(() => get(p), { what: p, timeoutMs: 30_000 });
    const gw = (await get(GWAPI))!;
    expect(gw.metadata.managedFields?.find((m) => m.manager === 'pipeops-agent')?.operation).toBe('Apply');
    expect(gw.metadata.labels).toMatchObject({ 'app.kubernetes.io/managed-by': 'pipeops-agent', 'pipeops.io/managed': 'true' });
    expect((await get(ISTIO))!.spec.servers[0].tls).toEqual({ mode: 'PASSTHROUGH' });
    // Discovery: the agent's own Gateway is labelled for it; both listeners have routes.
    const clusterId = a.clusterId;
    const hub = a.hub;
    await waitFor(async () => (await hub.tunnels.list(clusterId)).length === 2, { what: 'two tunnels at the hub', timeoutMs: 30_000 });
    expect((await hub.tunnels.list(clusterId)).map((t) => `${t.tunnel_id} ${t.service_namespace}/${t.service_name}:${t.service_port}`)).toEqual([
      `tcp-${clusterId}-pipeops-gateway-6379 ${NS}/redis:6379`,
      `udp-${clusterId}-pipeops-gateway-5353 ${NS}/coredns:53`,
    ]);
    await a.agent.stop();
    // Someone edits a field of ours by hand (another field manager): the next apply takes it back (force).
    await kubeJson(c.kube, 'PATCH', `${GWAPI}?fieldManager=someone`, { spec: { gatewayClassName: 'hijacked' } }, { 'content-type': 'application/merge-patch+json' });
    expect((await get(GWAPI))!.spec.gatewayClassName).toBe('hijacked');

    // The same cluster, configuration B (a new agent process, as after a config change and restart).
    a = await startInClusterAgent(c.kube, c.kube.port, over(GATEWAY_B), hub);
    await waitFor(async () => (await get(UDP)) === null, { what: 'the UDPRoute removed', timeoutMs: 30_000 });
    await waitFor(async () => (await get(ISTIO))?.spec.servers[0].tls === undefined, { what: 'the Istio server\'s tls block removed by apply', timeoutMs: 30_000 });
    expect((await get(TCP))!.spec.rules).toEqual([{ backendRefs: [{ name: 'redis-v2', port: 6380 }] }]);
    await waitFor(async () => (await get(GWAPI))?.spec.gatewayClassName === 'istio', { what: 'the hand-edited field taken back', timeoutMs: 30_000 });
    await waitFor(
      async () => JSON.stringify((await hub.tunnels.list(a!.clusterId)).map((t) => `${t.tunnel_id} ${t.service_name}:${t.service_port}`)) === JSON.stringify([`tcp-${a!.clusterId}-pipeops-gateway-6379 redis-v2:6380`]),
      { what: 'the hub holding only the changed TCP tunnel', timeoutMs: 30_000 },
    );
    await a.stop();
    a = undefined;
    expect(forbidden(c.kube, AGENT_USER, auditFrom)).toEqual([]);
  }, 180_000);
});
