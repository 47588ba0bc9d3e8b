// parseGatewayTarget (by hand) against the pattern it replaced, for any request target: the same cluster, path and
// query, or the same refusal.
import { expect, test } from 'bun:test';
import fc from 'fast-check';
import { type GatewayTarget, mayHaveParam, parseGatewayTarget, wantsStreamingResponse } from '../../src/hub/kube-gateway/gateway-route.ts';
import { kubeVerb } from '../../src/hub/hub-metrics.ts';

const PATTERN = /^\/clusters\/([^/]+)\/k8s(\/.*)?$/;
function reference(url: string): GatewayTarget | null {
  const q = url.indexOf('?');
  const pathPart = q >= 0 ? url.slice(0, q) : url;
  const query = q >= 0 ? url.slice(q + 1) : '';
  const m = PATTERN.exec(pathPart);
  if (!m) return null;
  let cluster: string;
  try {
    cluster = decodeURIComponent(m[1]!);
  } catch {
    return null;
  }
  if (!cluster) return null;
  return { cluster, path: m[2] || '/', query };
}

test('examples', () => {
  expect(parseGatewayTarget('/clusters/prod/k8s/api/v1/namespaces?limit=500')).toEqual({ cluster: 'prod', path: '/api/v1/namespaces', query: 'limit=500' });
  expect(parseGatewayTarget('/clusters/my%20c/k8s')).toEqual({ cluster: 'my c', path: '/', query: '' });
  expect(parseGatewayTarget('/clusters/%E0%A4%A/k8s/api')).toBeNull();
  expect(parseGatewayTarget('/clusters//k8s/api')).toBeNull();
  expect(parseGatewayTarget('/clusters/a/k8sx')).toBeNull();
  expect(parseGatewayTarget('/clusters/a/k8s/x\ny')).toBeNull();
});

test('property: the same answer as the pattern for any target', () => {
  const piece = fc.constantFrom('/', '/clusters/', 'clusters', '/k8s', 'k8s', '/k8s/', '?', '%', '%2F', '%20', '%E0%A4', '%zz', 'a', 'prod', '\n', '\r', '\u2028', '\u2029', '.', '..', '', 'api/v1', '&x=1', 'é');
  const target = fc.oneof(
    fc.array(piece, { maxLength: 8 }).map((ps) => ps.join('')),
    fc.tuple(fc.array(piece, { maxLength: 3 }), fc.array(piece, { maxLength: 4 }), fc.array(piece, { maxLength: 3 })).map(([c, p, q]) => `/clusters/${c.join('')}/k8s${p.join('')}${q.length ? `?${q.join('')}` : ''}`),
    fc.string({ maxLength: 30 }).map((s) => `/clusters/${s}`),
  );
  fc.assert(fc.property(target, (url) => expect(parseGatewayTarget(url)).toEqual(reference(url))), { numRuns: 20000 });
});

test('property: a query mayHaveParam rules out has no such parameter for URLSearchParams', () => {
  const piece = fc.constantFrom('watch', 'follow', 'w', 'atch', '%77', '%77atch', 'wat%63h', '=', '&', '+', 'true', '1', '%', ';', 'limit=500', '%2B', 'WATCH', 'é');
  const query = fc.oneof(fc.array(piece, { maxLength: 8 }).map((ps) => ps.join('')), fc.string({ maxLength: 16 }));
  fc.assert(
    fc.property(query, fc.constantFrom('watch', 'follow'), (q, name) => {
      if (!mayHaveParam(q, name)) expect(new URLSearchParams(q).has(name)).toBe(false);
    }),
    { numRuns: 20000 },
  );
  expect(mayHaveParam('w%61tch=true', 'watch')).toBe(true);
  expect(new URLSearchParams('w%61tch=true').get('watch')).toBe('true');
});

test('wantsStreamingResponse and kubeVerb: watch and follow in any spelling URLSearchParams decodes', () => {
  expect(wantsStreamingResponse('limit=500')).toBe(false);
  expect(wantsStreamingResponse('w%61tch=true')).toBe(true);
  expect(wantsStreamingResponse('follow=1&container=x')).toBe(true);
  expect(wantsStreamingResponse('watch=false')).toBe(false);
  expect(kubeVerb('GET', 'w%61tch=1')).toBe('WATCH');
  expect(kubeVerb('GET', 'limit=500')).toBe('GET');
});
