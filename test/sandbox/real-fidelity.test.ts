// The sandbox answers the way kube-apiserver v1.37 answered the same requests in test/real/fidelity.test.ts:
// list and watch option validation, resourceVersion semantics of LIST, selector paging, metadata-only watches, the
// initial-events-end bookmark, write validation, Secret stringData, DELETE's Status, Lease create-on-update,
// anonymous requests and unknown groups. Each case failed against the sandbox before docs/sandbox-fidelity.md's fixes.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { type Sandbox, startSandbox } from '../../src/sandbox/index.ts';
import { LineReader } from './watch-lines.ts';

let sb: Sandbox;
// biome-ignore lint/suspicious/noExplicitAny: API response bodies are asserted field by field.
type Json = any;
const TOKEN = 'admin-token';
const NS = 'fid';
const CMS = `/api/v1/namespaces/${NS}/configmaps`;
const LEASES = `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases`;

beforeAll(async () => {
  sb = await startSandbox({ seed: false, tokens: { [TOKEN]: { verbs: '*' } }, anonymousAuth: true });
  await send('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
  for (let i = 1; i <= 6; i++) await send('POST', CMS, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `cm-${i}`, labels: { idx: String(i), tier: i % 2 ? 'odd' : 'even' } }, data: { k: `v${i}` } });
});
afterAll(() => sb?.close());

async function req(method: string, path: string, opts: { body?: unknown; raw?: string; type?: string; accept?: string; anonymous?: boolean } = {}) {
  const headers: Record<string, string> = { ...(opts.anonymous ? {} : { authorization: `Bearer ${TOKEN}` }), ...(opts.accept ? { accept: opts.accept } : {}) };
  const body = opts.raw ?? (opts.body !== undefined ? JSON.stringify(opts.body) : undefined);
  if (body !== undefined) headers['content-type'] = opts.type ?? 'application/json';
  const r = await fetch(`${sb.url}${path}`, { method, headers, ...(body !== undefined ? { body } : {}) });
  const text = await r.text();
  let json: Json;
  try {
    json = JSON.parse(text);
  } catch {
    json = { text };
  }
  return { status: r.status, body: json };
}
const send = (method: string, path: string, body: unknown, type?: string) => req(method, path, { body, ...(type ? { type } : {}) });
const get = (path: string, accept?: string) => req('GET', path, accept ? { accept } : {});
const names = (list: Json) => list.items.map((i: Json) => i.metadata.name);

async function watchLines(path: string, count: number, accept?: string, during?: () => Promise<unknown>): Promise<Json[]> {
  const ac = new AbortController();
  const r = await fetch(`${sb.url}${path}`, { headers: { authorization: `Bearer ${TOKEN}`, ...(accept ? { accept } : {}) }, signal: ac.signal });
  expect(r.status).toBe(200);
  const lines = new LineReader(r.body as ReadableStream<Uint8Array>);
  await during?.();
  await lines.waitLines(count);
  ac.abort();
  return lines.events().slice(0, count);
}

describe('list and watch options', () => {
  test.each([
    ['resourceVersionMatch without resourceVersion', `${CMS}?resourceVersionMatch=NotOlderThan`, 'resourceVersionMatch is forbidden unless resourceVersion is provided'],
    ['Exact with resourceVersion 0', `${CMS}?resourceVersionMatch=Exact&resourceVersion=0`, 'resourceVersionMatch "exact" is forbidden for resourceVersion "0"'],
    ['an unknown match', `${CMS}?resourceVersionMatch=Bogus&resourceVersion=1`, 'Unsupported value: "Bogus"'],
    ['sendInitialEvents on a list', `${CMS}?sendInitialEvents=true`, 'sendInitialEvents is forbidden for list'],
    ['sendInitialEvents without NotOlderThan', `${CMS}?watch=true&sendInitialEvents=true`, 'sendInitialEvents requires setting resourceVersionMatch to NotOlderThan'],
    ['resourceVersionMatch on a watch without sendInitialEvents', `${CMS}?watch=true&resourceVersionMatch=NotOlderThan&resourceVersion=0`, 'resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided'],
  ])('%s is 422 Invalid ListOptions', async (_what, path, message) => {
    const r = await get(path);
    expect(r.status).toBe(422);
    expect(r.body).toMatchObject({ kind: 'Status', reason: 'Invalid', details: { group: 'meta.k8s.io', kind: 'ListOptions' } });
    expect(r.body.message).toContain(message);
  });

  test('a resourceVersion that is not a number is a bare 500 for lists and watches', async () => {
    for (const path of [`${CMS}?resourceVersion=abc`, `${CMS}?watch=true&resourceVersion=abc`]) {
      const r = await get(path);
      expect(r.status).toBe(500);
      expect(r.body.reason).toBeUndefined();
      expect(r.body.message).toContain('strconv.ParseUint: parsing "abc"');
    }
  });
});

describe('LIST resourceVersion semantics', () => {
  test('resourceVersion=0 is served whole: limit is ignored; another resourceVersion pages', async () => {
    const r = await get(`${CMS}?resourceVersion=0&limit=2`);
    expect(names(r.body)).toEqual(['cm-1', 'cm-2', 'cm-3', 'cm-4', 'cm-5', 'cm-6']);
    expect(r.body.metadata.continue).toBeUndefined();
    const rv = r.body.metadata.resourceVersion;
    const paged = await get(`${CMS}?resourceVersion=${rv}&limit=2`);
    expect(names(paged.body)).toEqual(['cm-1', 'cm-2']);
    expect(paged.body.metadata.remainingItemCount).toBe(4);
  });

  test('Exact at an older resourceVersion shows the objects as they were; NotOlderThan shows them now', async () => {
    const before = (await get(CMS)).body.metadata.resourceVersion;
    await send('PATCH', `${CMS}/cm-1`, { data: { k: 'changed' } }, 'application/merge-patch+json');
    await send('POST', CMS, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'later' } });
    await req('DELETE', `${CMS}/later`);
    await send('POST', CMS, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'later2' } });
    const exact = await get(`${CMS}?resourceVersionMatch=Exact&resourceVersion=${before}`);
    expect(exact.body.metadata.resourceVersion).toBe(before);
    expect(names(exact.body)).toEqual(['cm-1', 'cm-2', 'cm-3', 'cm-4', 'cm-5', 'cm-6']);
    expect(exact.body.items[0].data).toEqual({ k: 'v1' });
    const now = await get(`${CMS}?resourceVersionMatch=NotOlderThan&resourceVersion=${before}`);
    expect(now.body.items[0].data).toEqual({ k: 'changed' });
    expect(names(now.body)).toContain('later2');
    await req('DELETE', `${CMS}/later2`);
  });

  test('a resourceVersion the server has not reached is 504 ResourceVersionTooLarge after the wait', async () => {
    const r = await get(`${CMS}?resourceVersion=99999999`);
    expect(r.status).toBe(504);
    expect(r.body).toMatchObject({ reason: 'Timeout', details: { causes: [{ reason: 'ResourceVersionTooLarge' }], retryAfterSeconds: 1 } });
  });

  test('with a selector a full page continues while keys remain, ending with an empty page', async () => {
    const pages: string[][] = [];
    let token = '';
    for (let i = 0; i < 6; i++) {
      const r = await get(`${CMS}?limit=1&labelSelector=tier%3Dodd${token ? `&continue=${encodeURIComponent(token)}` : ''}`);
      pages.push(names(r.body));
      expect(r.body.metadata.remainingItemCount).toBeUndefined();
      token = r.body.metadata.continue ?? '';
      if (!token) break;
    }
    expect(pages).toEqual([['cm-1'], ['cm-3'], ['cm-5'], []]);
  });
});

describe('watches', () => {
  test('a metadata-only watch sends PartialObjectMetadata', async () => {
    const [e] = await watchLines(`${CMS}?watch=true&resourceVersion=0&labelSelector=idx%3D2`, 1, 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json');
    expect(e.type).toBe('ADDED');
    expect(e.object.kind).toBe('PartialObjectMetadata');
    expect(e.object.metadata.name).toBe('cm-2');
    expect(e.object.data).toBeUndefined();
  });

  test('resourceVersion unset or 0 with bookmarks: the initial ADDEDs end with the initial-events-end bookmark', async () => {
    for (const rv of ['', '&resourceVersion=0']) {
      const [added, bookmark] = await watchLines(`${CMS}?watch=true&allowWatchBookmarks=true&labelSelector=idx%3D3${rv}`, 2);
      expect(added.type).toBe('ADDED');
      expect(bookmark).toMatchObject({ type: 'BOOKMARK', object: { metadata: { annotations: { 'k8s.io/initial-events-end': 'true' } } } });
    }
  });

  test('an object leaving a selector is DELETED as it was while it matched', async () => {
    const rv = (await get(CMS)).body.metadata.resourceVersion;
    const [e] = await watchLines(`${CMS}?watch=true&labelSelector=tier%3Deven&resourceVersion=${rv}`, 1, undefined, () =>
      send('PATCH', `${CMS}/cm-4`, { metadata: { labels: { tier: 'odd' } } }, 'application/merge-patch+json'),
    );
    expect(e.type).toBe('DELETED');
    expect(e.object.metadata.labels.tier).toBe('even');
    expect(Number(e.object.metadata.resourceVersion)).toBeGreaterThan(Number(rv));
  });
});

describe('writes', () => {
  test.each([
    ['a label value with a space', CMS, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'l', labels: { a: 'has space' } } }, 'metadata.labels'],
    ['a ConfigMap key with a space', CMS, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'k' }, data: { 'bad key!': 'x' } }, 'data[bad key!]'],
    ['a Pod without containers', `/api/v1/namespaces/${NS}/pods`, { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [] } }, 'spec.containers'],
    ['a container without image', `/api/v1/namespaces/${NS}/pods`, { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'c' }] } }, 'spec.containers[0].image'],
    ['a Service without ports', `/api/v1/namespaces/${NS}/services`, { apiVersion: 'v1', kind: 'Service', metadata: { name: 's' }, spec: { selector: { a: 'b' } } }, 'spec.ports'],
    [
      'an Ingress path without pathType',
      `/apis/networking.k8s.io/v1/namespaces/${NS}/ingresses`,
      { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'i' }, spec: { rules: [{ http: { paths: [{ path: '/', backend: { service: { name: 's', port: { number: 80 } } } }] } }] } },
      'spec.rules[0].http.paths[0].pathType',
    ],
    ['a Lease of 0 seconds', LEASES, { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'z' }, spec: { leaseDurationSeconds: 0 } }, 'spec.leaseDurationSeconds'],
  ])('%s is 422 Invalid naming the field', async (_what, path, body, field) => {
    const r = await send('POST', path, body);
    expect(r.status).toBe(422);
    expect(r.body.reason).toBe('Invalid');
    expect(r.body.details.causes.map((c: Json) => c.field)).toContain(field);
  });

  test('a headless Service needs no ports; valid objects are still created', async () => {
    expect((await send('POST', `/api/v1/namespaces/${NS}/services`, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'headless' }, spec: { clusterIP: 'None' } })).status).toBe(201);
  });

  test('an immutable ConfigMap refuses a data change', async () => {
    expect((await send('POST', CMS, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'frozen' }, data: { a: 'b' }, immutable: true })).status).toBe(201);
    const r = await send('PATCH', `${CMS}/frozen`, { data: { a: 'c' } }, 'application/merge-patch+json');
    expect(r.status).toBe(422);
    expect(r.body.message).toContain('field is immutable when `immutable` is set');
  });

  test('a create that carries a resourceVersion is a bare 500', async () => {
    const r = await send('POST', CMS, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'rv', resourceVersion: '5' } });
    expect(r.status).toBe(500);
    expect(r.body.message).toBe('resourceVersion should not be set on objects to be created');
  });

  test('server-side apply without fieldManager is 422 PatchOptions', async () => {
    const r = await send('PATCH', `${CMS}/cm-5`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm-5' } }, 'application/apply-patch+yaml');
    expect(r.status).toBe(422);
    expect(r.body.details).toMatchObject({ group: 'meta.k8s.io', kind: 'PatchOptions' });
  });

  test('a Secret\'s stringData is folded into data', async () => {
    const r = await send('POST', `/api/v1/namespaces/${NS}/secrets`, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's1' }, data: { x: 'eA==' }, stringData: { a: 'b' } });
    expect(r.status).toBe(201);
    expect(r.body.stringData).toBeUndefined();
    expect(r.body.data).toEqual({ x: 'eA==', a: 'Yg==' });
  });

  test('DELETE answers a Status for most kinds, the object for Pods', async () => {
    const r = await req('DELETE', `${CMS}/cm-6`);
    expect(r.body).toMatchObject({ kind: 'Status', status: 'Success', details: { name: 'cm-6', kind: 'configmaps' } });
    expect(r.body.details.uid).toBeString();
    await send('POST', `/api/v1/namespaces/${NS}/pods`, { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'pod' }, spec: { containers: [{ name: 'c', image: 'i' }] } });
    expect((await req('DELETE', `/api/v1/namespaces/${NS}/pods/pod`)).body.kind).toBe('Pod');
  });
});

describe('Leases', () => {
  test('PUT creates a missing Lease (AllowCreateOnUpdate) and then enforces its resourceVersion', async () => {
    const lease = (rv?: string) => ({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'put', ...(rv ? { resourceVersion: rv } : {}) }, spec: { holderIdentity: 'a', leaseDurationSeconds: 15 } });
    const created = await send('PUT', `${LEASES}/put`, lease());
    expect(created.status).toBe(201);
    expect((await send('PUT', `${LEASES}/put`, lease('1'))).status).toBe(409);
    expect((await send('PUT', `${LEASES}/put`, lease(created.body.metadata.resourceVersion))).status).toBe(200);
    expect((await send('PUT', `${CMS}/ghost`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ghost' } })).status).toBe(404);
  });
});

describe('namespaces', () => {
  test('DELETE answers the namespace as Terminating with a deletionTimestamp', async () => {
    await send('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'gone' } });
    const r = await req('DELETE', '/api/v1/namespaces/gone');
    expect(r.body).toMatchObject({ kind: 'Namespace', status: { phase: 'Terminating' } });
    expect(r.body.metadata.deletionTimestamp).toBeString();
  });
});

describe('anonymous requests and unknown APIs', () => {
  test('anonymous: /version answers, discovery and resources are 403 for system:anonymous', async () => {
    expect((await req('GET', '/version', { anonymous: true })).status).toBe(200);
    const list = await req('GET', CMS, { anonymous: true });
    expect(list.status).toBe(403);
    expect(list.body.message).toBe(`configmaps is forbidden: User "system:anonymous" cannot list resource "configmaps" in API group "" in the namespace "${NS}"`);
    expect((await req('GET', '/api', { anonymous: true })).status).toBe(403);
    expect((await req('GET', CMS, {})).status).toBe(200);
  });

  test('an API group nobody serves is a plain-text 404; an unknown resource of a served group is a Status', async () => {
    expect(await get('/apis/example.com/v1/things')).toEqual({ status: 404, body: { text: '404 page not found\n' } });
    expect((await get(`/api/v1/namespaces/${NS}/widgets`)).body.kind).toBe('Status');
  });

  test('an empty SelfSubjectAccessReview is 422 with the apiserver\'s details (group, no kind)', async () => {
    const r = await send('POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: {} });
    expect(r.status).toBe(422);
    expect(r.body.details.group).toBe('authorization.k8s.io');
    expect(r.body.details.kind).toBeUndefined();
  });
});
