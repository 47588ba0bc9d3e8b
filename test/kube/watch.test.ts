import { afterEach, beforeEach, describe, expect, test } from 'bun:test';
import { KubeClient, type KubeObject } from '../../src/kube/client.ts';
import { type Informer, listWatch } from '../../src/kube/watch.ts';
import { backoffDelay as policyDelay } from '../../src/timing/backoff.ts';

/** The watch's relist policy, as src/kube/watch.ts builds it. */
const backoffDelay = (attempt: number, baseMs: number, maxMs: number, random: () => number) =>
  policyDelay({ baseMs, maxMs, jitter: { kind: 'equal' } }, attempt, random);
import { CA_PEM, FakeKube } from './support/fake-kube.ts';
import { Signal } from './support/wait.ts';

const TOKEN = 'fake-token-0123456789';
const PATH = '/api/v1/namespaces/app/configmaps';
let fake: FakeKube;
let ac: AbortController;

type Ev = { kind: 'add' | 'update' | 'delete'; name: string; rv?: string; tombstone?: boolean };

function start(): { inf: Informer<KubeObject>; events: Ev[]; sig: Signal; syncs: () => number; errors: Error[] } {
  const events: Ev[] = [];
  const errors: Error[] = [];
  const sig = new Signal();
  let syncs = 0;
  const name = (o: KubeObject) => o.metadata?.name ?? '';
  const inf = listWatch<KubeObject>(
    new KubeClient({ server: fake.url, ca: CA_PEM, token: () => TOKEN, source: 'explicit' }),
    PATH,
    {
      onAdd: (o) => {
        events.push({ kind: 'add', name: name(o), rv: o.metadata?.resourceVersion });
        sig.poke();
      },
      onUpdate: (o) => {
        events.push({ kind: 'update', name: name(o), rv: o.metadata?.resourceVersion });
        sig.poke();
      },
      onDelete: (o, i) => {
        events.push({ kind: 'delete', name: name(o), tombstone: i.tombstone });
        sig.poke();
      },
      onSynced: () => {
        syncs++;
        sig.poke();
      },
      onError: (e) => {
        errors.push(e);
        sig.poke();
      },
    },
    { signal: ac.signal, backoff: { initialMs: 5, maxMs: 50 } },
  );
  return { inf, events, sig, syncs: () => syncs, errors };
}

const cm = (name: string, v: string) => ({ metadata: { name, namespace: 'app' }, data: { v } });
const watchRequests = () => fake.seen.filter((s) => s.path.startsWith(PATH) && s.path.includes('watch=1'));
const openWatches = () => [...fake.watchers].length;

beforeEach(() => {
  fake = new FakeKube().start();
  ac = new AbortController();
});
afterEach(async () => {
  ac.abort();
  fake.stop();
});

describe('listWatch', () => {
  test('list then add/update/delete from the watch', async () => {
    fake.put('configmaps', cm('a', '1'));
    fake.put('configmaps', cm('b', '1'));
    const { inf, events, sig } = start();
    await sig.until(() => inf.synced && openWatches() === 1, 5000, 'sync + watch');
    expect(events.map((e) => `${e.kind}:${e.name}`).sort()).toEqual(['add:a', 'add:b']);
    expect(inf.resourceVersion).toBe(String(fake.rv));
    fake.put('configmaps', cm('c', '1'));
    fake.put('configmaps', cm('a', '2'));
    fake.remove('configmaps', 'app', 'b');
    await sig.until(() => events.length === 5, 5000, '3 watch events');
    expect(events.slice(2).map((e) => `${e.kind}:${e.name}`)).toEqual(['add:c', 'update:a', 'delete:b']);
    expect(events[4]?.tombstone).toBe(false);
    expect([...inf.cache().keys()].sort()).toEqual(['app/a', 'app/c']);
    expect(inf.cache().get('app/a')?.data).toEqual({ v: '2' });
    expect(watchRequests()[0]?.path).toContain('allowWatchBookmarks=true');
  });

  test('event lines split across chunks are reassembled', async () => {
    fake.splitLines = true;
    const { inf, events, sig } = start();
    await sig.until(() => inf.synced && openWatches() === 1);
    fake.put('configmaps', cm('split', 'x'.repeat(5000)));
    await sig.until(() => events.length === 1);
    expect(events[0]).toMatchObject({ kind: 'add', name: 'split' });
  });

  test('a dropped watch resumes from the last RV without duplicate adds', async () => {
    fake.put('configmaps', cm('a', '1'));
    const { inf, events, sig, syncs } = start();
    await sig.until(() => inf.synced && openWatches() === 1);
    fake.put('configmaps', cm('b', '1'));
    await sig.until(() => events.length === 2);
    const rvBefore = inf.resourceVersion;
    fake.dropWatches();
    await sig.until(() => watchRequests().length === 2 && openWatches() === 1, 5000, 're-watch');
    expect(watchRequests()[1]?.path).toContain(`resourceVersion=${rvBefore}`);
    fake.put('configmaps', cm('c', '1'));
    await sig.until(() => events.length === 3);
    expect(events.map((e) => `${e.kind}:${e.name}`)).toEqual(['add:a', 'add:b', 'add:c']);
    expect(syncs()).toBe(1); // no relist
  });

  test('410 relists and diffs: deletions while away become tombstone deletes, changes become updates', async () => {
    fake.put('configmaps', cm('keep', '1'));
    fake.put('configmaps', cm('gone', '1'));
    fake.put('configmaps', cm('changed', '1'));
    const { inf, events, sig, syncs } = start();
    await sig.until(() => inf.synced && openWatches() === 1);
    expect(events.length).toBe(3);
    // Away: the watch is cut, history is compacted, and things change meanwhile.
    fake.dropWatches();
    fake.remove('configmaps', 'app', 'gone', true);
    fake.put('configmaps', cm('changed', '2'));
    fake.put('configmaps', cm('new', '1'));
    fake.expireBelow = fake.rv + 1;
    await sig.until(() => syncs() === 2 && events.length === 6, 5000, 'relist');
    const after = events.slice(3).map((e) => `${e.kind}:${e.name}${e.tombstone ? ':tombstone' : ''}`);
    expect(after.sort()).toEqual(['add:new', 'delete:gone:tombstone', 'update:changed']);
    expect([...inf.cache().keys()].sort()).toEqual(['app/changed', 'app/keep', 'app/new']);
  });

  test('bookmarks advance the RV used by the next watch', async () => {
    const { inf, sig } = start();
    await sig.until(() => inf.synced && openWatches() === 1);
    const bm = fake.bookmark('configmaps');
    await sig.until(() => inf.resourceVersion === String(bm), 5000, 'bookmark RV');
    fake.dropWatches();
    await sig.until(() => watchRequests().length === 2);
    expect(watchRequests()[1]?.path).toContain(`resourceVersion=${bm}`);
  });

  test('list errors are reported and retried', async () => {
    let n = 0;
    fake.forbid = (m, p) => m === 'GET' && p === PATH && n++ < 2;
    const { inf, sig, errors } = start();
    await sig.until(() => inf.synced, 5000, 'sync after retries');
    expect(errors.length).toBe(2);
    expect(errors[0]?.message).toContain('forbidden');
  });
});

test('backoffDelay is exponential, jittered and capped', () => {
  expect(backoffDelay(0, 500, 30_000, () => 0)).toBe(250);
  expect(backoffDelay(0, 500, 30_000, () => 1)).toBe(500);
  expect(backoffDelay(3, 500, 30_000, () => 1)).toBe(4000);
  expect(backoffDelay(20, 500, 30_000, () => 1)).toBe(30_000);
  expect(backoffDelay(20, 500, 30_000, () => 0)).toBe(15_000);
});
