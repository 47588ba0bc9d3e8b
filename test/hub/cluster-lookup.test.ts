import { describe, expect, test } from 'bun:test';
import type { AgentEndpoint } from '../../src/hub/agent-endpoint.ts';
import { ClusterLookup } from '../../src/hub/cluster-lookup.ts';
import type { ClusterRecord } from '../../src/hub/store/types.ts';

function fakeAgents(records: Record<string, { cluster_id: string; token: string }>) {
  const calls: string[] = [];
  const listeners: ((id: string, connected: boolean) => void)[] = [];
  const find = async (k: string) => {
    calls.push(k);
    const r = records[k];
    return r ? ({ cluster_id: r.cluster_id, name: k, k8s_service_token: r.token } as unknown as ClusterRecord) : null;
  };
  const agents = {
    onSession(l: (id: string, connected: boolean) => void) {
      listeners.push(l);
      return () => listeners.splice(listeners.indexOf(l), 1);
    },
  } as unknown as AgentEndpoint;
  return { agents, find, calls, session: (id: string) => listeners.forEach((l) => l(id, true)), listeners };
}

describe('ClusterLookup', () => {
  test('a found record is reused within the TTL: one database lookup, not one per request', async () => {
    const f = fakeAgents({ prod: { cluster_id: 'c-1', token: 't1' } });
    const l = new ClusterLookup(f.agents, f.find, 60_000);
    for (let i = 0; i < 5; i++) expect((await l.find('prod'))?.cluster_id).toBe('c-1');
    expect(f.calls).toEqual(['prod']);
  });

  test('cached: the fresh record without a promise; nothing before the first find, nothing after the TTL', async () => {
    const f = fakeAgents({ prod: { cluster_id: 'c-1', token: 't1' } });
    const l = new ClusterLookup(f.agents, f.find, 60_000);
    expect(l.cached('prod')).toBeUndefined();
    await l.find('prod');
    expect(l.cached('prod')?.cluster_id).toBe('c-1');
    f.session('c-1');
    expect(l.cached('prod')).toBeUndefined();
    const stale = new ClusterLookup(f.agents, f.find, 0);
    await stale.find('prod');
    expect(stale.cached('prod')).toBeUndefined();
  });

  test('after the TTL the database is asked again', async () => {
    const f = fakeAgents({ prod: { cluster_id: 'c-1', token: 't1' } });
    const l = new ClusterLookup(f.agents, f.find, 0);
    await l.find('prod');
    await l.find('prod');
    expect(f.calls).toEqual(['prod', 'prod']);
  });

  test('a session change of the cluster drops its entries, so a re-registered token is used at once', async () => {
    const records = { prod: { cluster_id: 'c-1', token: 'old' } };
    const f = fakeAgents(records);
    const l = new ClusterLookup(f.agents, f.find, 60_000);
    expect((await l.find('prod'))?.k8s_service_token).toBe('old');
    records.prod.token = 'new';
    f.session('c-other');
    expect((await l.find('prod'))?.k8s_service_token).toBe('old');
    f.session('c-1');
    expect((await l.find('prod'))?.k8s_service_token).toBe('new');
  });

  test('a miss is not cached: a cluster registered a moment later is found', async () => {
    const records: Record<string, { cluster_id: string; token: string }> = {};
    const f = fakeAgents(records);
    const l = new ClusterLookup(f.agents, f.find, 60_000);
    expect(await l.find('late')).toBeNull();
    records.late = { cluster_id: 'c-9', token: 't' };
    expect((await l.find('late'))?.cluster_id).toBe('c-9');
  });

  test('close stops listening for sessions', async () => {
    const f = fakeAgents({});
    const l = new ClusterLookup(f.agents, f.find);
    expect(f.listeners.length).toBe(1);
    l.close();
    expect(f.listeners.length).toBe(0);
  });
});

describe('tokenMatches', () => {
  test('compares against the configured list, and sees an in-place change of that list', async () => {
    const { tokenMatches } = await import('../../src/hub/auth.ts');
    const accepted = ['alpha-token', 'beta-token'];
    expect(tokenMatches('beta-token', accepted)).toBe(true);
    expect(tokenMatches('gamma-token', accepted)).toBe(false);
    accepted[1] = 'gamma-token';
    expect(tokenMatches('gamma-token', accepted)).toBe(true);
    expect(tokenMatches('beta-token', accepted)).toBe(false);
    expect(tokenMatches(undefined, accepted)).toBe(false);
    expect(tokenMatches('', ['', 'x'])).toBe(false);
  });
});
