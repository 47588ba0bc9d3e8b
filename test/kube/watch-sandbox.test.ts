// The informer against the shared sandbox API server: real watch cache, bookmarks, dropped watches, compaction (410).
import { afterAll, beforeAll, expect, test } from 'bun:test';
import { join } from 'node:path';
import { KubeClient, type KubeObject } from '../../src/kube/client.ts';
import { listWatch } from '../../src/kube/watch.ts';
import { type Sandbox, startSandbox } from '../../src/sandbox/index.ts';
import { Signal } from './support/wait.ts';

const TLS = join(import.meta.dir, '../fixtures/tls');
let sb: Sandbox;
let client: KubeClient;

beforeAll(async () => {
  const ca = await Bun.file(join(TLS, 'ca.crt')).text();
  sb = await startSandbox({
    seed: 'minimal',
    tls: { cert: await Bun.file(join(TLS, 'server.crt')).text(), key: await Bun.file(join(TLS, 'server.key')).text(), ca },
    tokens: { 'agent-token': {} },
    bookmarkIntervalMs: 50,
  });
  client = new KubeClient({ server: sb.url, ca, token: () => 'agent-token', source: 'in-cluster' });
  sb.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'web' } });
});
afterAll(() => sb?.close());

test('informer over the sandbox: events, bookmarks, dropped watch resume, compaction relist with tombstones', async () => {
  const ac = new AbortController();
  const sig = new Signal();
  const log: string[] = [];
  let syncs = 0;
  const cm = (name: string, v: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'web' }, data: { v } });
  sb.apply(cm('a', '1'));
  sb.apply(cm('b', '1'));
  const inf = listWatch<KubeObject>(
    client,
    '/api/v1/namespaces/web/configmaps',
    {
      onAdd: (o) => {
        log.push(`add:${o.metadata?.name}`);
        sig.poke();
      },
      onUpdate: (o) => {
        log.push(`update:${o.metadata?.name}`);
        sig.poke();
      },
      onDelete: (o, i) => {
        log.push(`delete:${o.metadata?.name}${i.tombstone ? ':tombstone' : ''}`);
        sig.poke();
      },
      onSynced: () => {
        syncs++;
        sig.poke();
      },
    },
    { signal: ac.signal, backoff: { initialMs: 5, maxMs: 50 } },
  );
  try {
    await sig.until(() => inf.synced && sb.openStreams().watches === 1, 5000, 'sync');
    expect(log.sort()).toEqual(['add:a', 'add:b']);
    const listRv = Number(inf.resourceVersion);
    sb.apply(cm('a', '2'));
    await sig.until(() => log.length === 3);
    expect(log[2]).toBe('update:a');
    // The RV follows the events (and the 50 ms bookmarks).
    const rvAfterUpdate = Number(inf.resourceVersion);
    expect(rvAfterUpdate).toBeGreaterThan(listRv);
    sb.faults.dropWatches();
    sb.apply(cm('c', '1'));
    await sig.until(() => log.length === 4, 5000, 'event after re-watch');
    expect(log[3]).toBe('add:c');
    expect(syncs).toBe(1);
    // Away long enough for history to be compacted: the re-watch gets 410, the relist finds b gone.
    sb.faults.dropWatches();
    sb.remove('configmaps', 'web', 'b');
    sb.faults.compact();
    await sig.until(() => log.includes('delete:b:tombstone') || log.includes('delete:b'), 5000, 'b deleted');
    expect([...inf.cache().keys()].sort()).toEqual(['web/a', 'web/c']);
  } finally {
    ac.abort();
    await inf.done;
  }
});
