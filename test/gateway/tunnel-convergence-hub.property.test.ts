// Property (issue 13 item 3): random sequences of Gateway / TCPRoute / UDPRoute / Service operations, watch drops,
// 410s, discovery restarts, registry failures and reconnects end with the *hub's* tunnel registry for the cluster
// exactly equal to what §5.5 says the labelled Gateways make. The oracle below is §5.5 written out again,
// independently of src/gateway/tunnel-discovery.ts; the engine's TunnelRegistryClient talks to a real hub
// (src/hub/tunnels) through a front that can fail tunnel registry calls.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import fc from 'fast-check';
import { GatewayDiscovery, GATEWAYS_PATH, TCPROUTES_PATH, UDPROUTES_PATH } from '../../src/gateway/gateway-discovery.ts';
import { TunnelRegistryClient } from '../../src/gateway/tunnel-registry-client.ts';
import { tokenDigest } from '../../src/hub/auth.ts';
import type { Hub } from '../../src/hub/server.ts';
import { KubeClient, type KubeObject } from '../../src/kube/client.ts';
import { objectKey } from '../../src/kube/watch.ts';
import { type Sandbox, startSandbox } from '../../src/sandbox/index.ts';
import { AGENT_TOKEN, testHub } from '../support/hub-agent.ts';
import { waitFor } from '../support/wait.ts';

const CLUSTER_ID = 'tunnel-convergence';
const NAMESPACES = ['app', 'edge'] as const;
const GATEWAYS = ['g0', 'g1'] as const;
const ROUTES = ['r0', 'r1'] as const;
const LISTENERS = [
  { name: 'tcp-a', port: 5000, protocol: 'TCP' },
  { name: 'tcp-b', port: 5001, protocol: 'TCP' },
  { name: 'udp-a', port: 6000, protocol: 'UDP' },
  { name: 'http', port: 80, protocol: 'HTTP' },
] as const;

/** A loopback front for the hub: fails the next `n` tunnel registry calls with 500, forwards everything. */
function failingFront(target: string) {
  let fail = 0;
  const server = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    async fetch(req) {
      const url = new URL(req.url);
      if (url.pathname.includes('/tunnels') && fail > 0) {
        fail--;
        return Response.json({ error: 'injected' }, { status: 500 });
      }
      const body = req.method === 'GET' || req.method === 'HEAD' ? undefined : await req.arrayBuffer();
      const r = await fetch(`${target}${url.pathname}${url.search}`, { method: req.method, headers: req.headers, body });
      return new Response(await r.arrayBuffer(), { status: r.status, headers: r.headers });
    },
  });
  return { url: `http://127.0.0.1:${server.port}`, failNext: (n: number) => void (fail = n), stop: () => server.stop(true) };
}

type Op =
  | { k: 'gateway'; ns: string; name: string; labelled: boolean; listeners: number[]; address: boolean; mode: string | null }
  | { k: 'label'; ns: string; name: string; labelled: boolean }
  | { k: 'deleteGateway'; ns: string; name: string }
  | { k: 'route'; kind: 'tcproutes' | 'udproutes'; ns: string; name: string; parent: string; section: string | null; backend: { name: string; port: number } | null }
  | { k: 'deleteRoute'; kind: 'tcproutes' | 'udproutes'; ns: string; name: string }
  | { k: 'lb'; public: boolean | null }
  | { k: 'dropWatches' }
  | { k: 'expire' }
  | { k: 'restart' }
  | { k: 'fail'; n: number }
  | { k: 'reconnect' }
  | { k: 'settle' };

const ns = fc.constantFrom(...NAMESPACES);
const gw = fc.constantFrom(...GATEWAYS);
const kind = fc.constantFrom('tcproutes' as const, 'udproutes' as const);
const op: fc.Arbitrary<Op> = fc.oneof(
  {
    arbitrary: fc.record({
      k: fc.constant('gateway' as const),
      ns,
      name: gw,
      labelled: fc.constantFrom(true, true, true, false),
      listeners: fc.uniqueArray(fc.integer({ min: 0, max: LISTENERS.length - 1 }), { minLength: 1, maxLength: 4 }),
      address: fc.boolean(),
      mode: fc.constantFrom(null, null, 'direct', 'tunnel', 'dual', 'bogus'),
    }),
    weight: 8,
  },
  { arbitrary: fc.record({ k: fc.constant('label' as const), ns, name: gw, labelled: fc.boolean() }), weight: 3 },
  { arbitrary: fc.record({ k: fc.constant('deleteGateway' as const), ns, name: gw }), weight: 3 },
  {
    arbitrary: fc.record({
      k: fc.constant('route' as const),
      kind,
      ns,
      name: fc.constantFrom(...ROUTES),
      parent: gw,
      section: fc.constantFrom(null, null, 'tcp-a', 'tcp-b', 'udp-a', 'nope'),
      backend: fc.option(fc.record({ name: fc.constantFrom('redis', 'dns'), port: fc.constantFrom(6379, 53) }), { nil: null, freq: 5 }),
    }),
    weight: 8,
  },
  { arbitrary: fc.record({ k: fc.constant('deleteRoute' as const), kind, ns, name: fc.constantFrom(...ROUTES) }), weight: 3 },
  { arbitrary: fc.record({ k: fc.constant('lb' as const), public: fc.constantFrom(true, false, null) }), weight: 1 },
  { arbitrary: fc.constant<Op>({ k: 'dropWatches' }), weight: 1 },
  { arbitrary: fc.constant<Op>({ k: 'expire' }), weight: 1 },
  { arbitrary: fc.constant<Op>({ k: 'restart' }), weight: 1 },
  { arbitrary: fc.integer({ min: 1, max: 3 }).map((n): Op => ({ k: 'fail', n })), weight: 1 },
  { arbitrary: fc.constant<Op>({ k: 'reconnect' }), weight: 1 },
  { arbitrary: fc.constant<Op>({ k: 'settle' }), weight: 1 },
);

// ---- the oracle: §5.5 (with this agent's deviations: no backend ⇒ not registered; no address ⇒ tunnel) ----

type Expected = {
  tunnel_id: string;
  protocol: string;
  gateway_name: string;
  gateway_namespace: string;
  gateway_port: number;
  service_name: string;
  service_namespace: string;
  service_port: number;
  routing_mode: string;
  public_endpoint: string;
};

function oracle(gateways: KubeObject[], tcp: KubeObject[], udp: KubeObject[], clusterPublic: boolean, forceTunnel: boolean): Record<string, Expected> {
  const out: Record<string, Expected> = {};
  const byKey = [...gateways].sort((a, b) => (objectKey(a) < objectKey(b) ? -1 : 1));
  for (const g of byKey) {
    const m = g.metadata as { name: string; namespace: string; labels?: Record<string, string>; annotations?: Record<string, string> };
    if (!m.labels || !('pipeops.io/managed' in m.labels)) continue;
    const addr = ((g.status as { addresses?: { value: string }[] } | undefined)?.addresses ?? [])[0]?.value ?? '';
    const ann = m.annotations?.['pipeops.io/routing-mode'];
    let mode = ann === 'direct' || ann === 'tunnel' || ann === 'dual' ? ann : forceTunnel || !clusterPublic ? 'tunnel' : 'direct';
    if (!addr) mode = 'tunnel';
    for (const l of (g.spec as { listeners: { name: string; port: number; protocol: string }[] }).listeners) {
      if (l.protocol !== 'TCP' && l.protocol !== 'UDP') continue;
      const proto = l.protocol.toLowerCase();
      const id = `${proto}-${CLUSTER_ID}-${m.name}-${l.port}`;
      if (out[id]) continue;
      const routes = (proto === 'tcp' ? tcp : udp)
        .filter((r) => r.metadata?.namespace === m.namespace)
        .filter((r) => (r.spec as { parentRefs: { name: string; sectionName?: string }[] }).parentRefs.some((p) => p.name === m.name && (!p.sectionName || p.sectionName === l.name)))
        .sort((a, b) => ((a.metadata?.name ?? '') < (b.metadata?.name ?? '') ? -1 : 1));
      const ref = (routes[0]?.spec as { rules: { backendRefs: { name: string; port: number }[] }[] } | undefined)?.rules[0]?.backendRefs[0];
      if (!ref) continue;
      out[id] = {
        tunnel_id: id,
        protocol: proto,
        gateway_name: m.name,
        gateway_namespace: m.namespace,
        gateway_port: l.port,
        service_name: ref.name,
        service_namespace: m.namespace,
        service_port: ref.port,
        routing_mode: mode,
        public_endpoint: addr ? `${addr}:${l.port}` : '',
      };
    }
  }
  return out;
}

let hub: Hub;
let front: ReturnType<typeof failingFront>;
let sandbox: Sandbox;
let kube: KubeClient;

beforeAll(async () => {
  hub = await testHub();
  front = failingFront(hub.url);
  sandbox = await startSandbox({ seed: 'minimal' });
  kube = new KubeClient({ server: sandbox.url, source: 'explicit' });
  for (const n of NAMESPACES) sandbox.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: n } });
});
afterAll(async () => {
  front.stop();
  await sandbox.close();
  await hub.stop();
});

const PATHS = { gateways: GATEWAYS_PATH, tcproutes: TCPROUTES_PATH, udproutes: UDPROUTES_PATH } as const;

async function clearSandbox(): Promise<void> {
  for (const r of ['gateways.gateway.networking.k8s.io', 'tcproutes', 'udproutes'] as const) {
    const path = PATHS[r === 'gateways.gateway.networking.k8s.io' ? 'gateways' : r];
    for (const o of (await kube.list(path)).items) sandbox.remove(r, o.metadata?.namespace ?? '', o.metadata?.name ?? '');
  }
  sandbox.remove('services', 'edge', 'lb');
}

function start(forceTunnel: boolean): GatewayDiscovery {
  return new GatewayDiscovery({
    kube,
    registry: new TunnelRegistryClient({ apiUrl: front.url, token: AGENT_TOKEN, attempts: 2, sleep: async () => {} }),
    clusterId: CLUSTER_ID,
    tcp: { enabled: true, selector: 'pipeops.io/managed' },
    udp: { enabled: true, selector: 'pipeops.io/managed' },
    forceTunnel,
    dualMode: false,
    refreshIntervalMs: 0,
    repair: { baseMs: 2, maxMs: 20 },
    watchBackoff: { initialMs: 5, maxMs: 50 },
  });
}

async function settle(d: GatewayDiscovery, forceTunnel: boolean, timeoutMs = 10_000): Promise<void> {
  // Services are watched (the cluster's public/private decision) only without force_tunnel_mode.
  const watched: [string, string][] = [...Object.entries(PATHS), ...(forceTunnel ? [] : [['services', '/api/v1/services'] as [string, string]])];
  await waitFor(
    async () => {
      for (const [name, path] of watched as [Parameters<GatewayDiscovery['cache']>[0], string][]) {
        const live = await kube.list(path);
        const cache = d.cache(name) as ReadonlyMap<string, KubeObject>;
        if (live.items.length !== cache.size) return false;
        for (const o of live.items) if (cache.get(objectKey(o))?.metadata?.resourceVersion !== o.metadata?.resourceVersion) return false;
      }
      await new Promise((r) => setImmediate(r));
      const want = d.desired().map((t) => JSON.stringify(t));
      return d.engine.idle && JSON.stringify(want) === JSON.stringify(d.engine.desiredBodies());
    },
    { timeoutMs, what: 'discovery caught up and the tunnel engine idle' },
  );
}

async function check(clusterPublic: boolean, forceTunnel: boolean): Promise<void> {
  const [g, t, u] = await Promise.all([kube.list(GATEWAYS_PATH), kube.list(TCPROUTES_PATH), kube.list(UDPROUTES_PATH)]);
  const want = oracle(g.items, t.items, u.items, clusterPublic, forceTunnel);
  const have: Record<string, Expected> = {};
  for (const r of await hub.tunnels.list(CLUSTER_ID)) {
    have[r.tunnel_id] = {
      tunnel_id: r.tunnel_id,
      protocol: r.protocol,
      gateway_name: r.gateway_name,
      gateway_namespace: r.gateway_namespace,
      gateway_port: r.gateway_port,
      service_name: r.service_name,
      service_namespace: r.service_namespace,
      service_port: r.service_port,
      routing_mode: r.routing_mode,
      public_endpoint: r.public_endpoint,
    };
  }
  expect(have).toEqual(want);
}

async function run(ops: Op[], forceTunnel: boolean): Promise<void> {
  await clearSandbox();
  await hub.tunnels.sync(CLUSTER_ID, []);
  hub.store.register({ agentId: 'tunnel-convergence', name: 'tunnel-convergence', requestedId: CLUSTER_ID, k8sVersion: 'v1.30.0', agentVersion: 'test', tokenDigest: tokenDigest(AGENT_TOKEN), metadata: {}, registration: {} });
  front.failNext(0);
  let clusterPublic = false;
  let d = start(forceTunnel);
  try {
    for (const o of ops) {
      await new Promise((r) => setImmediate(r));
      switch (o.k) {
        case 'gateway':
          sandbox.apply({
            apiVersion: 'gateway.networking.k8s.io/v1',
            kind: 'Gateway',
            metadata: {
              namespace: o.ns,
              name: o.name,
              ...(o.labelled ? { labels: { 'pipeops.io/managed': 'true' } } : {}),
              ...(o.mode ? { annotations: { 'pipeops.io/routing-mode': o.mode } } : {}),
            },
            spec: { gatewayClassName: 'istio', listeners: o.listeners.map((i) => LISTENERS[i]!) },
            ...(o.address ? { status: { addresses: [{ type: 'IPAddress', value: '203.0.113.5' }] } } : {}),
          });
          break;
        case 'label': {
          const cur = sandbox.get('gateways.gateway.networking.k8s.io', o.ns, o.name);
          if (!cur) break;
          const labels = o.labelled ? { 'pipeops.io/managed': '' } : {};
          sandbox.apply({ ...cur, metadata: { ...(cur.metadata as Record<string, unknown>), labels } });
          break;
        }
        case 'deleteGateway':
          sandbox.remove('gateways.gateway.networking.k8s.io', o.ns, o.name);
          break;
        case 'route':
          sandbox.apply({
            apiVersion: 'gateway.networking.k8s.io/v1alpha2',
            kind: o.kind === 'tcproutes' ? 'TCPRoute' : 'UDPRoute',
            metadata: { namespace: o.ns, name: o.name },
            spec: { parentRefs: [{ name: o.parent, ...(o.section ? { sectionName: o.section } : {}) }], rules: [{ backendRefs: o.backend ? [o.backend] : [] }] },
          });
          break;
        case 'deleteRoute':
          sandbox.remove(o.kind, o.ns, o.name);
          break;
        case 'lb':
          if (o.public === null) sandbox.remove('services', 'edge', 'lb');
          else
            sandbox.apply({
              apiVersion: 'v1',
              kind: 'Service',
              metadata: { namespace: 'edge', name: 'lb' },
              spec: { type: 'LoadBalancer', ports: [{ port: 80 }] },
              status: { loadBalancer: { ingress: [{ ip: o.public ? '198.51.100.7' : '10.1.2.3' }] } },
            });
          clusterPublic = o.public === true;
          break;
        case 'dropWatches':
          sandbox.faults.dropWatches();
          break;
        case 'expire':
          sandbox.faults.compact();
          sandbox.faults.dropWatches();
          break;
        case 'restart':
          await d.stop();
          d = start(forceTunnel);
          break;
        case 'fail':
          front.failNext(o.n);
          break;
        case 'reconnect':
          d.reconnected();
          break;
        case 'settle':
          await settle(d, forceTunnel);
          await check(clusterPublic, forceTunnel);
          break;
      }
    }
    front.failNext(0);
    await settle(d, forceTunnel, 20_000);
    await check(clusterPublic, forceTunnel);
    if (process.env.CONVERGENCE_DEBUG) console.log(`gateways=${(await kube.list(GATEWAYS_PATH)).items.map((g) => `${objectKey(g)}${JSON.stringify(g.metadata?.labels)}${(g.spec as { listeners: { name: string }[] }).listeners.map((l) => l.name)}`).join(' ')} routes=${(await kube.list(TCPROUTES_PATH)).items.map((g) => `${objectKey(g)}${JSON.stringify(g.spec)}`).join(' ')} tunnels=${(await hub.tunnels.list(CLUSTER_ID)).map((t) => `${t.tunnel_id}:${t.routing_mode}`).join(' ')} counters=${JSON.stringify(d.engine.counters)}`);
  } finally {
    await d.stop();
  }
}

describe('tunnel registry convergence against the hub', () => {
  test(
    'after any 150 operations the hub holds exactly the tunnels of the labelled Gateways',
    async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(op, { minLength: 150, maxLength: 150 }), fc.boolean(), async (ops, forceTunnel) => run(ops, forceTunnel)),
        { numRuns: Number(process.env.TUNNEL_CONVERGENCE_RUNS ?? 25), endOnFailure: false },
      );
    },
    180_000,
  );
});
