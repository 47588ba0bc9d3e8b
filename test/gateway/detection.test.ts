// Cluster type / routing mode (§6.1) and ingress controller detection (§6.2): pure functions, then scenarios
// against the sandbox through IngressSync (what the startup bulk sync says).
import { afterEach, describe, expect, test } from 'bun:test';
import { classifyCluster, decideRouting, endpointFor, inCidrs, isPrivateAddress } from '../../src/gateway/cluster-detection.ts';
import { controllerPort, detectController } from '../../src/gateway/controller-detection.ts';
import type { KubeService } from '../../src/gateway/kube-shapes.ts';
import { waitFor } from '../support/wait.ts';
import { controllerSvc, type Env, makeEnv, service } from './support/harness.ts';

const svc = (ns: string, name: string, spec: KubeService['spec'], status?: KubeService['status'], labels?: Record<string, string>): KubeService => ({
  metadata: { namespace: ns, name, ...(labels ? { labels } : {}) },
  spec,
  ...(status ? { status } : {}),
});
const lookupOf = (list: KubeService[]) => (ns: string, name: string) => list.find((s) => s.metadata?.namespace === ns && s.metadata?.name === name);
const lb = (addr: { ip?: string; hostname?: string } | null) => ({ loadBalancer: { ingress: addr ? [addr] : [] } });

describe('private address ranges', () => {
  test.each([
    ['10.0.0.1', true],
    ['172.16.0.1', true],
    ['172.31.255.255', true],
    ['172.32.0.1', false],
    ['172.15.0.1', false],
    ['192.168.1.1', true],
    ['192.169.1.1', false],
    ['127.0.0.1', true],
    ['8.8.8.8', false],
    ['lb.example.com', false],
    ['fd00::1', false],
    ['10.0.0.256', false],
  ])('%s → private %p', (a, p) => expect(isPrivateAddress(a)).toBe(p));
});

describe('classification', () => {
  test('first existing candidate decides, in the §6.1 order', () => {
    const list = [svc('kube-system', 'traefik', { type: 'LoadBalancer' }, lb({ ip: '8.8.8.8' })), svc('ingress-nginx', 'ingress-nginx-controller', { type: 'NodePort' })];
    expect(classifyCluster(lookupOf(list)).kind).toBe('private');
  });
  test('hostname address counts as public', () => {
    expect(classifyCluster(lookupOf([svc('traefik', 'traefik', { type: 'LoadBalancer' }, lb({ hostname: 'a.elb.example.com' }))]))).toEqual({
      kind: 'public',
      address: 'a.elb.example.com',
      service: 'traefik/traefik',
    });
  });
  test('no address yet: pending until the wait expires, then private', () => {
    const l = lookupOf([svc('pipeops-system', 'traefik', { type: 'LoadBalancer' }, lb(null))]);
    expect(decideRouting({ forceTunnel: false, lookup: l, waitExpired: false })).toBeNull();
    expect(decideRouting({ forceTunnel: false, lookup: l, waitExpired: true })).toMatchObject({ isPrivate: true, routingMode: 'tunnel' });
  });
  test('force_tunnel_mode skips detection', () => {
    const l = lookupOf([svc('pipeops-system', 'traefik', { type: 'LoadBalancer' }, lb({ ip: '8.8.8.8' }))]);
    expect(decideRouting({ forceTunnel: true, lookup: l, waitExpired: false })).toMatchObject({ isPrivate: true, routingMode: 'tunnel', publicEndpoint: '' });
  });
  test('direct_cidrs: a private address inside them is reached directly; outside them it stays private', () => {
    const l = lookupOf([svc('pipeops-system', 'traefik', { type: 'LoadBalancer', ports: [{ name: 'lb', port: 31080 }] }, lb({ ip: '10.20.3.4' }))]);
    expect(decideRouting({ forceTunnel: false, lookup: l, waitExpired: false })).toMatchObject({ isPrivate: true, routingMode: 'tunnel', publicEndpoint: '' });
    expect(decideRouting({ forceTunnel: false, lookup: l, waitExpired: false, directCidrs: ['10.20.0.0/16'] })).toEqual({
      isPrivate: false,
      routingMode: 'direct',
      publicEndpoint: '10.20.3.4:31080',
      reason: 'pipeops-system/traefik has the address 10.20.3.4, inside tunnels.routing.direct_cidrs',
    });
    expect(decideRouting({ forceTunnel: false, lookup: l, waitExpired: false, directCidrs: ['10.21.0.0/16', '192.168.0.0/16'] })).toMatchObject({ routingMode: 'tunnel' });
    // force_tunnel_mode still wins.
    expect(decideRouting({ forceTunnel: true, lookup: l, waitExpired: false, directCidrs: ['10.0.0.0/8'] })).toMatchObject({ routingMode: 'tunnel' });
  });
  test.each([
    ['10.20.3.4', ['10.20.0.0/16'], true],
    ['10.21.0.1', ['10.20.0.0/16'], false],
    ['127.0.0.1', ['127.0.0.0/8'], true],
    ['192.168.7.9', ['192.168.7.9/32'], true],
    ['192.168.7.10', ['192.168.7.9/32'], false],
    ['8.8.8.8', ['0.0.0.0/0'], true],
    ['lb.example.com', ['0.0.0.0/0'], false],
    ['10.0.0.1', [], false],
  ] as const)('inCidrs(%s, %p) = %p', (a, c, want) => expect(inCidrs(a, c)).toBe(want));
  test('public endpoint port: 443 for https/websecure/443, else 80 for http/web/80, else the first port', () => {
    const e = (ports: { name?: string; port: number }[]) => endpointFor(svc('a', 'b', { type: 'LoadBalancer', ports }), '1.2.3.4');
    expect(e([{ name: 'web', port: 8000 }, { name: 'websecure', port: 8443 }])).toBe('1.2.3.4:443');
    expect(e([{ port: 443 }])).toBe('1.2.3.4:443');
    expect(e([{ name: 'http', port: 8080 }])).toBe('1.2.3.4:80');
    expect(e([{ name: 'metrics', port: 9100 }, { name: 'x', port: 81 }])).toBe('1.2.3.4:9100');
  });
});

describe('controller detection', () => {
  test('candidates in order; a candidate without an http(s) port does not qualify', () => {
    const list = [
      svc('pipeops-system', 'traefik', { ports: [{ name: 'metrics', port: 9100 }] }),
      svc('kube-system', 'rke2-ingress-nginx-controller', { ports: [{ name: 'https', port: 443 }] }),
      svc('traefik', 'traefik', { ports: [{ port: 80 }] }),
    ];
    expect(detectController(lookupOf(list), list)).toEqual({ namespace: 'kube-system', name: 'rke2-ingress-nginx-controller', port: 443, type: 'nginx' });
  });
  test('http port is preferred over https', () => {
    expect(controllerPort(svc('a', 'b', { ports: [{ name: 'websecure', port: 8443 }, { name: 'web', port: 8000 }] }))).toBe(8000);
  });
  test('label search when no candidate exists', () => {
    const list = [svc('default', 'edge', { ports: [{ name: 'http', port: 8080 }] }, undefined, { 'k8s-app': 'traefik-ingress-lb' }), svc('shop', 'x', { ports: [{ port: 80 }] }, undefined, { 'app.kubernetes.io/name': 'traefik' })];
    expect(detectController(lookupOf(list), list)).toEqual({ namespace: 'default', name: 'edge', port: 8080, type: 'unknown' });
  });
  test('none', () => {
    expect(detectController(() => undefined, [])).toBeNull();
  });
});

describe('scenarios against the sandbox (force_tunnel_mode off)', () => {
  let env: Env;
  afterEach(async () => {
    await env.close();
  });
  const firstSync = async (detectionWaitMs = 60_000) => {
    const s = env.start({ forceTunnel: false, detectionWaitMs });
    await env.settle(s);
    return { s, body: env.registry.calls[0]!.body as Record<string, unknown> };
  };

  test('no controller: private, tunnel, no ingress_controller', async () => {
    env = await makeEnv({ seedController: false });
    const { s, body } = await firstSync();
    expect(body.routing_mode).toBe('tunnel');
    expect(body.ingress_controller).toBeUndefined();
    expect(s.info()).toMatchObject({ isPrivate: true, routingMode: 'tunnel', ingressController: null });
  });

  test('NodePort controller: private, tunnel, routes point at it', async () => {
    env = await makeEnv();
    const { s, body } = await firstSync();
    expect(body).toMatchObject({ routing_mode: 'tunnel', ingress_controller: { namespace: 'pipeops-system', name: 'traefik', port: 80, type: 'traefik' } });
    expect(body.public_endpoint).toBeUndefined();
    expect(s.info().isPrivate).toBe(true);
  });

  test('LoadBalancer without address: waits (nothing sent), then private', async () => {
    env = await makeEnv({ seedController: false });
    env.sandbox.apply(controllerSvc('LoadBalancer', lb(null)));
    const s = env.start({ forceTunnel: false, detectionWaitMs: 300 });
    await waitFor(() => s.caches().services.size > 0, { what: 'services listed' });
    expect(env.registry.calls.length).toBe(0);
    expect(s.routing).toBeNull();
    await env.settle(s);
    expect(env.registry.calls[0]!.body).toMatchObject({ routing_mode: 'tunnel' });
    expect(s.info().isPrivate).toBe(true);
  });

  test('LoadBalancer gets a public address during the wait: direct', async () => {
    env = await makeEnv({ seedController: false });
    env.sandbox.apply(controllerSvc('LoadBalancer', lb(null)));
    const s = env.start({ forceTunnel: false, detectionWaitMs: 60_000 });
    await waitFor(() => s.caches().services.size > 0, { what: 'services listed' });
    env.sandbox.apply(controllerSvc('LoadBalancer', lb({ ip: '203.0.113.7' })));
    await env.settle(s);
    expect(env.registry.calls[0]!.body).toMatchObject({ routing_mode: 'direct', public_endpoint: '203.0.113.7:443' });
  });

  test('LoadBalancer with a private address: private', async () => {
    env = await makeEnv({ seedController: false });
    env.sandbox.apply(controllerSvc('LoadBalancer', lb({ ip: '192.168.10.5' })));
    const { s, body } = await firstSync();
    expect(body.routing_mode).toBe('tunnel');
    expect(s.info().isPrivate).toBe(true);
  });

  test('LoadBalancer with a public address: direct with public_endpoint (443 when websecure exists, else 80)', async () => {
    env = await makeEnv({ seedController: false });
    env.sandbox.apply(controllerSvc('LoadBalancer', lb({ ip: '203.0.113.7' })));
    const { s, body } = await firstSync();
    expect(body).toMatchObject({ routing_mode: 'direct', public_endpoint: '203.0.113.7:443' });
    expect(s.info()).toMatchObject({ isPrivate: false, routingMode: 'direct' });
    env.sandbox.apply(service('pipeops-system', 'traefik', { type: 'LoadBalancer', ports: [{ name: 'web', port: 8000 }] }, lb({ hostname: 'edge.example.com' })));
    await env.settle(s);
    // A changed routing decision re-syncs in bulk.
    expect(env.registry.calls.at(-1)!.body).toMatchObject({ routing_mode: 'direct', public_endpoint: 'edge.example.com:80', ingress_controller: { port: 8000 } });
  });
});
