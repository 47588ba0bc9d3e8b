// @kubernetes/client-node 2.0.1 under Bun against the sandbox over HTTPS with the fixture CA from a kubeconfig
// (the bunfig preload makes client-node honour it): list, informer, 410 relist, bookmarks, log follow.
import { afterAll, beforeAll, expect, test } from 'bun:test';
import { PassThrough } from 'node:stream';
import * as k8s from '@kubernetes/client-node';
import { type Sandbox, startSandbox } from '../../src/sandbox/index.ts';
import { tlsFixture } from './kubectl-process.ts';

let sb: Sandbox;
let kc: k8s.KubeConfig;

beforeAll(async () => {
  sb = await startSandbox({ seed: 'demo', tls: await tlsFixture(), tokens: { 'client-token': {} }, bookmarkIntervalMs: 100 });
  kc = new k8s.KubeConfig();
  kc.loadFromString(sb.kubeconfig({ token: 'client-token' }));
});
afterAll(() => sb?.close());

/** Resolves when `check` passes after an informer callback; the timeout only guards against a hang. */
function eventually<T>(subscribe: (notify: () => void) => void, check: () => T | undefined, what: string, timeoutMs = 10_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), timeoutMs);
    const notify = () => {
      const v = check();
      if (v !== undefined) {
        clearTimeout(timer);
        resolve(v);
      }
    };
    subscribe(notify);
    notify();
  });
}

function pod(ns: string, name: string, labels: Record<string, string> = {}) {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: ns, labels }, spec: { containers: [{ name: 'main', image: 'busybox' }] } };
}

test('listNamespacedPod returns the seeded pods with a resourceVersion', async () => {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const list = await core.listNamespacedPod({ namespace: 'demo' });
  expect(list.items.map((p) => p.metadata?.name).sort()).toEqual(['hello-6d9f7c8b5-abcde', 'hello-6d9f7c8b5-fghij']);
  expect(Number(list.metadata?.resourceVersion)).toBeGreaterThan(0);
  const svc = await core.readNamespacedService({ namespace: 'pipeops-system', name: 'traefik' });
  expect(svc.spec?.ports?.map((p) => p.name)).toEqual(['web', 'websecure']);
});

test('a wrong token is a 401 ApiException', async () => {
  const bad = new k8s.KubeConfig();
  bad.loadFromString(sb.kubeconfig({ token: 'wrong' }));
  const err = await bad.makeApiClient(k8s.CoreV1Api).listNamespace().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(k8s.ApiException);
  expect((err as k8s.ApiException<unknown>).code).toBe(401);
});

test('informer sees add, update and delete, then relists after 410', async () => {
  sb.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'informer' } });
  sb.apply(pod('informer', 'first'));
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const informer = k8s.makeInformer<k8s.V1Pod>(kc, '/api/v1/namespaces/informer/pods', () => core.listNamespacedPod({ namespace: 'informer' }));
  const seen: string[] = [];
  const listeners: (() => void)[] = [];
  const record = (what: string) => (p: k8s.V1Pod) => {
    seen.push(`${what}:${p.metadata?.name}:${p.metadata?.labels?.v ?? ''}`);
    for (const l of listeners) l();
  };
  informer.on('add', record('add'));
  informer.on('update', record('update'));
  informer.on('delete', record('delete'));
  const has = (s: string) => (seen.includes(s) ? true : undefined);
  const waitSeen = (s: string) => eventually((n) => listeners.push(n), () => has(s), `informer event ${s}; saw ${seen.join(' ')}`);
  await informer.start();
  try {
    await waitSeen('add:first:');
    sb.apply(pod('informer', 'second'));
    await waitSeen('add:second:');
    sb.apply(pod('informer', 'second', { v: '2' }));
    await waitSeen('update:second:2');
    sb.remove('pods', 'informer', 'second');
    await waitSeen('delete:second:2');

    // Writes elsewhere move the global RV past the informer's; compacting then makes its RV too old, so after
    // the dropped watch the re-watch gets ERROR 410 and the informer must relist to see what it missed.
    const before = sb.requests.length;
    const informerRv = sb.store.resourceVersion;
    sb.apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'elsewhere', namespace: 'default' } });
    sb.faults.compact();
    sb.faults.dropWatches();
    sb.apply(pod('informer', 'while-away'));
    await waitSeen('add:while-away:');
    const after = sb.requests.slice(before).map((r) => r.url);
    expect(after[0]).toBe(`/api/v1/namespaces/informer/pods?watch=true&resourceVersion=${informerRv}`);
    expect(after).toContain('/api/v1/namespaces/informer/pods');
    expect(seen.filter((s) => s === 'add:while-away:')).toHaveLength(1);
  } finally {
    await informer.stop();
  }
}, 20_000);

test('raw Watch with allowWatchBookmarks receives BOOKMARK events', async () => {
  const events: { type: string; rv: string }[] = [];
  let notify: () => void = () => {};
  const watch = new k8s.Watch(kc);
  const req = await watch.watch(
    '/api/v1/namespaces/demo/pods',
    { allowWatchBookmarks: true, resourceVersion: String(sb.store.resourceVersion) },
    (type, obj: k8s.KubernetesObject) => {
      events.push({ type, rv: obj.metadata?.resourceVersion ?? '' });
      notify();
    },
    () => {},
  );
  try {
    const bm = await eventually(
      (n) => {
        notify = n;
      },
      () => events.find((e) => e.type === 'BOOKMARK'),
      'a BOOKMARK event',
    );
    expect(bm.rv).toBe(String(sb.store.resourceVersion));
  } finally {
    req.abort();
  }
});

test('Log follow receives lines appended after it started and ends with endLogs', async () => {
  const out = new PassThrough();
  let text = '';
  let notify: () => void = () => {};
  out.on('data', (d: Buffer) => {
    text += d.toString();
    notify();
  });
  const ended = new Promise<void>((resolve) => out.on('end', () => resolve()));
  const log = new k8s.Log(kc);
  const ctrl = await log.log('demo', 'hello-6d9f7c8b5-abcde', 'hello', out, { follow: true, tailLines: 1 });
  try {
    const waitText = (s: string) => eventually((n) => { notify = n; }, () => (text.includes(s) ? true : undefined), `log text "${s}"; got ${JSON.stringify(text)}`);
    await waitText('"GET / HTTP/1.1" 200');
    expect(text).not.toContain('Configuration complete');
    sb.appendLog('demo', 'hello-6d9f7c8b5-abcde', 'hello', 'appended while following');
    await waitText('appended while following\n');
    sb.endLogs('demo', 'hello-6d9f7c8b5-abcde', 'hello');
    await ended;
  } finally {
    ctrl.abort();
  }
});
