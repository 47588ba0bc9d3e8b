// The routing decision of a proxy_request (protocol.md §3.4), rule by rule: 1 Host fallback to the ingress
// controller, 2 upgrades (kubectl stream or app WebSocket), 3 explicit Service, 4 default to the ingress controller
// for non-API paths, 5 the Kubernetes API; and the validation in front of them.
import { describe, expect, test } from 'bun:test';
import fc from 'fast-check';
import type { RouteHint } from '../../src/threads/messages.ts';
import type { HeaderMap } from '../../src/protocol/http-headers.ts';
import { decideRoute, isKubernetesPath, type RoutingContext, type RoutingRequest, validatePath, validName } from '../../src/tunnel/routing.ts';

const ingress = { namespace: 'ingress-nginx', name: 'ingress-nginx-controller', port: 80 };
const hint: RouteHint = { host: 'app.example.com', namespace: 'shop', service: 'web', port: 8080 };
const ctx = (o: Partial<RoutingContext> = {}): RoutingContext => ({ routes: new Map([[hint.host, hint]]), ingressController: ingress, ...o });
const req = (o: Partial<RoutingRequest> = {}): RoutingRequest => ({ path: '/', headers: {}, serviceName: '', namespace: '', servicePort: 0, scheme: '', isWebSocket: false, ...o });
const explicit = { serviceName: 'api', namespace: 'prod', servicePort: 9000 };

describe('rule 1: Host fallback', () => {
  test('a known Host goes to the ingress controller (via host), also with a port, also from X-Forwarded-Host', () => {
    for (const headers of [{ Host: ['app.example.com'] }, { host: ['app.example.com:443'] }, { 'X-Forwarded-Host': ['app.example.com'] }] as HeaderMap[])
      expect(decideRoute(req({ path: '/cart', headers }), ctx())).toEqual({ kind: 'service', service: ingress, path: '/cart', https: false, via: 'host' });
  });

  test('without a known ingress controller the route\'s own Service is the target', () => {
    expect(decideRoute(req({ headers: { Host: ['app.example.com'] } }), ctx({ ingressController: null }))).toMatchObject({ kind: 'service', service: { namespace: 'shop', name: 'web', port: 8080 }, via: 'host' });
  });

  test('the fallback wins over the API path rule: a known host asking /api/x is still the app', () => {
    expect(decideRoute(req({ path: '/api/x', headers: { Host: ['app.example.com'] } }), ctx())).toMatchObject({ kind: 'service', via: 'host' });
  });

  test('an unknown Host changes nothing; a request naming a service_name skips the lookup', () => {
    expect(decideRoute(req({ path: '/version', headers: { Host: ['other'] } }), ctx())).toEqual({ kind: 'kubernetes', path: '/version' });
    expect(decideRoute(req({ ...explicit, headers: { Host: ['app.example.com'] } }), ctx())).toMatchObject({ kind: 'service', via: 'explicit', service: { name: 'api' } });
  });
});

describe('rule 2: upgrades', () => {
  test('an API path without full service info is a kubectl stream; the upgrade is seen in is_websocket or in headers', () => {
    const upgrades: Partial<RoutingRequest>[] = [
      { isWebSocket: true },
      { headers: { Upgrade: ['WebSocket'] } },
      { headers: { 'Sec-WebSocket-Key': ['k'] } },
      { headers: { 'sec-websocket-version': ['13'] } },
      { headers: { 'Sec-WebSocket-Protocol': ['v5.channel.k8s.io'] } },
    ];
    for (const u of upgrades) expect(decideRoute(req({ path: '/api/v1/namespaces/d/pods/p/exec', ...u }), ctx()), JSON.stringify(u)).toEqual({ kind: 'kube-stream', path: '/api/v1/namespaces/d/pods/p/exec' });
    expect(decideRoute(req({ path: '/apis/x', isWebSocket: true, serviceName: 'only-name' }), ctx())).toMatchObject({ kind: 'kube-stream' });
  });

  test('a blank Sec-WebSocket-Key is not an upgrade', () => {
    expect(decideRoute(req({ path: '/version', headers: { 'Sec-WebSocket-Key': ['  '] } }), ctx())).toEqual({ kind: 'kubernetes', path: '/version' });
  });

  test('other upgrades go to an app WebSocket: explicit service ▸ Host route ▸ ingress controller; none is an error', () => {
    expect(decideRoute(req({ path: '/api/ws', isWebSocket: true, ...explicit, scheme: 'HTTPS' }), ctx())).toEqual({ kind: 'app-websocket', service: { namespace: 'prod', name: 'api', port: 9000 }, path: '/api/ws', https: true });
    expect(decideRoute(req({ path: '/ws', isWebSocket: true, headers: { Host: ['app.example.com'] } }), ctx({ ingressController: null }))).toMatchObject({ kind: 'app-websocket', service: { name: 'web' } });
    expect(decideRoute(req({ path: '/ws', isWebSocket: true }), ctx())).toMatchObject({ kind: 'app-websocket', service: ingress });
    expect(decideRoute(req({ path: '/ws', isWebSocket: true }), ctx({ ingressController: null }))).toEqual({ kind: 'error', error: 'missing service routing information for WebSocket' });
  });
});

describe('rule 3: explicit Service', () => {
  test('service_name, namespace and service_port > 0 route to that Service, scheme https kept', () => {
    expect(decideRoute(req({ path: '/x', ...explicit, scheme: 'https' }), ctx())).toEqual({ kind: 'service', service: { namespace: 'prod', name: 'api', port: 9000 }, path: '/x', https: true, via: 'explicit' });
  });

  test('a partial service is an error, not the Kubernetes API', () => {
    for (const partial of [{ serviceName: 'api' }, { namespace: 'prod' }, { servicePort: 80 }, { serviceName: 'api', namespace: 'prod' }])
      expect(decideRoute(req({ path: '/x', ...partial }), ctx()), JSON.stringify(partial)).toEqual({ kind: 'error', error: 'service_name, namespace and service_port must all be set for a service request' });
  });

  test('names are validated (1–253 of [a-z0-9-], no leading or trailing dash), ports 1–65535', () => {
    expect(decideRoute(req({ ...explicit, serviceName: 'Bad_Name' }), ctx())).toEqual({ kind: 'error', error: 'invalid service name "Bad_Name"' });
    expect(decideRoute(req({ ...explicit, namespace: '-x' }), ctx())).toEqual({ kind: 'error', error: 'invalid namespace "-x"' });
    expect(decideRoute(req({ ...explicit, servicePort: 70000 }), ctx())).toEqual({ kind: 'error', error: 'invalid service port 70000' });
    expect(validName('a'.repeat(253))).toBe(true);
    expect(validName('a'.repeat(254))).toBe(false);
    expect(validName('a-b-1')).toBe(true);
    expect(validName('b-')).toBe(false);
  });
});

describe('rules 4 and 5: ingress by default, else the Kubernetes API', () => {
  test('a non-API path goes to the ingress controller when one is known, else to the Kubernetes API', () => {
    expect(decideRoute(req({ path: '/shop' }), ctx())).toEqual({ kind: 'service', service: ingress, path: '/shop', https: false, via: 'ingress' });
    expect(decideRoute(req({ path: '/shop' }), ctx({ ingressController: null }))).toEqual({ kind: 'kubernetes', path: '/shop' });
  });

  test('API paths go to the Kubernetes API; an empty path is /; a relative one gets its slash', () => {
    for (const p of ['/api', '/apis', '/api/v1/pods', '/apis/apps/v1', '/healthz', '/readyz', '/livez', '/version', '/openapi/v2'])
      expect(decideRoute(req({ path: p }), ctx()), p).toEqual({ kind: 'kubernetes', path: p });
    expect(decideRoute(req({ path: '' }), ctx({ ingressController: null }))).toEqual({ kind: 'kubernetes', path: '/' });
    expect(decideRoute(req({ path: 'version' }), ctx())).toEqual({ kind: 'kubernetes', path: '/version' });
    expect(isKubernetesPath('/apiary')).toBe(false);
    expect(isKubernetesPath('/api')).toBe(true);
  });
});

describe('path validation (before every rule)', () => {
  test('dot-dot segments (also percent-encoded), schemes, control characters, backslashes and bad escapes are refused', () => {
    const bad: Record<string, string> = {
      '/a/../b': 'path must not contain .. segments',
      '/a/%2e%2e/b': 'path must not contain .. segments',
      '/x?u=http://h': 'path must not contain a scheme',
      '/a\r\nb': 'path contains a control character or backslash',
      '/a\\b': 'path contains a control character or backslash',
      '/%zz': 'path has invalid percent-encoding',
    };
    for (const [p, why] of Object.entries(bad)) {
      expect(validatePath(p), p).toBe(why);
      expect(decideRoute(req({ path: p, ...explicit }), ctx()), p).toEqual({ kind: 'error', error: `invalid path: ${why}` });
    }
    expect(validatePath('/a..b/c')).toBeNull();
  });

  test('property: every decision is one of the five kinds, never a throw, and a routed path is valid', () => {
    const path = fc.oneof(fc.constantFrom('', '/', '/api/v1/x', '/apis', '/version', '/shop', '/a/../b', '/%', 'rel'), fc.string({ maxLength: 20 }));
    const headerName = fc.constantFrom('Host', 'host', 'X-Forwarded-Host', 'Upgrade', 'Sec-WebSocket-Key', 'Accept');
    const r = fc.record({
      path,
      headers: fc.dictionary(headerName, fc.array(fc.constantFrom('app.example.com', 'app.example.com:80', 'websocket', '', 'x'), { maxLength: 2 }), { maxKeys: 3 }),
      serviceName: fc.constantFrom('', 'api', 'Bad'),
      namespace: fc.constantFrom('', 'prod'),
      servicePort: fc.constantFrom(0, 80, 70000),
      scheme: fc.constantFrom('', 'https', 'http'),
      isWebSocket: fc.boolean(),
    });
    fc.assert(
      fc.property(r, fc.boolean(), (rq, withIngress) => {
        const d = decideRoute(rq, ctx({ ingressController: withIngress ? ingress : null }));
        expect(['kubernetes', 'service', 'kube-stream', 'app-websocket', 'error']).toContain(d.kind);
        if (d.kind !== 'error') expect(validatePath(d.path)).toBeNull();
      }),
      { seed: 17, numRuns: 500 },
    );
  });
});

describe('upgrade detection (one pass over the headers)', () => {
  // The four lookups it replaced: each name's first value under its first spelling with values.
  const first = (h: HeaderMap, name: string) => {
    for (const k in h) if (k.toLowerCase() === name && h[k]!.length) return h[k]![0];
    return undefined;
  };
  const reference = (h: HeaderMap) =>
    first(h, 'upgrade')?.toLowerCase() === 'websocket' || ['sec-websocket-key', 'sec-websocket-version', 'sec-websocket-protocol'].some((n) => (first(h, n) ?? '').trim() !== '');

  test('a /api/ path is a kubectl stream exactly when the headers announce a WebSocket', () => {
    const names = fc.constantFrom('Upgrade', 'upgrade', 'UPGRADE', 'Sec-WebSocket-Key', 'sec-websocket-key', 'Sec-WebSocket-Version', 'Sec-WebSocket-Protocol', 'sec-websocket-protocol', 'Accept', 'Connection', 'X-Upgrade');
    const values = fc.array(fc.constantFrom('websocket', 'WebSocket', 'h2c', '', '  ', '13', 'abc=='), { maxLength: 2 });
    fc.assert(
      fc.property(fc.array(fc.tuple(names, values), { maxLength: 6 }), (ps) => {
        const headers: HeaderMap = {};
        for (const [k, vs] of ps) headers[k] = vs;
        const kind = decideRoute(req({ path: '/api/v1/pods', headers }), ctx({ routes: new Map() })).kind;
        expect(kind === 'kube-stream').toBe(reference(headers));
      }),
      { numRuns: 500 },
    );
  });
});
