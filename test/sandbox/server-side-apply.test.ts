// Server-side apply in the sandbox (src/sandbox/server-side-apply.ts) over HTTP: fieldManager required, kind and
// apiVersion checked, create-by-apply, fields a manager stops applying are removed unless another applier owns them,
// managedFields recorded per manager, an identical apply keeps the resourceVersion. Gateway API and Istio kinds are
// served at the versions real clusters serve them.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { type Sandbox, startSandbox } from '../../src/sandbox/index.ts';

let sandbox: Sandbox;
beforeAll(async () => {
  sandbox = await startSandbox({ seed: 'minimal' });
  sandbox.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'apps' } });
});
afterAll(async () => {
  await sandbox?.close();
});

const TCPROUTES = '/apis/gateway.networking.k8s.io/v1alpha2/namespaces/apps/tcproutes';
async function apply(path: string, body: unknown, manager: string | null = 'mgr-a', force = true) {
  const q = new URLSearchParams();
  if (manager !== null) q.set('fieldManager', manager);
  if (force) q.set('force', 'true');
  const r = await fetch(`${sandbox.url}${path}?${q}`, { method: 'PATCH', headers: { 'content-type': 'application/apply-patch+yaml' }, body: JSON.stringify(body) });
  return { status: r.status, body: (await r.json()) as Record<string, any> };
}
const route = (labels: Record<string, string>, spec: Record<string, unknown>) => ({ apiVersion: 'gateway.networking.k8s.io/v1alpha2', kind: 'TCPRoute', metadata: { name: 'r', labels }, spec });

describe('server-side apply', () => {
  test('refusals: no fieldManager (422), no kind or another kind, another group (400); nothing is created', async () => {
    const r1 = await apply(`${TCPROUTES}/r`, route({}, {}), null);
    expect(r1.status).toBe(422);
    expect(r1.body.message).toContain('fieldManager: Required value');
    expect((await apply(`${TCPROUTES}/r`, { apiVersion: 'gateway.networking.k8s.io/v1alpha2', metadata: { name: 'r' } })).status).toBe(400);
    expect((await apply(`${TCPROUTES}/r`, { ...route({}, {}), kind: 'UDPRoute' })).status).toBe(400);
    expect((await apply(`${TCPROUTES}/r`, { ...route({}, {}), apiVersion: 'networking.istio.io/v1' })).status).toBe(400);
    expect(sandbox.get('tcproutes', 'apps', 'r')).toBeUndefined();
  });

  test('create, then fields left out are removed; another applier\'s fields stay; managedFields per manager', async () => {
    const c = await apply(`${TCPROUTES}/r`, route({ a: '1', b: '2' }, { parentRefs: [{ name: 'gw' }], rules: [{ backendRefs: [{ name: 's', port: 1 }] }] }));
    expect(c.status).toBe(201);
    expect(c.body.metadata.managedFields).toEqual([
      {
        manager: 'mgr-a',
        operation: 'Apply',
        apiVersion: 'gateway.networking.k8s.io/v1alpha2',
        time: expect.any(String),
        fieldsType: 'FieldsV1',
        fieldsV1: { 'f:metadata': { 'f:labels': { 'f:a': {}, 'f:b': {} } }, 'f:spec': { 'f:parentRefs': {}, 'f:rules': {} } },
      },
    ]);
    // Another manager applies label c.
    expect((await apply(`${TCPROUTES}/r`, { apiVersion: 'gateway.networking.k8s.io/v1alpha2', kind: 'TCPRoute', metadata: { name: 'r', labels: { c: '3', b: '2' } } }, 'mgr-b')).status).toBe(200);
    // mgr-a drops label b (also owned by mgr-b: stays) and label a (only mine: removed) and the rules.
    const u = await apply(`${TCPROUTES}/r`, route({}, { parentRefs: [{ name: 'gw2' }] }));
    expect(u.status).toBe(200);
    expect(u.body.metadata.labels).toEqual({ b: '2', c: '3' });
    expect(u.body.spec).toEqual({ parentRefs: [{ name: 'gw2' }] });
    expect(u.body.metadata.managedFields.map((m: { manager: string }) => m.manager)).toEqual(['mgr-b', 'mgr-a']);
    // The same configuration again: no change, same resourceVersion.
    const again = await apply(`${TCPROUTES}/r`, route({}, { parentRefs: [{ name: 'gw2' }] }));
    expect(again.body.metadata.resourceVersion).toBe(u.body.metadata.resourceVersion);
  });

  test('Gateway API and Istio kinds at the versions clusters serve', async () => {
    for (const path of [
      '/apis/gateway.networking.k8s.io/v1/namespaces/apps/gateways',
      '/apis/gateway.networking.k8s.io/v1alpha2/namespaces/apps/tcproutes',
      '/apis/gateway.networking.k8s.io/v1alpha2/namespaces/apps/udproutes',
      '/apis/networking.istio.io/v1/namespaces/apps/gateways',
      '/apis/networking.istio.io/v1/namespaces/apps/virtualservices',
    ]) {
      const r = await fetch(`${sandbox.url}${path}`);
      expect({ path, status: r.status }).toEqual({ path, status: 200 });
    }
  });
});
