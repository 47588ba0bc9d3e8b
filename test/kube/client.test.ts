import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { KubeClient, KubeError, describeRequest } from '../../src/kube/client.ts';
import { Http1Response } from '../../src/kube/http1.ts';
import type { KubeTarget } from '../../src/kube/target.ts';
import { CA_PEM, FakeKube } from './support/fake-kube.ts';

const TOKEN = 'fake-token-0123456789';
let fake: FakeKube;
const target = (over: Partial<KubeTarget> = {}): KubeTarget => ({ server: fake.url, ca: CA_PEM, token: () => TOKEN, source: 'in-cluster', ...over });

beforeAll(() => {
  fake = new FakeKube().start();
});
afterAll(() => fake.stop());

describe('KubeClient over HTTPS', () => {
  test('trusted CA: version works and the bearer token is sent', async () => {
    const c = new KubeClient(target());
    expect(await c.version()).toBe('v1.31.2-fake');
    expect(fake.seen.at(-1)?.auth).toBe(`Bearer ${TOKEN}`);
  });

  test('missing CA is rejected (verification is on)', async () => {
    const c = new KubeClient(target({ ca: undefined }));
    const e = await c.version().catch((x) => x);
    expect(e).toBeInstanceOf(KubeError);
    expect(e.status).toBe(0);
    expect(e.message).toContain('not trusted');
  });

  test('a wrong CA is rejected', async () => {
    // Any valid certificate that did not sign the server's: the server certificate itself is not a CA.
    const wrong = await Bun.file(`${import.meta.dir}/../fixtures/tls/server.crt`).text();
    const c = new KubeClient(target({ ca: wrong }));
    await expect(c.version()).rejects.toBeInstanceOf(KubeError);
  });

  // `forward` goes through fetch, or through the relay's own HTTP/1.1 client (src/kube/http1.ts) with `relayPool`.
  for (const pooled of [false, true]) {
    const opts = pooled ? { relayPool: {} } : {};
    const via = pooled ? ' (own HTTP/1.1 client)' : ' (fetch)';
    test(`forward: the header record as given, the default User-Agent only when the caller sent none${via}`, async () => {
      const c = new KubeClient(target(), { userAgent: 'agent-ua/1', ...opts });
      const signal = new AbortController().signal;
      const a = await c.forward('/version', 'GET', { Accept: 'application/json', Authorization: `Bearer ${TOKEN}` }, undefined, signal);
      expect(a.status).toBe(200);
      await a.bytes();
      expect(fake.seen.at(-1)).toMatchObject({ auth: `Bearer ${TOKEN}`, accept: 'application/json', userAgent: 'agent-ua/1' });
      const b = await c.forward('version', 'GET', { 'User-Agent': 'kubectl/v1.31', Authorization: `Bearer ${TOKEN}` }, undefined, signal);
      await b.bytes();
      expect(fake.seen.at(-1)).toMatchObject({ path: '/version', userAgent: 'kubectl/v1.31' });
      // GET goes as the default method, any other by name.
      expect(fake.seen.at(-1)?.method).toBe('GET');
      const h = await c.forward('/version', 'HEAD', {}, undefined, signal);
      await h.bytes();
      expect(fake.seen.at(-1)).toMatchObject({ method: 'HEAD', path: '/version' });
    });

    test(`forward: a transport failure rejects, and forwardError names it as request() would; an abort stays an abort${via}`, async () => {
      // A port that was listening a moment ago and no longer is: the connection is refused.
      const gone = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: () => new Response('') });
      const url = `https://127.0.0.1:${gone.port}`;
      await gone.stop(true);
      const c = new KubeClient(target({ server: url }), opts);
      const e = await c.forward('/api/v1/pods?limit=1', 'GET', {}, undefined, new AbortController().signal).catch((x) => x);
      const mapped = c.forwardError(e, 'GET', '/api/v1/pods?limit=1') as KubeError;
      expect(mapped).toBeInstanceOf(KubeError);
      expect(mapped.status).toBe(0);
      expect(mapped.message).toContain(`cannot list pods: Kubernetes API at ${url} unreachable`);
      const ac = new AbortController();
      ac.abort();
      const aborted = await c.forward('/version', 'GET', {}, undefined, ac.signal).catch((x) => x);
      expect(c.forwardError(aborted, 'GET', '/version')).toBe(aborted);
    });

    test(`forward: an untrusted server certificate is named as such${via}`, async () => {
      const c = new KubeClient(target({ ca: undefined }), opts);
      const e = await c.forward('/version', 'GET', {}, undefined, new AbortController().signal).catch((x) => x);
      const mapped = c.forwardError(e, 'GET', '/version') as KubeError;
      expect(mapped).toBeInstanceOf(KubeError);
      expect(mapped.message).toContain('not trusted');
    });
  }

  test('forward: an HTTPS_PROXY that applies keeps fetch (which honours it); NO_PROXY naming the server takes the own client', async () => {
    const saved = { HTTPS_PROXY: process.env.HTTPS_PROXY, NO_PROXY: process.env.NO_PROXY };
    // A proxy nobody listens on: fetch through it fails; the own client never uses it.
    const gone = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: () => new Response('') });
    const proxy = `http://127.0.0.1:${gone.port}`;
    await gone.stop(true);
    try {
      process.env.HTTPS_PROXY = proxy;
      delete process.env.NO_PROXY;
      const viaProxy = new KubeClient(target(), { relayPool: {} });
      const e = await viaProxy.forward('/version', 'GET', { Authorization: `Bearer ${TOKEN}` }, undefined, new AbortController().signal).catch((x) => x);
      expect(e).toBeInstanceOf(Error);
      process.env.NO_PROXY = 'localhost,127.0.0.1';
      const direct = new KubeClient(target(), { relayPool: {} });
      const r = await direct.forward('/version', 'GET', { Authorization: `Bearer ${TOKEN}` }, undefined, new AbortController().signal);
      expect(r.status).toBe(200);
      expect(r).toBeInstanceOf(Http1Response);
      await r.bytes();
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });

  test('insecureSkipVerify (kubeconfig only) skips verification', async () => {
    const c = new KubeClient(target({ ca: undefined, insecureSkipVerify: true }));
    expect(await c.version()).toBe('v1.31.2-fake');
  });

  test('401 becomes an actionable KubeError without the token', async () => {
    const bad = 'wrong-token-abcdefgh-SECRET';
    const c = new KubeClient(target({ token: () => bad, tokenFile: '/var/run/secrets/kubernetes.io/serviceaccount/token' }));
    const e = (await c.get('/api/v1/namespaces/default/configmaps/x').catch((x) => x)) as KubeError;
    expect(e).toBeInstanceOf(KubeError);
    expect(e.status).toBe(401);
    expect(e.reason).toBe('Unauthorized');
    expect(e.message).toContain('unauthorized');
    expect(e.message).toContain('ServiceAccount');
    expect(e.message).not.toContain(bad);
    expect(JSON.stringify(e)).not.toContain(bad);
  });

  test('403 names who, verb, resource and namespace', async () => {
    fake.forbid = (m, p) => m === 'GET' && p.includes('/configmaps/');
    try {
      const c = new KubeClient(target());
      const e = (await c.get('/api/v1/namespaces/pipeops-system/configmaps/pipeops-agent-state').catch((x) => x)) as KubeError;
      expect(e.status).toBe(403);
      expect(e.code).toBe(403);
      expect(e.message).toStartWith('forbidden: agent ServiceAccount cannot get configmaps pipeops-agent-state in namespace pipeops-system');
      expect(e.message).not.toContain(TOKEN);
    } finally {
      fake.forbid = () => false;
    }
  });

  test('403 from an API server that is not ready yet (/readyz fails) does not tell anyone to grant RBAC', async () => {
    // Right after an apiserver (re)start every request is 403 until /readyz (RBAC not loaded yet): not a missing grant.
    fake.forbid = (m, p) => m === 'GET' && p.includes('/configmaps/');
    fake.ready = false;
    try {
      const c = new KubeClient(target());
      const e = (await c.get('/api/v1/namespaces/pipeops-system/configmaps/pipeops-agent-state').catch((x) => x)) as KubeError;
      expect(e.status).toBe(403);
      expect(e.message).not.toContain('grant it');
      expect(e.message).toContain('not ready');
      fake.ready = true;
      const again = (await c.get('/api/v1/namespaces/pipeops-system/configmaps/pipeops-agent-state').catch((x) => x)) as KubeError;
      expect(again.message).toContain('grant it with a Role/ClusterRole binding');
    } finally {
      fake.forbid = () => false;
      fake.ready = true;
    }
  });

  test('404 is a KubeError with status 404', async () => {
    const e = (await new KubeClient(target()).get('/api/v1/namespaces/a/secrets/nope').catch((x) => x)) as KubeError;
    expect(e.status).toBe(404);
    expect(e.message).toContain('not found: secrets nope in namespace a');
  });

  test('request() streams: the first chunk of a never-ending response arrives', async () => {
    const c = new KubeClient(target());
    const ac = new AbortController();
    const res = await c.request('/stream-forever', { signal: ac.signal });
    const reader = res.body!.getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toBe('first-chunk\n');
    ac.abort();
  });

  test('request() keeps a caller Authorization header (relayed user credentials)', async () => {
    fake.tokens.add('user-token-zzzzzzzz');
    const res = await new KubeClient(target()).request('/version', { headers: { authorization: 'Bearer user-token-zzzzzzzz' } });
    expect(res.status).toBe(200);
    expect(fake.seen.at(-1)?.auth).toBe('Bearer user-token-zzzzzzzz');
  });

  test('create, replace, merge patch and delete', async () => {
    const c = new KubeClient(target());
    const base = '/api/v1/namespaces/ns1/configmaps';
    const created = await c.create<{ metadata: { resourceVersion: string } }>(base, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a' }, data: { k: '1' } });
    expect(created.metadata.resourceVersion).toBeTruthy();
    await c.replace(`${base}/a`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a', resourceVersion: created.metadata.resourceVersion }, data: { k: '2' } });
    expect(fake.get('configmaps', 'ns1', 'a')?.data).toEqual({ k: '2' });
    await c.patch(`${base}/a`, { data: { k: '3' } }, 'merge').catch(() => undefined);
    expect(fake.seen.at(-1)?.contentType).toBe('application/merge-patch+json');
    await c.delete(`${base}/a`);
    expect(fake.get('configmaps', 'ns1', 'a')).toBeUndefined();
  });

  test('selfSubjectAccessReview: allowed, denied, and an invalid override token is false', async () => {
    const c = new KubeClient(target());
    expect(await c.selfSubjectAccessReview({ verb: 'create', resource: 'namespaces' })).toBe(true);
    fake.forbid = (verb, res) => verb === 'create' && res === 'namespaces';
    try {
      expect(await c.selfSubjectAccessReview({ verb: 'create', resource: 'namespaces' })).toBe(false);
    } finally {
      fake.forbid = () => false;
    }
    expect(await c.selfSubjectAccessReview({ verb: 'create', resource: 'namespaces' }, 'not-a-valid-token-xyz')).toBe(false);
    expect(fake.seen.at(-1)?.auth).toBe('Bearer not-a-valid-token-xyz');
  });
});

describe('describeRequest', () => {
  test('verbs and scopes', () => {
    expect(describeRequest('GET', '/api/v1/namespaces/x/pods')).toEqual({ verb: 'list', resource: 'pods', namespace: 'x' });
    expect(describeRequest('GET', '/apis/networking.k8s.io/v1/ingresses?watch=1')).toEqual({ verb: 'watch', resource: 'ingresses' });
    expect(describeRequest('PUT', '/api/v1/namespaces/x/secrets/s')).toEqual({ verb: 'update', resource: 'secrets', namespace: 'x', name: 's' });
    expect(describeRequest('GET', '/api/v1/namespaces/x/pods/p/log')).toEqual({ verb: 'get', resource: 'pods/log', namespace: 'x', name: 'p' });
    expect(describeRequest('DELETE', '/api/v1/namespaces/y')).toEqual({ verb: 'delete', resource: 'namespaces', name: 'y' });
  });
});
