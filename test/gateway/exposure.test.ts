// Exposure (issue 13 item 4): the agent keeps Istio Gateway + VirtualService and Gateway API Gateway +
// TCPRoute/UDPRoute from its configuration — config file, flags and env JSON all through the real loader —,
// with server-side apply and our field manager; changed and removed when the configuration changes; objects it does
// not own are never touched. Against the sandbox API server.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.ts';
import type { AgentConfig } from '../../src/config/schema.ts';
import { Exposure } from '../../src/gateway/exposure.ts';
import { decideEnvironment, desiredObjects } from '../../src/gateway/exposure-objects.ts';
import { KubeClient, type KubeObject } from '../../src/kube/client.ts';
import { type Sandbox, startSandbox } from '../../src/sandbox/index.ts';
import { AGENT_TOKEN, tempDir, testHub } from '../support/hub-agent.ts';
import { waitFor } from '../support/wait.ts';

const REQUIRED_ENV = { PIPEOPS_API_URL: 'https://api.example.test', PIPEOPS_TOKEN: 'tok_0123456789abcdefghij', PIPEOPS_CLUSTER_NAME: 'c1' };

function load(o: { argv?: string[]; env?: Record<string, string>; file?: string }) {
  return loadConfig({
    argv: [...(o.file ? ['--config', '/cfg.yaml'] : []), ...(o.argv ?? [])],
    env: { ...REQUIRED_ENV, ...(o.env ?? {}) },
    cwd: '/',
    home: '',
    searchPaths: [],
    readFile: (p) => (p === '/cfg.yaml' ? (o.file ?? null) : null),
  });
}

function config(o: Parameters<typeof load>[0]): AgentConfig {
  const r = load(o);
  if (!r.ok) throw new Error(r.message);
  return r.config;
}

let sandbox: Sandbox;
let kube: KubeClient;
beforeAll(async () => {
  sandbox = await startSandbox({ seed: 'minimal' });
  kube = new KubeClient({ server: sandbox.url, source: 'explicit' });
  sandbox.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'pipeops-system' } });
  sandbox.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'edge' } });
});
afterAll(async () => {
  await sandbox?.close();
});

const get = (resource: string, ns: string, name: string) => sandbox.get(resource, ns, name);
const spec = (o: KubeObject | undefined) => o?.spec as Record<string, unknown>;
const applies = () => sandbox.requests.filter((r) => r.method === 'PATCH' && r.contentType === 'application/apply-patch+yaml');

const FILE_GWAPI = `
gateway:
  enabled: true
  environment: { mode: single-vm, vm_ip: 192.0.2.10 }
  gateway_api:
    enabled: true
    gateway_class: istio
    listeners:
      - { name: tcp-redis, port: 6379, protocol: TCP }
      - { port: 5353, protocol: UDP }
    tcp_routes:
      - name: redis
        section_name: tcp-redis
        backend_refs: [{ name: redis, namespace: pipeops-system, port: 6379 }]
    udp_routes:
      - name: dns
        section_name: udp-5353
        backend_refs: [{ name: coredns, port: 53 }]
`;

describe('exposure objects', () => {
  test('from the config file: Gateway API Gateway (VM IP as address) + TCPRoute + UDPRoute, applied with our field manager', async () => {
    const cfg = config({ file: FILE_GWAPI });
    const before = applies().length;
    const r = await new Exposure({ kube, config: cfg.gateway }).reconcile();
    expect(r.failed).toEqual([]);
    expect(r.applied.sort()).toEqual([
      'gateway.networking.k8s.io/Gateway pipeops-system/pipeops-gateway',
      'gateway.networking.k8s.io/TCPRoute pipeops-system/redis',
      'gateway.networking.k8s.io/UDPRoute pipeops-system/dns',
    ]);
    const gw = get('gateways.gateway.networking.k8s.io', 'pipeops-system', 'pipeops-gateway');
    expect(spec(gw)).toEqual({
      gatewayClassName: 'istio',
      listeners: [
        { name: 'tcp-redis', port: 6379, protocol: 'TCP', allowedRoutes: { namespaces: { from: 'Same' } } },
        { name: 'udp-5353', port: 5353, protocol: 'UDP', allowedRoutes: { namespaces: { from: 'Same' } } },
      ],
      addresses: [{ type: 'IPAddress', value: '192.0.2.10' }],
    });
    expect((gw?.metadata as { labels?: unknown } | undefined)?.labels).toEqual({ 'app.kubernetes.io/managed-by': 'pipeops-agent', 'pipeops.io/component': 'exposure', 'pipeops.io/exposure': 'pipeops-gateway', 'pipeops.io/managed': 'true' });
    expect(spec(get('tcproutes', 'pipeops-system', 'redis'))).toEqual({
      parentRefs: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'pipeops-gateway', sectionName: 'tcp-redis' }],
      rules: [{ backendRefs: [{ name: 'redis', namespace: 'pipeops-system', port: 6379 }] }],
    });
    expect(spec(get('udproutes', 'pipeops-system', 'dns'))).toMatchObject({ parentRefs: [{ sectionName: 'udp-5353' }], rules: [{ backendRefs: [{ name: 'coredns', port: 53 }] }] });
    const sent = applies().slice(before);
    expect(sent).toHaveLength(3);
    for (const s of sent) expect(s.url).toContain('fieldManager=pipeops-agent');
    // A second pass changes nothing.
    const again = await new Exposure({ kube, config: cfg.gateway }).reconcile();
    expect(again.applied).toEqual([]);
    expect(again.unchanged).toHaveLength(3);
    expect(again.deleted).toEqual([]);
  });

  test('changed config: a route changed, one removed, the Gateway API switched off — removed; Istio from flags and env JSON', async () => {
    // Change: the TCP route points elsewhere and the UDP route is gone.
    const changed = config({
      file: FILE_GWAPI,
      env: {
        GATEWAY_GWAPI_TCP_ROUTES_JSON: '[{"name":"redis","sectionName":"tcp-redis","backendRefs":[{"name":"redis-v2","namespace":"pipeops-system","port":6380}]}]',
        GATEWAY_GWAPI_UDP_ROUTES_JSON: '[]',
      },
    });
    const r1 = await new Exposure({ kube, config: changed.gateway }).reconcile();
    expect(r1.failed).toEqual([]);
    expect(r1.applied).toEqual(['gateway.networking.k8s.io/TCPRoute pipeops-system/redis']);
    expect(r1.deleted).toEqual(['gateway.networking.k8s.io/UDPRoute pipeops-system/dns']);
    expect(spec(get('tcproutes', 'pipeops-system', 'redis'))).toMatchObject({ rules: [{ backendRefs: [{ name: 'redis-v2', port: 6380 }] }] });
    expect(get('udproutes', 'pipeops-system', 'dns')).toBeUndefined();

    // Istio from flags (and env JSON for the TLS routes); the Gateway API family is off now.
    const istio = config({
      argv: [
        '--gateway-enabled',
        '--gateway-istio-enabled',
        '--gateway-env-mode=managed',
        '--gateway-istio-servers-json=[{"port":{"number":5000,"name":"tcp-runner","protocol":"TCP"}},{"port":{"number":443,"name":"tls-app","protocol":"TLS"},"tls":{"mode":"PASSTHROUGH"},"hosts":["app.example.com"]}]',
        '--gateway-istio-tcp-routes-json=[{"name":"runner","port":5000,"destination":{"host":"runner.pipeops-system.svc.cluster.local","port":5000}}]',
      ],
      env: { GATEWAY_ISTIO_TLS_ROUTES_JSON: '[{"name":"app","port":443,"sniHosts":["app.example.com"],"destination":{"host":"app.default.svc.cluster.local","port":443}}]' },
    });
    const r2 = await new Exposure({ kube, config: istio.gateway }).reconcile();
    expect(r2.failed).toEqual([]);
    expect(r2.applied.sort()).toEqual(['networking.istio.io/Gateway pipeops-system/pipeops-gateway', 'networking.istio.io/VirtualService pipeops-system/pipeops-gateway']);
    expect(r2.deleted.sort()).toEqual(['gateway.networking.k8s.io/Gateway pipeops-system/pipeops-gateway', 'gateway.networking.k8s.io/TCPRoute pipeops-system/redis']);
    expect(spec(get('gateways.networking.istio.io', 'pipeops-system', 'pipeops-gateway'))).toEqual({
      selector: { istio: 'ingressgateway' },
      servers: [
        { port: { number: 5000, name: 'tcp-runner', protocol: 'TCP' }, hosts: ['*'] },
        { port: { number: 443, name: 'tls-app', protocol: 'TLS' }, hosts: ['app.example.com'], tls: { mode: 'PASSTHROUGH' } },
      ],
    });
    expect(spec(get('virtualservices', 'pipeops-system', 'pipeops-gateway'))).toEqual({
      hosts: ['*'],
      gateways: ['pipeops-system/pipeops-gateway'],
      tcp: [{ match: [{ port: 5000 }], route: [{ destination: { host: 'runner.pipeops-system.svc.cluster.local', port: { number: 5000 } } }] }],
      tls: [{ match: [{ port: 443, sniHosts: ['app.example.com'] }], route: [{ destination: { host: 'app.default.svc.cluster.local', port: { number: 443 } } }] }],
    });
    expect(get('gateways.gateway.networking.k8s.io', 'pipeops-system', 'pipeops-gateway')).toBeUndefined();

    // Every family switched off (exposure still enabled): everything of ours goes.
    const none = config({ argv: ['--gateway-enabled'] });
    const r3 = await new Exposure({ kube, config: none.gateway }).reconcile();
    expect(r3.deleted.sort()).toEqual(['networking.istio.io/Gateway pipeops-system/pipeops-gateway', 'networking.istio.io/VirtualService pipeops-system/pipeops-gateway']);
    expect(get('virtualservices', 'pipeops-system', 'pipeops-gateway')).toBeUndefined();
  });

  test('objects the agent does not own are never touched: same name refused, others not removed', async () => {
    const theirs: KubeObject = {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'Gateway',
      metadata: { namespace: 'pipeops-system', name: 'pipeops-gateway', labels: { team: 'edge' } },
      spec: { gatewayClassName: 'theirs', listeners: [{ name: 'x', port: 1, protocol: 'TCP' }] },
    };
    sandbox.apply(theirs);
    // Labelled as managed by us but not as exposure (another component): not ours to prune either.
    sandbox.apply({
      apiVersion: 'gateway.networking.k8s.io/v1alpha2',
      kind: 'TCPRoute',
      metadata: { namespace: 'edge', name: 'other', labels: { 'app.kubernetes.io/managed-by': 'pipeops-agent' } },
      spec: { parentRefs: [{ name: 'x' }], rules: [] },
    });
    const before = JSON.stringify(get('gateways.gateway.networking.k8s.io', 'pipeops-system', 'pipeops-gateway'));
    const cfg = config({ file: FILE_GWAPI });
    const updates: { name: string; value?: number; labels?: Record<string, string> }[] = [];
    const r = await new Exposure({ kube, config: cfg.gateway, metric: (u) => updates.push(u) }).reconcile();
    const gauge = Object.fromEntries(updates.filter((u) => u.name === 'gateway_exposure_objects').map((u) => [u.labels?.state, u.value]));
    expect(gauge).toEqual({ applied: 2, unchanged: 0, refused: 1, failed: 0 });
    expect(r.refused).toEqual([{ object: 'gateway.networking.k8s.io/Gateway pipeops-system/pipeops-gateway', reason: expect.stringContaining('not touched') }]);
    expect(JSON.stringify(get('gateways.gateway.networking.k8s.io', 'pipeops-system', 'pipeops-gateway'))).toBe(before);
    // The routes are ours and applied.
    expect(r.applied.sort()).toEqual(['gateway.networking.k8s.io/TCPRoute pipeops-system/redis', 'gateway.networking.k8s.io/UDPRoute pipeops-system/dns']);
    const off = await new Exposure({ kube, config: config({ argv: ['--gateway-enabled'] }).gateway }).reconcile();
    expect(off.deleted.sort()).toEqual(['gateway.networking.k8s.io/TCPRoute pipeops-system/redis', 'gateway.networking.k8s.io/UDPRoute pipeops-system/dns']);
    expect(JSON.stringify(get('gateways.gateway.networking.k8s.io', 'pipeops-system', 'pipeops-gateway'))).toBe(before);
    expect(get('tcproutes', 'edge', 'other')).toBeDefined();
  });

  test('a missing namespace and an unserved kind are reported per object, nothing else fails', async () => {
    const cfg = config({ file: FILE_GWAPI, argv: ['--gateway-namespace=nowhere'] });
    const r = await new Exposure({ kube, config: cfg.gateway }).reconcile();
    expect(r.applied).toEqual([]);
    expect(r.failed.map((f) => f.error)).toEqual(Array(3).fill('namespace nowhere does not exist (gateway.namespace)'));
    // An API server that does not serve UDPRoutes (404 for the whole kind, as without the CRD).
    class NoUdpRoutes extends KubeClient {
      override request(path: string, init?: Parameters<KubeClient['request']>[1]): Promise<Response> {
        if (path.includes('/udproutes')) return Promise.resolve(Response.json({ kind: 'Status', status: 'Failure', reason: 'NotFound', code: 404, message: 'the server could not find the requested resource' }, { status: 404 }));
        return super.request(path, init);
      }
    }
    const r2 = await new Exposure({ kube: new NoUdpRoutes({ server: sandbox.url, source: 'explicit' }), config: config({ file: FILE_GWAPI }).gateway }).reconcile();
    expect(r2.failed).toEqual([{ object: 'gateway.networking.k8s.io/UDPRoute pipeops-system/dns', error: expect.stringContaining('does not serve gateway.networking.k8s.io/v1alpha2 udproutes') }]);
    // The TCPRoute is applied; the Gateway of that name is still the foreign one of the test above.
    expect([...r2.applied, ...r2.unchanged]).toEqual(['gateway.networking.k8s.io/TCPRoute pipeops-system/redis']);
    expect(r2.refused.map((x) => x.object)).toEqual(['gateway.networking.k8s.io/Gateway pipeops-system/pipeops-gateway']);
  });

  test('disabled: no request at all', async () => {
    const n = sandbox.requests.length;
    const r = await new Exposure({ kube, config: config({}).gateway }).reconcile();
    expect(r).toMatchObject({ environment: null, applied: [], deleted: [] });
    expect(sandbox.requests.length).toBe(n);
  });
});

describe('exposure environment', () => {
  const node = (kubeletVersion: string, addresses: { type: string; address: string }[]) => ({ kubeletVersion, addresses });
  const g = (mode: string, vm_ip = '') => config({ argv: ['--gateway-enabled', `--gateway-env-mode=${mode}`, `--gateway-env-vm-ip=${vm_ip}`] }).gateway;
  test('empty mode detects: one node or k3s is single-vm with the node\'s ExternalIP, else InternalIP; several nodes are managed', () => {
    const ext = node('v1.31.0', [{ type: 'InternalIP', address: '10.0.0.4' }, { type: 'ExternalIP', address: '198.51.100.4' }]);
    expect(decideEnvironment(g(''), [ext])).toEqual({ mode: 'single-vm', vmIp: '198.51.100.4', detected: true });
    expect(decideEnvironment(g(''), [node('v1.31.0+k3s1', [{ type: 'InternalIP', address: '10.0.0.5' }]), ext])).toEqual({ mode: 'single-vm', vmIp: '10.0.0.5', detected: true });
    expect(decideEnvironment(g(''), [ext, ext])).toEqual({ mode: 'managed', vmIp: '', detected: true });
    expect(decideEnvironment(g('managed'), [ext])).toEqual({ mode: 'managed', vmIp: '', detected: false });
    expect(decideEnvironment(g('single-vm', '192.0.2.1'), [ext])).toEqual({ mode: 'single-vm', vmIp: '192.0.2.1', detected: false });
  });
  test('managed mode: the Gateway has no address', () => {
    const cfg = config({ file: FILE_GWAPI, argv: ['--gateway-env-mode=managed'] });
    const gw = desiredObjects(cfg.gateway, { mode: 'managed', vmIp: '' })[0]!;
    expect((gw.body.spec as Record<string, unknown>).addresses).toBeUndefined();
  });
});

describe('exposure config errors name the key and the source', () => {
  const errs = (o: Parameters<typeof load>[0]) => {
    const r = load(o);
    if (r.ok) throw new Error('expected a config error');
    return r.errors.map((e) => ({ key: e.key, source: e.source.name, message: e.message }));
  };
  test('malformed JSON in a flag and in env', () => {
    expect(errs({ argv: ['--gateway-gwapi-listeners-json=[{"name":'] })).toEqual([
      { key: 'gateway.gateway_api.listeners', source: '--gateway-gwapi-listeners-json', message: expect.stringContaining('invalid JSON') },
    ]);
    expect(errs({ env: { GATEWAY_ISTIO_TLS_ROUTES_JSON: '{not json' } })).toEqual([
      { key: 'gateway.istio.virtual_service.tls_routes', source: 'GATEWAY_ISTIO_TLS_ROUTES_JSON', message: expect.stringContaining('invalid JSON') },
    ]);
    expect(errs({ env: { GATEWAY_GWAPI_TCP_ROUTES_JSON: '{"name":"x"}' } })).toEqual([
      { key: 'gateway.gateway_api.tcp_routes', source: 'GATEWAY_GWAPI_TCP_ROUTES_JSON', message: expect.stringContaining('array') },
    ]);
  });
  test('cross-references: listeners required, section names, protocols, TLS sni hosts, mode, VM IP', () => {
    expect(errs({ argv: ['--gateway-enabled', '--gateway-gwapi-enabled'] })).toEqual([
      { key: 'gateway.gateway_api.listeners', source: '--gateway-gwapi-enabled', message: expect.stringContaining('at least one listener') },
    ]);
    const e = errs({
      argv: [
        '--gateway-enabled',
        '--gateway-gwapi-enabled',
        '--gateway-gwapi-listeners-json=[{"name":"tcp-a","port":5000},{"name":"udp-b","port":6000,"protocol":"UDP"},{"name":"tcp-a","port":5001}]',
        '--gateway-gwapi-tcp-routes-json=[{"name":"r1","sectionName":"udp-b","backendRefs":[{"name":"s","port":1}]},{"name":"r2","sectionName":"nope","backendRefs":[{"name":"s","port":1}]},{"name":"r3","sectionName":"tcp-a","backendRefs":[]}]',
        '--gateway-env-mode=single-box',
      ],
      env: { GATEWAY_ENVIRONMENT_VM_IP: 'not-an-ip', GATEWAY_ISTIO_ENABLED: 'true', GATEWAY_ISTIO_SERVERS_JSON: '[{"port":{"number":1,"name":"a"}}]', GATEWAY_ISTIO_TLS_ROUTES_JSON: '[{"name":"t","destination":{"host":"h","port":1}}]' },
    });
    expect(e).toEqual(
      expect.arrayContaining([
        { key: 'gateway.gateway_api.listeners[2].name', source: '--gateway-gwapi-listeners-json', message: expect.stringContaining('used twice') },
        { key: 'gateway.gateway_api.tcp_routes[0].section_name', source: '--gateway-gwapi-tcp-routes-json', message: expect.stringContaining('is UDP') },
        { key: 'gateway.gateway_api.tcp_routes[1].section_name', source: '--gateway-gwapi-tcp-routes-json', message: expect.stringContaining('no listener named "nope"') },
        { key: 'gateway.gateway_api.tcp_routes[2].backend_refs', source: '--gateway-gwapi-tcp-routes-json', message: expect.stringContaining('at least one') },
        { key: 'gateway.environment.mode', source: '--gateway-env-mode', message: expect.stringContaining('managed or single-vm') },
        { key: 'gateway.environment.vm_ip', source: 'GATEWAY_ENVIRONMENT_VM_IP', message: expect.stringContaining('IPv4') },
        { key: 'gateway.istio.virtual_service.tls_routes[0].sni_hosts', source: 'GATEWAY_ISTIO_TLS_ROUTES_JSON', message: expect.stringContaining('sni_hosts') },
      ]),
    );
    expect(e).toHaveLength(7);
  });
  test('without gateway.enabled the cross-references are not checked (the block has no effect)', () => {
    expect(load({ argv: ['--gateway-gwapi-enabled'] }).ok).toBe(true);
  });
});

describe('exposure through the agent command line', () => {
  const CLI = join(import.meta.dir, '../../src/cli.ts');
  const run = (args: string[], env: Record<string, string> = {}) =>
    Bun.spawn([process.execPath, CLI, 'agent', ...args], { env: { PATH: process.env.PATH ?? '', HOME: tempDir(), ...REQUIRED_ENV, ...env }, stdout: 'pipe', stderr: 'pipe' });

  test('malformed JSON in a flag or in env: exit 2, naming the key and the source', async () => {
    for (const [args, env, source] of [
      [['--gateway-enabled', '--gateway-gwapi-enabled', '--gateway-gwapi-listeners-json=[{"name":'], {}, '--gateway-gwapi-listeners-json'],
      [['--gateway-enabled'], { GATEWAY_ISTIO_TCP_ROUTES_JSON: '[{"name": }]' }, 'GATEWAY_ISTIO_TCP_ROUTES_JSON'],
    ] as const) {
      const p = run([...args], { ...env });
      const [code, err] = await Promise.all([p.exited, new Response(p.stderr).text()]);
      expect({ code, source, named: err.includes(source), key: /gateway\.(gateway_api\.listeners|istio\.virtual_service\.tcp_routes)/.test(err) }).toEqual({ code: 2, source, named: true, key: true });
    }
  });

  test('the running agent applies what its flags and env JSON say', async () => {
    const hub = await testHub();
    const dir = tempDir();
    const kubeconfig = join(dir, 'kubeconfig');
    await sandbox.writeKubeconfig(kubeconfig);
    sandbox.remove('gateways.gateway.networking.k8s.io', 'pipeops-system', 'pipeops-gateway');
    const p = run(
      [
        `--kubeconfig=${kubeconfig}`,
        '--port=0',
        '--gateway-enabled',
        '--gateway-gwapi-enabled',
        '--gateway-gwapi-gateway-class=cli-class',
        '--gateway-env-mode=single-vm',
        '--gateway-env-vm-ip=192.0.2.44',
        '--gateway-gwapi-listeners-json=[{"name":"tcp-runner","port":5000,"protocol":"TCP"}]',
      ],
      {
        PIPEOPS_API_URL: hub.url,
        PIPEOPS_TOKEN: AGENT_TOKEN,
        GATEWAY_GWAPI_TCP_ROUTES_JSON: '[{"name":"runner","sectionName":"tcp-runner","backendRefs":[{"name":"runner","namespace":"pipeops-system","port":5000}]}]',
      },
    );
    try {
      const gw = await waitFor(() => get('gateways.gateway.networking.k8s.io', 'pipeops-system', 'pipeops-gateway'), { what: 'the Gateway from flags', timeoutMs: 20_000 });
      expect(spec(gw)).toMatchObject({ gatewayClassName: 'cli-class', addresses: [{ type: 'IPAddress', value: '192.0.2.44' }], listeners: [{ name: 'tcp-runner', port: 5000, protocol: 'TCP' }] });
      const rt = await waitFor(() => get('tcproutes', 'pipeops-system', 'runner'), { what: 'the TCPRoute from env JSON' });
      expect(spec(rt)).toMatchObject({ parentRefs: [{ name: 'pipeops-gateway', sectionName: 'tcp-runner' }], rules: [{ backendRefs: [{ name: 'runner', namespace: 'pipeops-system', port: 5000 }] }] });
    } finally {
      p.kill('SIGTERM');
      await p.exited;
      await hub.stop();
    }
  }, 60_000);
});
