import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { join } from 'node:path';
import { KubeClient } from '../../src/kube/client.ts';
import { type Sandbox, startSandbox } from '../../src/sandbox/index.ts';
import { StateError } from '../../src/state/agent-state.ts';
import { openStateStore } from '../../src/state/index.ts';
import { KubeStateStore, resolveStateNamespace } from '../../src/state/kube-store.ts';
import { FakeKube } from '../kube/support/fake-kube.ts';

const TLS = join(import.meta.dir, '../fixtures/tls');
let sb: Sandbox;
let ca: string;
const NS = 'pipeops-system';
const client = (token: string) => new KubeClient({ server: sb.url, ca, token: () => token, source: 'in-cluster' });
const state = {
  agent_id: 'agent-00112233445566ff',
  cluster_id: 'cluster-1',
  cluster_uuid: 'uuid-1',
  gateway_ws_url: 'wss://gw.example/ws',
  cluster_token: 'sa-token-very-secret',
  cluster_cert_data: Buffer.from('-----BEGIN CERTIFICATE-----\nabc\n-----END CERTIFICATE-----\n').toString('base64'),
};
const LABELS = { 'app.kubernetes.io/name': 'pipeops-agent', 'app.kubernetes.io/managed-by': 'pipeops-agent' };

beforeAll(async () => {
  ca = await Bun.file(join(TLS, 'ca.crt')).text();
  sb = await startSandbox({
    seed: 'minimal',
    tls: { cert: await Bun.file(join(TLS, 'server.crt')).text(), key: await Bun.file(join(TLS, 'server.key')).text(), ca },
    tokens: { 'agent-token': {}, 'read-only-token': { verbs: ['get', 'list', 'watch'] } },
  });
  sb.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
});
afterAll(() => sb?.close());

describe('KubeStateStore against the sandbox', () => {
  test('load of missing objects is empty; save creates both with exact labels, keys and base64 Secret data', async () => {
    const store = openStateStore({ inCluster: true, kube: client('agent-token'), namespace: NS });
    expect(store.describe()).toBe('configmap pipeops-system/pipeops-agent-state + secret pipeops-system/pipeops-agent-secrets');
    expect(await store.load()).toEqual({ agent_id: '', cluster_id: '', cluster_uuid: '', gateway_ws_url: '', cluster_token: '', cluster_cert_data: '' });
    await store.save(state);
    const cm = sb.get('configmaps', NS, 'pipeops-agent-state') as { metadata: { labels: Record<string, string> }; data: Record<string, string> };
    const sec = sb.get('secrets', NS, 'pipeops-agent-secrets') as { type: string; metadata: { labels: Record<string, string> }; data: Record<string, string> };
    expect(cm.metadata.labels).toEqual({ ...LABELS, 'app.kubernetes.io/component': 'state' });
    expect(cm.data).toEqual({ agent_id: state.agent_id, cluster_id: state.cluster_id, cluster_uuid: state.cluster_uuid, gateway_ws_url: state.gateway_ws_url });
    expect(sec.type).toBe('Opaque');
    expect(sec.metadata.labels).toEqual({ ...LABELS, 'app.kubernetes.io/component': 'secrets' });
    expect(Object.keys(sec.data).sort()).toEqual(['cluster_cert_data', 'cluster_token']);
    expect(sec.data.cluster_token).toBe(Buffer.from(state.cluster_token).toString('base64'));
    // cluster_cert_data is already base64 (of the PEM), so it is base64 twice in the object, as upstream.
    expect(sec.data.cluster_cert_data).toBe(Buffer.from(state.cluster_cert_data).toString('base64'));
    expect(await store.load()).toEqual(state);
  });

  test('a second save updates both objects in place', async () => {
    const store = new KubeStateStore(client('agent-token'), { namespace: NS });
    const before = sb.get('configmaps', NS, 'pipeops-agent-state') as { metadata: { uid: string; resourceVersion: string } };
    await store.save({ ...state, cluster_id: '', cluster_token: 'rotated-token-xyz' });
    const after = sb.get('configmaps', NS, 'pipeops-agent-state') as { metadata: { uid: string; resourceVersion: string }; data: Record<string, string> };
    expect(after.metadata.uid).toBe(before.metadata.uid);
    expect(after.metadata.resourceVersion).not.toBe(before.metadata.resourceVersion);
    expect(after.data.cluster_id).toBe('');
    expect((await store.load()).cluster_token).toBe('rotated-token-xyz');
  });

  test('403 is a StateError naming the namespace and the missing permission, without the token', async () => {
    const store = new KubeStateStore(client('read-only-token'), { namespace: 'other-ns', configMapName: 'cm', secretName: 'sec' });
    const e = (await store.save(state).catch((x) => x)) as StateError;
    expect(e).toBeInstanceOf(StateError);
    expect(e.code).toBe('state_forbidden');
    expect(e.message).toContain('forbidden: agent ServiceAccount cannot create configmaps');
    expect(e.message).toContain('other-ns');
    expect(e.message).not.toContain('read-only-token');
  });
});

test('a missing namespace is a StateError that says so', async () => {
  const e = (await new KubeStateStore(client('agent-token'), { namespace: 'no-such-ns' }).save(state).catch((x) => x)) as StateError;
  expect(e.code).toBe('state_namespace_missing');
  expect(e.message).toContain('namespace no-such-ns does not exist');
});

test('a 409 on update re-reads the resourceVersion and retries once', async () => {
  const fake = new FakeKube().start();
  try {
    const c = new KubeClient({ server: fake.url, ca, token: () => 'fake-token-0123456789', source: 'in-cluster' });
    const store = new KubeStateStore(c, { namespace: NS });
    await store.save(state);
    let puts = 0;
    fake.beforePut = (path) => {
      // Someone else writes the ConfigMap between our GET and our PUT, once.
      if (path.endsWith('/configmaps/pipeops-agent-state') && puts++ === 0) fake.put('configmaps', fake.get('configmaps', NS, 'pipeops-agent-state')!);
    };
    await store.save({ ...state, cluster_id: 'after-conflict' });
    expect(puts).toBe(2);
    expect((await store.load()).cluster_id).toBe('after-conflict');
  } finally {
    fake.stop();
  }
});

test('state namespace precedence: option ▸ SA namespace ▸ PIPEOPS_POD_NAMESPACE ▸ pipeops-system', () => {
  const env = { PIPEOPS_POD_NAMESPACE: 'from-env' };
  expect(resolveStateNamespace({ configured: 'opt', serviceAccountNamespace: 'sa', env })).toBe('opt');
  expect(resolveStateNamespace({ serviceAccountNamespace: 'sa', env })).toBe('sa');
  expect(resolveStateNamespace({ env })).toBe('from-env');
  expect(resolveStateNamespace({ env: {} })).toBe('pipeops-system');
});
