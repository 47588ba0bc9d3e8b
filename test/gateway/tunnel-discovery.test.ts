// Gateway discovery rules (§5.5, src/gateway/tunnel-discovery.ts) case by case, and the tunnel registry REST
// client's status handling against a stand-in control plane.
import { afterAll, describe, expect, test } from 'bun:test';
import { loadConfig } from '../../src/config/load.ts';
import { type DiscoveryOptions, discoverTunnels, type GatewayObject, type L4RouteObject } from '../../src/gateway/tunnel-discovery.ts';
import { matchesSelector, parseLabelSelector } from '../../src/kube/label-selector.ts';
import { TunnelRegistryClient, TunnelRegistryError } from '../../src/gateway/tunnel-registry-client.ts';

const OPTS: DiscoveryOptions = {
  clusterId: 'c1',
  tcp: { enabled: true, selector: 'pipeops.io/managed' },
  udp: { enabled: true, selector: 'pipeops.io/managed' },
  forceTunnel: false,
  dualMode: false,
  clusterPublic: true,
};

function gateway(ns: string, name: string, o: { labels?: Record<string, string>; annotations?: Record<string, string>; address?: string; listeners?: { name: string; port: number; protocol: string }[] } = {}): GatewayObject {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata: { namespace: ns, name, labels: o.labels ?? { 'pipeops.io/managed': 'true' }, ...(o.annotations ? { annotations: o.annotations } : {}) },
    spec: { listeners: o.listeners ?? [{ name: 'tcp', port: 5000, protocol: 'TCP' }, { name: 'udp', port: 6000, protocol: 'UDP' }, { name: 'web', port: 80, protocol: 'HTTP' }] },
    ...(o.address ? { status: { addresses: [{ type: 'Hostname', value: 'lb.example.com' }, { type: 'IPAddress', value: o.address }] } } : {}),
  };
}

function route(ns: string, name: string, parent: string, backend: { name: string; port: number; namespace?: string; kind?: string }, sectionName?: string): L4RouteObject {
  return { metadata: { namespace: ns, name }, spec: { parentRefs: [{ name: parent, ...(sectionName ? { sectionName } : {}) }], rules: [{ backendRefs: [backend] }] } };
}

const ids = (r: ReturnType<typeof discoverTunnels>) => r.tunnels.map((t) => `${t.tunnel_id} ${t.routing_mode} ${t.service_namespace}/${t.service_name}:${t.service_port} ${t.public_endpoint ?? ''}`.trim());

describe('gateway discovery', () => {
  test('TCP and UDP listeners with a route become tunnels; HTTP listeners and listeners without a route do not', () => {
    const r = discoverTunnels([gateway('apps', 'edge', { address: '203.0.113.9' })], { tcp: [route('apps', 'redis', 'edge', { name: 'redis', port: 6379 })], udp: [] }, OPTS);
    expect(ids(r)).toEqual(['tcp-c1-edge-5000 direct apps/redis:6379 203.0.113.9:5000']);
    expect(r.tunnels[0]).toMatchObject({ cluster_uuid: 'c1', protocol: 'tcp', gateway_name: 'edge', gateway_namespace: 'apps', gateway_port: 5000, labels: { 'pipeops.io/managed': 'true' } });
  });

  test('the first route by name whose sectionName is empty or the listener\'s; the backend namespace defaults to the route\'s; only Services', () => {
    const routes = {
      tcp: [
        route('apps', 'b-route', 'edge', { name: 'second', port: 2 }),
        route('apps', 'a-route', 'edge', { name: 'other-listener', port: 1 }, 'not-tcp'),
        route('apps', 'c-route', 'edge', { name: 'first', port: 3, namespace: 'db' }, 'tcp'),
        route('other', 'a-other-ns', 'edge', { name: 'x', port: 9 }),
      ],
      udp: [route('apps', 'dns', 'edge', { name: 'bucket', port: 53, kind: 'ServiceImport' })],
    };
    expect(ids(discoverTunnels([gateway('apps', 'edge')], routes, { ...OPTS, forceTunnel: true }))).toEqual(['tcp-c1-edge-5000 tunnel apps/second:2']);
    routes.tcp.shift();
    expect(ids(discoverTunnels([gateway('apps', 'edge')], routes, { ...OPTS, forceTunnel: true }))).toEqual(['tcp-c1-edge-5000 tunnel db/first:3']);
  });

  test('routing mode: annotation ▸ force_tunnel ▸ private cluster ▸ dual ▸ direct; nothing direct without a Gateway address', () => {
    const routes = { tcp: [route('apps', 'r', 'edge', { name: 's', port: 1 })], udp: [] };
    const mode = (g: GatewayObject, o: Partial<DiscoveryOptions> = {}) => discoverTunnels([g], routes, { ...OPTS, ...o }).tunnels[0]!.routing_mode;
    const addr = { address: '203.0.113.9' };
    expect(mode(gateway('apps', 'edge', addr))).toBe('direct');
    expect(mode(gateway('apps', 'edge', addr), { dualMode: true })).toBe('dual');
    expect(mode(gateway('apps', 'edge', addr), { clusterPublic: false })).toBe('tunnel');
    expect(mode(gateway('apps', 'edge', addr), { forceTunnel: true })).toBe('tunnel');
    expect(mode(gateway('apps', 'edge', { ...addr, annotations: { 'pipeops.io/routing-mode': 'dual' } }), { forceTunnel: true })).toBe('dual');
    expect(mode(gateway('apps', 'edge', { ...addr, annotations: { 'pipeops.io/routing-mode': 'sideways' } }), { forceTunnel: true })).toBe('tunnel');
    expect(mode(gateway('apps', 'edge', { annotations: { 'pipeops.io/routing-mode': 'direct' } }))).toBe('tunnel');
    expect(mode(gateway('apps', 'edge'))).toBe('tunnel');
  });

  test('label selectors per protocol, a protocol switched off, and same-named Gateways in two namespaces', () => {
    const routes = { tcp: [route('a', 'r', 'edge', { name: 's', port: 1 }), route('b', 'r', 'edge', { name: 's', port: 2 })], udp: [route('a', 'u', 'edge', { name: 'd', port: 53 })] };
    const gws = [gateway('b', 'edge'), gateway('a', 'edge', { labels: { tier: 'l4' } })];
    const o = { ...OPTS, forceTunnel: true, tcp: { enabled: true, selector: 'tier=l4' }, udp: { enabled: true, selector: 'tier' } };
    expect(ids(discoverTunnels(gws, routes, o))).toEqual(['tcp-c1-edge-5000 tunnel a/s:1', 'udp-c1-edge-6000 tunnel a/d:53']);
    expect(ids(discoverTunnels(gws, routes, { ...o, udp: { enabled: false, selector: 'tier' } }))).toEqual(['tcp-c1-edge-5000 tunnel a/s:1']);
    // Both labelled: namespace a comes first, b's listener of the same id is a duplicate.
    const both = discoverTunnels(gws, routes, { ...OPTS, forceTunnel: true, tcp: { enabled: true, selector: '' }, udp: { enabled: false, selector: '' } });
    expect(ids(both)).toEqual(['tcp-c1-edge-5000 tunnel a/s:1']);
    expect(both.duplicates).toEqual(['b/edge:5000/tcp']);
  });

  test('selector terms', () => {
    const l = { a: '1', b: '' };
    expect(matchesSelector(l, parseLabelSelector('a'))).toBe(true);
    expect(matchesSelector(l, parseLabelSelector('a=1,b'))).toBe(true);
    expect(matchesSelector(l, parseLabelSelector('a==2'))).toBe(false);
    expect(matchesSelector(l, parseLabelSelector('a!=2, !c'))).toBe(true);
    expect(matchesSelector(l, parseLabelSelector('!b'))).toBe(false);
    expect(() => parseLabelSelector('a in (x,y)')).toThrow('unsupported label selector term');
  });

  test('a malformed gateway_label is a config error naming the key and the source', () => {
    const r = loadConfig({ argv: [], env: { PIPEOPS_API_URL: 'https://x.test', PIPEOPS_TOKEN: 'tok_0123456789abcdefghij', PIPEOPS_CLUSTER_NAME: 'c', TUNNELS_DISCOVERY_UDP_GATEWAY_LABEL: 'a in (b)' }, cwd: '/', home: '', searchPaths: [] });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors).toEqual([{ key: 'tunnels.discovery.udp.gateway_label', source: { kind: 'env', name: 'TUNNELS_DISCOVERY_UDP_GATEWAY_LABEL' }, message: expect.stringContaining('unsupported label selector term') }]);
  });
});

describe('tunnel registry client', () => {
  const seen: { method: string; path: string; auth: string | null; body: string }[] = [];
  let answer = (_req: Request): Response => new Response('{}', { status: 200 });
  const server = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    async fetch(req) {
      seen.push({ method: req.method, path: new URL(req.url).pathname, auth: req.headers.get('authorization'), body: await req.text() });
      return answer(req);
    },
  });
  afterAll(() => server.stop(true));
  const client = () => new TunnelRegistryClient({ apiUrl: `http://127.0.0.1:${server.port}/`, token: 'secret-token-value', sleep: async () => {} });
  const body = { protocol: 'tcp', tunnel_id: 't1', gateway_name: 'g', gateway_namespace: 'n', gateway_port: 1 };

  test('paths, methods, bearer token; 201 and 204 are success; sync reads the rejected list', async () => {
    seen.length = 0;
    answer = (req) => new Response(req.method === 'DELETE' ? null : req.url.endsWith('/sync') ? JSON.stringify({ accepted: [], rejected: [{ tunnel_id: 't1', reason: 'bad' }] }) : '{}', { status: req.method === 'DELETE' ? 204 : req.url.endsWith('/sync') ? 200 : 201 });
    await client().register('c/1', body);
    expect(await client().sync('c/1', [body])).toEqual({ rejected: [{ tunnel_id: 't1', reason: 'bad' }] });
    await client().deregister('c/1', 't 1');
    expect(seen.map((s) => `${s.method} ${s.path}`)).toEqual(['POST /api/v1/clusters/agent/c%2F1/tunnels', 'POST /api/v1/clusters/agent/c%2F1/tunnels/sync', 'DELETE /api/v1/clusters/agent/c%2F1/tunnels/t%201']);
    expect(seen.every((s) => s.auth === 'Bearer secret-token-value')).toBe(true);
    expect(JSON.parse(seen[1]!.body)).toEqual({ cluster_uuid: 'c/1', tunnels: [body] });
  });

  test('5xx is retried, 4xx is not; the error names the status and never the token', async () => {
    seen.length = 0;
    answer = () => new Response('down secret-token-value', { status: 503 });
    const e1 = (await client().register('c', body).catch((e) => e)) as TunnelRegistryError;
    expect(e1).toBeInstanceOf(TunnelRegistryError);
    expect(e1.status).toBe(503);
    expect(e1.message).not.toContain('secret-token-value');
    expect(seen).toHaveLength(3);
    seen.length = 0;
    answer = () => new Response('{"error":"invalid_tunnel"}', { status: 400 });
    const e2 = (await client().sync('c', [body]).catch((e) => e)) as TunnelRegistryError;
    expect(e2.message).toContain('HTTP 400');
    expect(seen).toHaveLength(1);
    // A deregister of a tunnel the registry does not have is done.
    answer = () => new Response('', { status: 404 });
    await client().deregister('c', 'gone');
  });
});
