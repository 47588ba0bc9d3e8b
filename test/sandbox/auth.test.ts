// Bearer-token auth: 401/403 Status shapes, the audit trail, SelfSubjectAccessReview (JSON and kubectl's
// protobuf), upgrades refused before any handshake, and a server on freshly minted TLS material.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import tls from 'node:tls';
import { decodeAccessReview } from '../../src/sandbox/ssar-protobuf.ts';
import { type Sandbox, startSandbox } from '../../src/sandbox/index.ts';

let sb: Sandbox;
// biome-ignore lint/suspicious/noExplicitAny: API response bodies are asserted field by field.
type Json = any;

beforeAll(async () => {
  sb = await startSandbox({
    seed: 'demo',
    tls: 'generate',
    tokens: {
      viewer: { user: 'viewer', rules: [{ verbs: ['get', 'list'], resources: ['pods', 'deployments.apps'], namespaces: ['demo'] }] },
      execer: [{ verbs: ['create'], resources: ['pods/exec'] }, { verbs: ['get'], resources: ['pods'] }],
      metrics: { user: 'metrics-reader', rules: [{ verbs: ['list'], resources: ['nodes.metrics.k8s.io'] }] },
    },
  });
});
afterAll(() => sb?.close());

const call = async (path: string, token?: string, init: RequestInit = {}) => {
  const r = await fetch(`${sb.url}${path}`, {
    ...init,
    headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), ...(init.headers as Record<string, string>) },
    tls: { ca: sb.caPem },
  } as RequestInit);
  const text = await r.text();
  let body: Record<string, Json>;
  try {
    body = JSON.parse(text) as Record<string, Json>;
  } catch {
    body = { text };
  }
  return { status: r.status, body };
};

// Minimal protobuf writer for the test's own SSAR bodies.
const field = (n: number, bytes: Uint8Array) => new Uint8Array([(n << 3) | 2, bytes.length, ...bytes]);
const str = (n: number, s: string) => field(n, new TextEncoder().encode(s));
const cat = (...parts: Uint8Array[]): Uint8Array<ArrayBuffer> => new Uint8Array(parts.flatMap((p) => [...p]));
function protoReview(attrs: { namespace?: string; verb: string; group?: string; resource: string; subresource?: string }): Uint8Array<ArrayBuffer> {
  const ra = cat(
    ...(attrs.namespace ? [str(1, attrs.namespace)] : []),
    str(2, attrs.verb),
    str(3, attrs.group ?? ''),
    str(5, attrs.resource),
    ...(attrs.subresource ? [str(6, attrs.subresource)] : []),
  );
  const review = cat(field(1, new Uint8Array()), field(2, field(1, ra)));
  const unknown = cat(field(1, cat(str(1, 'authorization.k8s.io/v1'), str(2, 'SelfSubjectAccessReview'))), field(2, review), str(4, 'application/vnd.kubernetes.protobuf'));
  return cat(new Uint8Array([0x6b, 0x38, 0x73, 0x00]), unknown);
}

describe('authentication', () => {
  test('missing and unknown tokens are 401 Unauthorized Status; health stays open', async () => {
    for (const t of [undefined, 'nope']) {
      const r = await call('/api/v1/namespaces', t);
      expect(r.status).toBe(401);
      expect(r.body).toMatchObject({ kind: 'Status', message: 'Unauthorized', reason: 'Unauthorized', code: 401 });
    }
    const health = await fetch(`${sb.url}/readyz`, { tls: { ca: sb.caPem } } as RequestInit);
    expect(health.status).toBe(200);
  });
});

describe('authorization', () => {
  test('403 has the apiserver message shape, and decisions are audited', async () => {
    const before = sb.audit.length;
    expect((await call('/api/v1/namespaces/demo/pods', 'viewer')).status).toBe(200);
    const denied = await call('/api/v1/namespaces/default/pods', 'viewer');
    expect(denied.status).toBe(403);
    expect(denied.body).toMatchObject({
      reason: 'Forbidden',
      message: 'pods is forbidden: User "viewer" cannot list resource "pods" in API group "" in the namespace "default"',
      details: { kind: 'pods' },
    });
    // The core group is "" and Go's omitempty leaves it out of details, as a real apiserver does.
    expect('group' in denied.body.details).toBe(false);
    const named = await call('/apis/apps/v1/namespaces/demo/deployments/hello', 'viewer', { method: 'DELETE' });
    expect(named.body.message).toBe('deployments.apps "hello" is forbidden: User "viewer" cannot delete resource "deployments" in API group "apps" in the namespace "demo"');
    const cluster = await call('/api/v1/nodes', 'viewer');
    expect(cluster.body.message).toBe('nodes is forbidden: User "viewer" cannot list resource "nodes" in API group "" at the cluster scope');
    const logs = await call('/api/v1/namespaces/demo/pods/hello-6d9f7c8b5-abcde/log', 'viewer');
    expect(logs.body.message).toBe('pods "hello-6d9f7c8b5-abcde" is forbidden: User "viewer" cannot get resource "pods/log" in API group "" in the namespace "demo"');
    expect(sb.audit.slice(before).map((a) => `${a.verb} ${a.resource}${a.subresource ? `/${a.subresource}` : ''} ${a.allowed}`)).toEqual([
      'list pods true',
      'list pods false',
      'delete deployments false',
      'list nodes false',
      'get pods/log false',
    ]);
  });

  test('an API the server does not serve is authorized before the 404, like a real apiserver (403 without a grant)', async () => {
    const path = '/apis/metrics.k8s.io/v1beta1/nodes';
    const denied = await call(path, 'viewer');
    expect(denied.status).toBe(403);
    expect(denied.body.message).toBe('nodes.metrics.k8s.io is forbidden: User "viewer" cannot list resource "nodes" in API group "metrics.k8s.io" at the cluster scope');
    const allowed = await call(path, 'metrics');
    expect(allowed.status).toBe(404);
    // No handler serves an unknown group: the real apiserver's mux answers plain text, not a Status.
    expect(allowed.body).toEqual({ text: '404 page not found\n' });
    expect(sb.audit.filter((a) => a.group === 'metrics.k8s.io').map((a) => `${a.user} ${a.verb} ${a.resource} ${a.allowed}`)).toEqual([
      'viewer list nodes false',
      'metrics-reader list nodes true',
    ]);
  });

  test('a SelfSubjectAccessReview without resource or non-resource attributes is 422 Invalid', async () => {
    const r = await call('/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', 'viewer', {
      method: 'POST',
      body: JSON.stringify({ apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: {} }),
      headers: { 'Content-Type': 'application/json' },
    });
    expect(r.status).toBe(422);
    expect(r.body.reason).toBe('Invalid');
  });

  test('SelfSubjectAccessReview answers per policy for JSON and protobuf bodies', async () => {
    const review = async (body: BodyInit, type: string, token: string) =>
      (await call('/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', token, { method: 'POST', body, headers: { 'Content-Type': type } })).body.status.allowed;
    const asJson = (ra: object) => JSON.stringify({ apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: ra } });
    expect(await review(asJson({ verb: 'list', resource: 'pods', namespace: 'demo' }), 'application/json', 'viewer')).toBe(true);
    expect(await review(asJson({ verb: 'list', resource: 'pods', namespace: 'default' }), 'application/json', 'viewer')).toBe(false);
    const proto = 'application/vnd.kubernetes.protobuf';
    expect(await review(protoReview({ verb: 'create', resource: 'pods', subresource: 'exec', namespace: 'x' }), proto, 'execer')).toBe(true);
    expect(await review(protoReview({ verb: 'delete', resource: 'pods', namespace: 'x' }), proto, 'execer')).toBe(false);
    expect(await review(protoReview({ verb: 'get', group: 'apps', resource: 'deployments', namespace: 'demo' }), proto, 'viewer')).toBe(true);
  });

  test('the protobuf decoder reads the attributes and reports truncation as a value', () => {
    const body = protoReview({ namespace: 'ns', verb: 'get', group: 'apps', resource: 'deployments', subresource: 'scale' });
    expect(decodeAccessReview(body)).toEqual({ resourceAttributes: { namespace: 'ns', verb: 'get', group: 'apps', resource: 'deployments', subresource: 'scale' } });
    expect(typeof decodeAccessReview(body.subarray(0, body.length - 3))).toBe('string');
    expect(typeof decodeAccessReview(new Uint8Array([1, 2, 3]))).toBe('string');
  });
});

async function rawTlsUpgrade(path: string, token?: string): Promise<number> {
  const sock = tls.connect({ host: '127.0.0.1', port: sb.port, ca: sb.caPem, servername: 'localhost' });
  await new Promise<void>((r) => sock.once('secureConnect', () => r()));
  const auth = token ? `Authorization: Bearer ${token}\r\n` : '';
  sock.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${auth}\r\n`);
  let text = '';
  for await (const c of sock as unknown as AsyncIterable<Buffer>) text += c.toString();
  return Number(/^HTTP\/1\.1 (\d+)/.exec(text)?.[1]);
}

test('upgrades get 401/403 as plain HTTP before any handshake; exec is authorized as create pods/exec', async () => {
  const path = '/api/v1/namespaces/demo/pods/hello-6d9f7c8b5-abcde/exec?command=true';
  expect(await rawTlsUpgrade(path)).toBe(401);
  expect(await rawTlsUpgrade(path, 'viewer')).toBe(403);
  const before = sb.audit.length;
  expect(await rawTlsUpgrade(path.replace('hello-6d9f7c8b5-abcde', 'missing'), 'execer')).toBe(404);
  expect(sb.audit.slice(before)).toMatchObject([{ verb: 'create', resource: 'pods', subresource: 'exec', namespace: 'demo', allowed: true }]);
});
