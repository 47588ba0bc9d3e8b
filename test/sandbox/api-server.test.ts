// The sandbox's HTTP contract checked with plain fetch: discovery, CRUD status codes, watch semantics
// (initial events, bookmarks, 410, Table, selector transitions), auth, upgrades, service proxy and faults.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import http from 'node:http';
import net from 'node:net';
import { type Sandbox, startSandbox } from '../../src/sandbox/index.ts';
import { LineReader } from './watch-lines.ts';

let sb: Sandbox;
// biome-ignore lint/suspicious/noExplicitAny: API response bodies are asserted field by field.
type Json = any;
const TABLE = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json';

beforeAll(async () => {
  sb = await startSandbox({ seed: 'demo', bookmarkIntervalMs: 50, historyLimit: 50 });
});
afterAll(() => sb?.close());

const api = (path: string, init: RequestInit = {}) => fetch(`${sb.url}${path}`, init);
const json = async (path: string, init: RequestInit = {}) => {
  const r = await api(path, init);
  return { status: r.status, type: r.headers.get('content-type'), body: (await r.json()) as Record<string, Json> };
};
const send = (method: string, path: string, body: unknown, type = 'application/json') =>
  json(path, { method, body: JSON.stringify(body), headers: { 'Content-Type': type } });
const cm = (name: string, data: Record<string, string> = {}, labels: Record<string, string> = {}) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, labels },
  data,
});

describe('discovery', () => {
  test('aggregated v2 and v2beta1 by Accept, legacy otherwise', async () => {
    const v2 = await json('/apis', { headers: { Accept: 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json' } });
    expect(v2.type).toBe('application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList');
    expect(v2.body.items.map((g: Json) => g.metadata.name)).toContain('gateway.networking.k8s.io');
    const gw = v2.body.items.find((g: Json) => g.metadata.name === 'gateway.networking.k8s.io');
    expect(gw.versions.map((v: Json) => v.version)).toEqual(['v1', 'v1alpha2']);
    const beta = await json('/api', { headers: { Accept: 'application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json' } });
    expect(beta.body.apiVersion).toBe('apidiscovery.k8s.io/v2beta1');
    const pods = beta.body.items[0].versions[0].resources.find((r: Json) => r.resource === 'pods');
    expect(pods.subresources.map((s: Json) => s.subresource)).toEqual(['status', 'log', 'exec', 'attach', 'portforward', 'proxy']);
    const legacy = await json('/api');
    expect(legacy.body.kind).toBe('APIVersions');
  });

  test('legacy resource lists carry subresources', async () => {
    const core = await json('/api/v1');
    const names = core.body.resources.map((r: Json) => r.name);
    for (const n of ['pods/log', 'pods/exec', 'pods/attach', 'pods/portforward', 'services/proxy', 'pods/status']) expect(names).toContain(n);
    expect((await json('/apis/networking.istio.io')).body.preferredVersion.version).toBe('v1');
    expect((await json('/version')).body.gitVersion).toBe('v1.32.0');
    expect(await (await api('/healthz')).text()).toBe('ok');
    expect((await json('/openapi/v3')).body.paths['apis/apps/v1'].serverRelativeURL).toMatch(/^\/openapi\/v3\/apis\/apps\/v1\?hash=/);
  });
});

describe('CRUD', () => {
  test('create 201, duplicate 409, get, list, 404 Status', async () => {
    const created = await send('POST', '/api/v1/namespaces/default/configmaps', cm('crud-a', { k: 'v' }));
    expect(created.status).toBe(201);
    expect(created.body.metadata.uid).toBeString();
    expect(created.body.metadata.generation).toBeUndefined();
    const dup = await send('POST', '/api/v1/namespaces/default/configmaps', cm('crud-a'));
    expect(dup.status).toBe(409);
    expect(dup.body).toMatchObject({ kind: 'Status', reason: 'AlreadyExists', message: 'configmaps "crud-a" already exists', code: 409 });
    const missing = await json('/api/v1/namespaces/default/configmaps/nope');
    expect(missing.body).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'NotFound', message: 'configmaps "nope" not found', code: 404 });
    const list = await json('/api/v1/namespaces/default/configmaps');
    expect(list.body.kind).toBe('ConfigMapList');
    expect(list.body.items[0].kind).toBeUndefined();
    expect(list.body.metadata.resourceVersion).toBe(String(sb.store.resourceVersion));
  });

  test('PUT with a stale resourceVersion is 409 Conflict; no-op update keeps the RV', async () => {
    const a = (await send('POST', '/api/v1/namespaces/default/configmaps', cm('crud-b', { k: '1' }))).body;
    const ok = await send('PUT', '/api/v1/namespaces/default/configmaps/crud-b', { ...a, data: { k: '2' } });
    expect(ok.status).toBe(200);
    const stale = await send('PUT', '/api/v1/namespaces/default/configmaps/crud-b', { ...a, data: { k: '3' } });
    expect(stale.status).toBe(409);
    expect(stale.body.reason).toBe('Conflict');
    expect(stale.body.message).toContain('the object has been modified');
    const same = await send('PUT', '/api/v1/namespaces/default/configmaps/crud-b', ok.body);
    expect(same.body.metadata.resourceVersion).toBe(ok.body.metadata.resourceVersion);
  });

  test('422 for an invalid name, 415 for protobuf bodies, 404 for a missing namespace', async () => {
    const bad = await send('POST', '/api/v1/namespaces/default/configmaps', cm('Not_Valid'));
    expect(bad.status).toBe(422);
    expect(bad.body.reason).toBe('Invalid');
    const proto = await send('POST', '/api/v1/namespaces/default/configmaps', cm('x'), 'application/vnd.kubernetes.protobuf');
    expect(proto.status).toBe(415);
    const nons = await send('POST', '/api/v1/namespaces/ghost/configmaps', cm('x'));
    expect(nons.body).toMatchObject({ code: 404, message: 'namespaces "ghost" not found' });
  });

  test('patch types; generation bumps on spec change for non-core kinds; status subresource', async () => {
    const dep = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'gen' },
      spec: { replicas: 1, template: { spec: { containers: [{ name: 'a', image: 'x:1' }, { name: 'b', image: 'y:1' }] } } },
    };
    const c = await send('POST', '/apis/apps/v1/namespaces/default/deployments', dep);
    expect(c.body.metadata.generation).toBe(1);
    const smp = await send('PATCH', '/apis/apps/v1/namespaces/default/deployments/gen', { spec: { template: { spec: { containers: [{ name: 'b', image: 'y:2' }] } } } }, 'application/strategic-merge-patch+json');
    expect(smp.body.spec.template.spec.containers.map((x: Json) => x.image)).toEqual(['x:1', 'y:2']);
    expect(smp.body.metadata.generation).toBe(2);
    const label = await send('PATCH', '/apis/apps/v1/namespaces/default/deployments/gen', { metadata: { labels: { a: 'b' } } }, 'application/merge-patch+json');
    expect(label.body.metadata.generation).toBe(2);
    const jp = await send('PATCH', '/apis/apps/v1/namespaces/default/deployments/gen', [{ op: 'replace', path: '/spec/replicas', value: 3 }], 'application/json-patch+json');
    expect(jp.body.spec.replicas).toBe(3);
    const ignored = await send('PATCH', '/apis/apps/v1/namespaces/default/deployments/gen', { status: { readyReplicas: 3 } }, 'application/merge-patch+json');
    expect(ignored.body.status).toBeUndefined();
    const status = await send('PATCH', '/apis/apps/v1/namespaces/default/deployments/gen/status', { status: { readyReplicas: 3 } }, 'application/merge-patch+json');
    expect(status.body.status).toEqual({ readyReplicas: 3 });
    const unsupported = await send('PATCH', '/apis/apps/v1/namespaces/default/deployments/gen', {}, 'text/plain');
    expect(unsupported.status).toBe(415);
    const del = await json('/apis/apps/v1/namespaces/default/deployments/gen', { method: 'DELETE' });
    // Like the generic registry of a real apiserver: a Status naming what was deleted, not the object.
    expect(del.body).toMatchObject({ kind: 'Status', status: 'Success', details: { name: 'gen', group: 'apps', kind: 'deployments' } });
  });

  test('selectors on list, Table with real columns', async () => {
    const pods = await json('/api/v1/pods?labelSelector=app%3Dhello&fieldSelector=spec.nodeName%3Dnode-2');
    expect(pods.body.items.map((p: Json) => p.metadata.name)).toEqual(['hello-6d9f7c8b5-fghij']);
    const badField = await json('/api/v1/pods?fieldSelector=spec.bogus%3D1');
    expect(badField.status).toBe(400);
    const table = await json('/api/v1/namespaces/demo/pods', { headers: { Accept: TABLE } });
    expect(table.body.kind).toBe('Table');
    expect(table.body.columnDefinitions.map((c: Json) => c.name)).toEqual(['Name', 'Ready', 'Status', 'Restarts', 'Age', 'IP', 'Node', 'Nominated Node', 'Readiness Gates']);
    expect(table.body.rows[0].cells.slice(0, 4)).toEqual(['hello-6d9f7c8b5-abcde', '1/1', 'Running', '0']);
    expect(table.body.rows[0].object.kind).toBe('PartialObjectMetadata');
    const cms = await json('/api/v1/namespaces/demo/configmaps', { headers: { Accept: TABLE } });
    expect(cms.body.columnDefinitions.map((c: Json) => c.name)).toEqual(['Name', 'Data', 'Age']);
    expect(cms.body.rows[0].cells.slice(0, 2)).toEqual(['hello-config', 1]);
  });

  test('paging like a real apiserver: limit, continue, remainingItemCount (not with selectors), a bad continue is 400', async () => {
    for (const n of ['pg-a', 'pg-b', 'pg-c']) await send('POST', '/api/v1/namespaces/default/configmaps', cm(n, {}, { paging: 'yes' }));
    const all = (await json('/api/v1/namespaces/default/configmaps')).body.items.map((i: Json) => i.metadata.name);
    const first = await json('/api/v1/namespaces/default/configmaps?limit=2');
    expect(first.body.items.map((i: Json) => i.metadata.name)).toEqual(all.slice(0, 2));
    expect(first.body.metadata.remainingItemCount).toBe(all.length - 2);
    expect(typeof first.body.metadata.continue).toBe('string');
    const seen = [...first.body.items.map((i: Json) => i.metadata.name)];
    let cont: string | undefined = first.body.metadata.continue;
    while (cont) {
      const page = await json(`/api/v1/namespaces/default/configmaps?limit=2&continue=${encodeURIComponent(cont)}`);
      expect(page.status).toBe(200);
      seen.push(...page.body.items.map((i: Json) => i.metadata.name));
      cont = page.body.metadata.continue || undefined;
    }
    expect(seen).toEqual(all);
    const selected = await json('/api/v1/namespaces/default/configmaps?limit=1&labelSelector=paging%3Dyes');
    expect(selected.body.items.length).toBe(1);
    expect(selected.body.metadata.continue).toBeTruthy();
    expect(selected.body.metadata.remainingItemCount).toBeUndefined();
    const bad = await json('/api/v1/namespaces/default/configmaps?limit=2&continue=garbage');
    expect(bad.status).toBe(400);
    expect(bad.body.reason).toBe('BadRequest');
  });

  test('metadata-only answers (as=PartialObjectMetadataList / PartialObjectMetadata) carry metadata only', async () => {
    await send('POST', '/api/v1/namespaces/default/configmaps', cm('meta-only', { secret: 'value' }));
    const accept = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json';
    const list = await json('/api/v1/namespaces/default/configmaps?limit=500', { headers: { Accept: accept } });
    expect(list.body.kind).toBe('PartialObjectMetadataList');
    expect(list.body.apiVersion).toBe('meta.k8s.io/v1');
    const item = list.body.items.find((i: Json) => i.metadata.name === 'meta-only');
    expect(Object.keys(item).sort()).toEqual(['apiVersion', 'kind', 'metadata']);
    expect(item.kind).toBe('PartialObjectMetadata');
    const one = await json('/api/v1/namespaces/default/configmaps/meta-only', { headers: { Accept: 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1' } });
    expect(one.body.kind).toBe('PartialObjectMetadata');
    expect(one.body.data).toBeUndefined();
  });

  test('a PUT whose body names another object is 400 BadRequest, even when the URL\'s object is missing', async () => {
    await send('POST', '/api/v1/namespaces/default/configmaps', cm('put-target'));
    for (const url of ['/api/v1/namespaces/default/configmaps/put-target', '/api/v1/namespaces/default/configmaps/put-missing']) {
      const r = await send('PUT', url, cm('someone-else'));
      expect(r.status).toBe(400);
      expect(r.body.reason).toBe('BadRequest');
      expect(r.body.message).toBe(`the name of the object (someone-else) does not match the name on the URL (${url.split('/').pop()})`);
    }
  });

  test('Istio v1 and v1beta1 serve the same objects, each in its own apiVersion', async () => {
    const vs = { apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'both' }, spec: { hosts: ['a'] } };
    expect((await send('POST', '/apis/networking.istio.io/v1/namespaces/demo/virtualservices', vs)).status).toBe(201);
    const beta = await json('/apis/networking.istio.io/v1beta1/namespaces/demo/virtualservices/both');
    expect(beta.body).toMatchObject({ apiVersion: 'networking.istio.io/v1beta1', spec: { hosts: ['a'] } });
  });

  test('deleting a namespace removes what is in it', async () => {
    sb.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'doomed' } });
    sb.apply({ ...cm('inside'), metadata: { name: 'inside', namespace: 'doomed' } });
    expect((await json('/api/v1/namespaces/doomed', { method: 'DELETE' })).status).toBe(200);
    expect(sb.get('configmaps', 'doomed', 'inside')).toBeUndefined();
  });
});

describe('watch', () => {
  async function watch(path: string, accept?: string) {
    const ctrl = new AbortController();
    const r = await api(path, { signal: ctrl.signal, ...(accept ? { headers: { Accept: accept } } : {}) });
    expect(r.status).toBe(200);
    return { reader: new LineReader(r.body as ReadableStream<Uint8Array>), stop: () => ctrl.abort() };
  }

  test('resourceVersion=0 sends current state as ADDED, then live events', async () => {
    const w = await watch('/api/v1/namespaces/demo/pods?watch=1&resourceVersion=0');
    await w.reader.waitLines(2);
    sb.apply({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'live', namespace: 'demo' }, spec: { containers: [{ name: 'c', image: 'i' }] } });
    sb.remove('pods', 'demo', 'live');
    await w.reader.waitLines(4);
    expect(w.reader.events().map((e) => `${e.type}:${e.object.metadata.name}`)).toEqual([
      'ADDED:hello-6d9f7c8b5-abcde',
      'ADDED:hello-6d9f7c8b5-fghij',
      'ADDED:live',
      'DELETED:live',
    ]);
    const [added, deleted] = w.reader.events().slice(2);
    expect(Number(deleted?.object.metadata.resourceVersion)).toBe(Number(added?.object.metadata.resourceVersion) + 1);
    w.stop();
  });

  test('sendInitialEvents ends the initial ADDEDs with the initial-events-end BOOKMARK', async () => {
    const w = await watch('/api/v1/namespaces/demo/pods?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true');
    await w.reader.waitLines(3);
    const [, , bm] = w.reader.events();
    expect(bm?.type).toBe('BOOKMARK');
    expect(bm?.object.metadata.annotations).toEqual({ 'k8s.io/initial-events-end': 'true' });
    await w.reader.waitLines(4); // periodic bookmark (50 ms here)
    expect(w.reader.events()[3]?.type).toBe('BOOKMARK');
    w.stop();
  });

  test('selector watches turn label changes into ADDED / DELETED', async () => {
    const rv = sb.store.resourceVersion;
    const w = await watch(`/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=${rv}&labelSelector=team%3Dblue`);
    sb.apply({ ...cm('sel'), metadata: { name: 'sel', namespace: 'default', labels: { team: 'red' } } });
    sb.apply({ ...cm('sel'), metadata: { name: 'sel', namespace: 'default', labels: { team: 'blue' } } });
    sb.apply({ ...cm('sel', { x: '1' }), metadata: { name: 'sel', namespace: 'default', labels: { team: 'blue' } } });
    sb.apply({ ...cm('sel'), metadata: { name: 'sel', namespace: 'default', labels: { team: 'red' } } });
    await w.reader.waitLines(3);
    expect(w.reader.events().map((e) => e.type)).toEqual(['ADDED', 'MODIFIED', 'DELETED']);
    w.stop();
  });

  test('Table watch events wrap one row', async () => {
    const w = await watch('/api/v1/namespaces?watch=true&resourceVersion=0&fieldSelector=metadata.name%3Ddemo', TABLE);
    await w.reader.waitLines(1);
    const e = w.reader.events()[0];
    expect(e?.object.kind).toBe('Table');
    expect(e?.object.rows).toHaveLength(1);
    expect(e?.object.rows[0].cells.slice(0, 2)).toEqual(['demo', 'Active']);
    w.stop();
  });

  test('too old resourceVersion: HTTP 200, one ERROR 410 Expired event, then close', async () => {
    const old = sb.store.resourceVersion;
    sb.apply(cm('bump-1'));
    sb.faults.compact();
    const w = await watch(`/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=${old}`);
    await w.reader.waitEnd();
    expect(w.reader.events()).toEqual([
      {
        type: 'ERROR',
        object: {
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Failure',
          message: `too old resource version: ${old} (${sb.store.resourceVersion})`,
          reason: 'Expired',
          code: 410,
        },
      },
    ]);
  });

  test('the history ring expires old versions by itself (historyLimit)', async () => {
    const old = sb.store.resourceVersion;
    for (let i = 0; i < 60; i++) sb.apply(cm('churn', { i: String(i) }));
    const w = await watch(`/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=${old}`);
    await w.reader.waitEnd();
    expect(w.reader.events()[0]?.object.code).toBe(410);
    const recent = await watch(`/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=${sb.store.resourceVersion - 10}`);
    await recent.reader.waitLines(10);
    expect(recent.reader.events().every((e) => e.type === 'MODIFIED')).toBe(true);
    recent.stop();
  });

  test('timeoutSeconds and dropWatches end the stream cleanly', async () => {
    const w = await watch(`/api/v1/pods?watch=true&timeoutSeconds=1&resourceVersion=${sb.store.resourceVersion}`);
    await w.reader.waitEnd(3000);
    const d = await watch(`/api/v1/pods?watch=true&resourceVersion=${sb.store.resourceVersion}`);
    sb.faults.dropWatches();
    await d.reader.waitEnd();
    expect(d.reader.lines).toEqual([]);
  });
});

describe('service proxy', () => {
  test('HTTP bodies stream both ways to a bound backend; unbound is 503', async () => {
    const backend = http.createServer((req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/plain', 'X-Path': req.url ?? '', 'X-Auth': req.headers.authorization ?? 'none' });
      req.pipe(res);
    });
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
    const port = (backend.address() as net.AddressInfo).port;
    sb.bindService('demo', 'hello', 80, { host: '127.0.0.1', port });
    try {
      const body = 'x'.repeat(256 * 1024);
      for (const name of ['hello', 'hello:80', 'http:hello:http']) {
        const r = await api(`/api/v1/namespaces/demo/services/${name}/proxy/echo/path?q=1`, { method: 'POST', body, headers: { Authorization: 'Bearer s3cret' } });
        expect(r.status).toBe(200);
        expect(r.headers.get('x-path')).toBe('/echo/path?q=1');
        expect(r.headers.get('x-auth')).toBe('none');
        expect((await r.text()).length).toBe(body.length);
      }
    } finally {
      backend.close();
    }
    const unbound = await json('/api/v1/namespaces/pipeops-system/services/traefik/proxy/');
    expect(unbound.body).toMatchObject({ code: 503, message: 'no endpoints available for service "traefik"' });
    expect((await json('/api/v1/namespaces/demo/services/ghost/proxy/')).status).toBe(404);
  });

  test('WebSocket upgrades are relayed as a raw byte pipe', async () => {
    const backend = Bun.serve<{ path: string }>({
      hostname: '127.0.0.1',
      port: 0,
      fetch(req, server) {
        const u = new URL(req.url);
        return server.upgrade(req, { data: { path: u.pathname + u.search } }) ? undefined : new Response('no', { status: 400 });
      },
      websocket: {
        message(ws, m) {
          ws.send(`${ws.data.path} ${String(m).toUpperCase()}`);
        },
      },
    });
    sb.bindService('demo', 'ws-echo', 8080, { host: '127.0.0.1', port: backend.port as number });
    try {
      const ws = new WebSocket(`${sb.url.replace('http', 'ws')}/api/v1/namespaces/demo/services/ws-echo:8080/proxy/socket?x=1`);
      const reply = await new Promise<string>((resolve, reject) => {
        ws.onopen = () => ws.send('hello');
        ws.onmessage = (e) => resolve(String(e.data));
        ws.onerror = () => reject(new Error('websocket through the service proxy failed'));
      });
      expect(reply).toBe('/socket?x=1 HELLO');
      ws.close();
    } finally {
      backend.stop(true);
    }
  });
});

/** Sends a raw upgrade request and returns the status line and body of the server's answer. */
async function rawUpgrade(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const sock = net.connect(port, '127.0.0.1');
  await new Promise<void>((r) => sock.once('connect', () => r()));
  const h = { Host: 'x', Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', ...headers };
  sock.write(`GET ${path} HTTP/1.1\r\n${Object.entries(h).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`);
  let text = '';
  for await (const c of sock) text += c.toString();
  const status = Number(/^HTTP\/1\.1 (\d+)/.exec(text)?.[1]);
  return { status, body: text.slice(text.indexOf('\r\n\r\n') + 4) };
}

describe('pod stream upgrades are checked before any handshake', () => {
  test('404 for a missing pod, 400 for a missing container or an ambiguous one, rejectWebSockets', async () => {
    const missing = await rawUpgrade(sb.port, '/api/v1/namespaces/demo/pods/nope/exec?command=sh');
    expect(missing.status).toBe(404);
    expect(JSON.parse(missing.body).message).toBe('pods "nope" not found');
    const badC = await rawUpgrade(sb.port, '/api/v1/namespaces/demo/pods/hello-6d9f7c8b5-abcde/exec?command=sh&container=zzz');
    expect(badC.status).toBe(400);
    expect(JSON.parse(badC.body).message).toBe('container zzz is not valid for pod hello-6d9f7c8b5-abcde');
    const ambiguous = await rawUpgrade(sb.port, '/api/v1/namespaces/pipeops-system/pods/pipeops-agent-7c9d8b5f4-m2n3b/exec?command=sh');
    expect(JSON.parse(ambiguous.body).message).toBe('a container name must be specified for pod pipeops-agent-7c9d8b5f4-m2n3b, choose one of: [agent log-shipper]');
    sb.faults.rejectWebSockets = true;
    try {
      const rejected = await rawUpgrade(sb.port, '/api/v1/namespaces/demo/pods/hello-6d9f7c8b5-abcde/exec?command=sh', { 'Sec-WebSocket-Protocol': 'v5.channel.k8s.io' });
      expect(rejected.status).toBe(400);
      expect(JSON.parse(rejected.body).message).toBe('unsupported upgrade: websocket');
    } finally {
      sb.faults.rejectWebSockets = false;
    }
  });
});

describe('faults', () => {
  test('cutConnections destroys open watches and log follows', async () => {
    const w = new LineReader((await api('/api/v1/pods?watch=true&resourceVersion=0')).body as ReadableStream<Uint8Array>);
    const logs = new LineReader((await api('/api/v1/namespaces/demo/pods/hello-6d9f7c8b5-abcde/log?follow=true')).body as ReadableStream<Uint8Array>);
    await w.waitLines(1);
    await logs.waitLines(2);
    sb.faults.cutConnections();
    await Promise.all([w.waitEnd(), logs.waitEnd()]);
  });

  test('failNext answers the next requests with the given status; latency is added', async () => {
    sb.faults.failNext(2, 503);
    expect((await api('/api/v1/namespaces')).status).toBe(503);
    expect((await api('/api/v1/namespaces')).status).toBe(503);
    expect((await api('/api/v1/namespaces')).status).toBe(200);
    sb.faults.latencyMs = 150;
    const t0 = performance.now();
    await api('/version');
    sb.faults.latencyMs = 0;
    expect(performance.now() - t0).toBeGreaterThanOrEqual(140);
  });
});

describe('logs endpoint', () => {
  test('container required for multi-container pods; tailLines; timestamps', async () => {
    const multi = await json('/api/v1/namespaces/pipeops-system/pods/pipeops-agent-7c9d8b5f4-m2n3b/log');
    expect(multi.status).toBe(400);
    expect(multi.body.message).toBe('a container name must be specified for pod pipeops-agent-7c9d8b5f4-m2n3b, choose one of: [agent log-shipper]');
    const tail = await api('/api/v1/namespaces/pipeops-system/pods/pipeops-agent-7c9d8b5f4-m2n3b/log?container=log-shipper&tailLines=1&timestamps=true');
    expect(await tail.text()).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z \[info\] \[output:stdout:stdout\.0\] worker #0 started\n$/);
  });
});
