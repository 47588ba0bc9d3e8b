// §6.3/§6.4 route extraction and the bodies built from it (pure).
import { describe, expect, test } from 'bun:test';
import type { KubeIngress, KubeService } from '../../src/gateway/kube-shapes.ts';
import { isManaged } from '../../src/gateway/managed.ts';
import { registerBody, syncBody } from '../../src/gateway/route-payloads.ts';
import { extractRoutes, referencedServices } from '../../src/gateway/route-extraction.ts';
import { RegisterRouteSchema, SyncRoutesSchema } from '../../src/protocol/route-registry-messages.ts';

const services: KubeService[] = [
  { metadata: { namespace: 'app', name: 'web' }, spec: { type: 'ClusterIP', ports: [{ name: 'http', port: 8080 }] } },
  { metadata: { namespace: 'app', name: 'lb' }, spec: { type: 'LoadBalancer', ports: [{ port: 80 }] } },
  { metadata: { namespace: 'app', name: 'ext' }, spec: { type: 'ExternalName', ports: [{ port: 80 }] } },
  { metadata: { namespace: 'default', name: 'kubernetes' }, spec: { type: 'ClusterIP', ports: [{ name: 'https', port: 443 }] } },
  { metadata: { namespace: 'kube-system', name: 'dash' }, spec: { type: 'ClusterIP', ports: [{ port: 80 }] } },
];
const lookup = (ns: string, name: string) => services.find((s) => s.metadata?.namespace === ns && s.metadata?.name === name);
const path = (service: string, port: { number?: number; name?: string }, p: Record<string, string> = {}) => ({ ...p, backend: { service: { name: service, port } } });
const ing = (namespace: string, paths: ReturnType<typeof path>[], extra: Partial<KubeIngress> = {}, host = 'shop.example.com'): KubeIngress => ({
  metadata: { namespace, name: 'shop', annotations: { a: '1' } },
  spec: { rules: [{ host, http: { paths } }] },
  ...extra,
});

describe('extractRoutes', () => {
  test('port by number or by name; Prefix by default; whole-ingress tls', () => {
    const r = extractRoutes(ing('app', [path('web', { number: 8080 }), path('web', { name: 'http' }, { path: '/x', pathType: 'Exact' })], { spec: { tls: [{}], rules: [{ host: 'shop.example.com', http: { paths: [path('web', { number: 8080 }), path('web', { name: 'http' }, { path: '/x', pathType: 'Exact' })] } }] } }), lookup);
    expect(r.routes.map((x) => [x.path, x.pathType, x.backend.port, x.tls])).toEqual([
      ['', 'Prefix', 8080, true],
      ['/x', 'Exact', 8080, true],
    ]);
  });
  test.each([
    ['port 0', 'app', path('web', { number: 0 })],
    ['unknown port name', 'app', path('web', { name: 'grpc' })],
    ['missing Service', 'app', path('nope', { number: 80 })],
    ['LoadBalancer backend', 'app', path('lb', { number: 80 })],
    ['ExternalName backend', 'app', path('ext', { number: 80 })],
    ['default/kubernetes', 'default', path('kubernetes', { number: 443 })],
    ['kube-system', 'kube-system', path('dash', { number: 80 })],
  ])('skips %s', (_why, ns, p) => {
    const r = extractRoutes(ing(ns, [p]), lookup);
    expect(r.routes).toEqual([]);
    expect(r.httpHosts).toEqual(['shop.example.com']);
  });
  test('deployment id/name (§6.4)', () => {
    const base = ing('app', [path('web', { number: 8080 })]);
    const withAnn = (a: Record<string, string>) => extractRoutes({ ...base, metadata: { ...base.metadata, annotations: a } }, lookup).routes[0]!;
    expect(withAnn({ 'pipeops.io/deployment-id': 'd1', 'pipeops.io/deployment-name': 'n1' })).toMatchObject({ deploymentId: 'd1', deploymentName: 'n1' });
    expect(withAnn({ 'pipeops.io/environment': 'prod', 'pipeops.io/owner': 'alice' })).toMatchObject({ deploymentId: 'prod:alice', deploymentName: 'alice' });
    expect(withAnn({ 'pipeops.io/environment': 'prod' })).toMatchObject({ deploymentId: '', deploymentName: 'shop' });
  });
  test('referenced services', () => {
    expect(referencedServices(ing('app', [path('web', { number: 1 }), path('lb', { number: 1 }), path('web', { name: 'x' })]))).toEqual(['app/web', 'app/lb']);
  });
  test('managed: label or annotation, or scope all', () => {
    expect(isManaged({ metadata: { labels: { 'pipeops.io/managed': 'true' } } }, 'managed')).toBe(true);
    expect(isManaged({ metadata: { annotations: { 'pipeops.io/managed-by': 'pipeops' } } }, 'managed')).toBe(true);
    expect(isManaged({ metadata: { labels: { 'pipeops.io/managed': 'false' } } }, 'managed')).toBe(false);
    expect(isManaged({ metadata: {} }, 'all')).toBe(true);
  });
});

describe('bodies', () => {
  const target = { clusterId: 'c1', controller: { namespace: 'pipeops-system', name: 'traefik', port: 80, type: 'traefik' as const }, routing: { isPrivate: false, routingMode: 'direct' as const, publicEndpoint: '1.2.3.4:443', reason: '' } };
  test('register points at the controller and validates against the wire schema', () => {
    const r = extractRoutes(ing('app', [path('web', { number: 8080 })]), lookup).routes[0]!;
    const b = registerBody(r, target);
    expect(RegisterRouteSchema.strict().parse(b)).toEqual(b);
    expect(b).toMatchObject({ namespace: 'pipeops-system', service_name: 'traefik', service_port: 80, public_endpoint: '1.2.3.4:443', routing_mode: 'direct', annotations: { a: '1' } });
  });
  test('without a controller the route keeps its backend', () => {
    const r = extractRoutes(ing('app', [path('web', { number: 8080 })]), lookup).routes[0]!;
    expect(registerBody(r, { ...target, controller: null })).toMatchObject({ namespace: 'app', service_name: 'web', service_port: 8080 });
  });
  test('sync lists an Ingress whose paths were all filtered, and no deployment fields', () => {
    const a = extractRoutes(ing('app', [path('lb', { number: 80 })]), lookup);
    const b = syncBody([a], target);
    expect(SyncRoutesSchema.strict().parse(b)).toEqual(b);
    expect(b.ingresses).toEqual([{ namespace: 'app', ingress_name: 'shop', annotations: { a: '1' }, rules: [{ host: 'shop.example.com', tls: false, paths: [] }] }]);
    expect(JSON.stringify(syncBody([], target))).toBe(
      '{"cluster_uuid":"c1","public_endpoint":"1.2.3.4:443","routing_mode":"direct","ingress_controller":{"name":"traefik","namespace":"pipeops-system","port":80,"type":"traefik"},"ingresses":[]}',
    );
  });
});
