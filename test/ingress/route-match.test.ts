import { describe, expect, test } from 'bun:test';
import fc from 'fast-check';
import { hostMatchRank, type MatchCandidate, normaliseRequestHost, pathMatchLength, RouteTable, selectRoute } from '../../src/ingress/route-match.ts';
import { checkHostname, checkPath } from '../../src/hub/routes/route-validation.ts';

const r = (host: string, path: string, pathType: MatchCandidate['pathType'] = 'Prefix', source: MatchCandidate['source'] = 'registry', id = `${host}${path}`) => ({
  host,
  path,
  pathType,
  source,
  id,
});

describe('path matching', () => {
  test('Prefix uses segment semantics', () => {
    expect(pathMatchLength('/foo', 'Prefix', '/foo')).toBeGreaterThan(0);
    expect(pathMatchLength('/foo', 'Prefix', '/foo/')).toBeGreaterThan(0);
    expect(pathMatchLength('/foo', 'Prefix', '/foo/bar')).toBeGreaterThan(0);
    expect(pathMatchLength('/foo', 'Prefix', '/foobar')).toBe(-1);
    expect(pathMatchLength('/foo/', 'Prefix', '/foo')).toBeGreaterThan(0); // trailing slash of the route ignored
    expect(pathMatchLength('/foo/', 'Prefix', '/foobar')).toBe(-1);
    expect(pathMatchLength('/', 'Prefix', '/anything/at/all')).toBe(1);
    expect(pathMatchLength('', 'Prefix', '/x')).toBe(1);
  });
  test('Exact matches only the same path; ImplementationSpecific is Prefix', () => {
    expect(pathMatchLength('/foo', 'Exact', '/foo')).toBe(4);
    expect(pathMatchLength('/foo', 'Exact', '/foo/')).toBe(-1);
    expect(pathMatchLength('/foo', 'Exact', '/foo/bar')).toBe(-1);
    expect(pathMatchLength('/foo', 'ImplementationSpecific', '/foo/bar')).toBe(4);
    expect(pathMatchLength('/foo', 'ImplementationSpecific', '/foobar')).toBe(-1);
  });
  test('hosts: exact, one-label wildcard, any; Host header normalised', () => {
    expect(hostMatchRank('a.example.com', 'a.example.com')).toBe(3);
    expect(hostMatchRank('*.example.com', 'a.example.com')).toBe(2);
    expect(hostMatchRank('*.example.com', 'example.com')).toBe(0);
    expect(hostMatchRank('*.example.com', 'a.b.example.com')).toBe(0);
    expect(hostMatchRank('', 'whatever.io')).toBe(1);
    expect(normaliseRequestHost('Hello.Demo.Local:8088')).toBe('hello.demo.local');
    expect(normaliseRequestHost('hello.demo.local.')).toBe('hello.demo.local');
    expect(normaliseRequestHost('[::1]:80')).toBe('[::1]');
    expect(normaliseRequestHost(undefined)).toBe('');
  });
});

describe('route selection', () => {
  test('longest match wins, then Exact, then host specificity, then configured routes', () => {
    const routes = [r('app.io', '/'), r('app.io', '/api'), r('app.io', '/api/v1', 'Exact'), r('*.io', '/api/v1/x'), r('', '/pac', 'Prefix', 'config')];
    const t = new RouteTable(routes);
    expect(t.match('app.io', '/')?.id).toBe('app.io/');
    expect(t.match('app.io', '/apix')?.id).toBe('app.io/');
    expect(t.match('app.io', '/api/users')?.id).toBe('app.io/api');
    expect(t.match('app.io', '/api/v1')?.id).toBe('app.io/api/v1');
    expect(t.match('app.io', '/api/v1/')?.id).toBe('app.io/api'); // Exact does not take the trailing slash
    expect(t.match('app.io', '/api/v1/x/y')?.id).toBe('*.io/api/v1/x'); // longer path beats the exact host
    expect(t.match('app.io', '/pac/hook')?.id).toBe('/pac'); // configured, host-less, longer than '/'
    expect(t.match('other.io', '/')).toBeNull();
    expect(t.match('nohost', '/pac')?.id).toBe('/pac');
    // Ties: Exact over Prefix; exact host over wildcard; configured over registry.
    expect(selectRoute([r('a.io', '/x'), r('a.io', '/x', 'Exact', 'registry', 'exact')], 'a.io', '/x')?.id).toBe('exact');
    expect(selectRoute([r('*.io', '/x', 'Prefix', 'registry', 'wild'), r('a.io', '/x', 'Prefix', 'registry', 'host')], 'a.io', '/x')?.id).toBe('host');
    expect(selectRoute([r('a.io', '/x', 'Prefix', 'registry', 'reg'), r('a.io', '/x', 'Prefix', 'config', 'cfg')], 'a.io', '/x')?.id).toBe('cfg');
  });

  const segment = fc.constantFrom('a', 'b', 'foo', 'foobar', 'api', 'v1', 'x');
  const pathArb = fc.array(segment, { minLength: 0, maxLength: 4 }).map((s) => `/${s.join('/')}`);
  const routeArb = fc.record({
    host: fc.constantFrom('a.io', 'b.io', '*.io', ''),
    path: fc.oneof(pathArb, pathArb.map((p) => (p === '/' ? p : `${p}/`))),
    pathType: fc.constantFrom('Prefix' as const, 'Exact' as const, 'ImplementationSpecific' as const),
    source: fc.constantFrom('config' as const, 'registry' as const),
  });

  /** Independent oracle: segment lists. */
  const oracleMatches = (route: MatchCandidate, host: string, path: string): number => {
    const hostOk = route.host === '' || route.host === host || (route.host.startsWith('*.') && host.split('.').length === route.host.split('.').length && host.endsWith(route.host.slice(1)));
    if (!hostOk) return -1;
    if (route.pathType === 'Exact') return route.path === path ? route.path.length : -1;
    const rs = route.path.split('/').filter(Boolean);
    const ps = path.split('/').filter(Boolean);
    if (rs.length > ps.length) return -1;
    for (let i = 0; i < rs.length; i++) if (rs[i] !== ps[i]) return -1;
    return rs.length === 0 ? 1 : `/${rs.join('/')}`.length;
  };

  test('property: the chosen route matches and no matching route has a longer path', () => {
    fc.assert(
      fc.property(fc.array(routeArb, { maxLength: 12 }), fc.constantFrom('a.io', 'b.io', 'c.io'), pathArb, (routes, host, path) => {
        const chosen = new RouteTable(routes).match(host, path);
        const lens = routes.map((x) => oracleMatches(x, host, path));
        const best = Math.max(-1, ...lens);
        if (best < 0) return chosen === null;
        if (!chosen) return false;
        return oracleMatches(chosen, host, path) === best;
      }),
      { numRuns: 2000 },
    );
  });

  test('property: Prefix /p matches exactly the paths whose segments start with those of /p', () => {
    fc.assert(
      fc.property(pathArb, pathArb, (route, path) => {
        const m = pathMatchLength(route, 'Prefix', path) >= 0;
        const rs = route.split('/').filter(Boolean);
        const ps = path.split('/').filter(Boolean);
        return m === rs.every((s, i) => ps[i] === s);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('validation', () => {
  test('hostnames', () => {
    for (const ok of ['hello.demo.local', 'a', '*.example.com', 'x-1.y2.z', 'localhost']) expect(checkHostname(ok)).toBeNull();
    for (const bad of ['', 'Hello.com', '-a.com', 'a-.com', 'a..b', 'a_b.com', '*.com', 'a.*.com', '*', `${'a'.repeat(64)}.com`, `${'a.'.repeat(127)}ab`, 'a b'])
      expect(checkHostname(bad)).not.toBeNull();
  });
  test('paths', () => {
    for (const ok of ['/', '/foo', '/foo/', '/a%20b', '/pac/']) expect(checkPath(ok)).toBeNull();
    for (const bad of ['', 'foo', '/a/../b', '/a/%2e%2e/b', '/a\nb', '/a\u0000', '/a?x', '/a#f', '/%zz'])
      expect(checkPath(bad)).not.toBeNull();
  });
});
