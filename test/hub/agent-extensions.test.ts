// Issue 11 item 9: our agent names its protocol extensions (gateway query `pipeops_extensions`, register
// `metadata.pipeops_extensions`); the hub keeps each session's set and uses an extension only when advertised.
import { afterAll, describe, expect, test } from 'bun:test';
import type { Hub } from '../../src/hub/server.ts';
import { adminClusters, tempDir, testAgent, testHub, USER_TOKEN } from '../support/hub-agent.ts';
import { waitFor } from '../support/wait.ts';
import { connectFakeAgent } from './fake-agent.ts';

const ALL = ['binary_chunks', 'long_streams', 'raw_frames', 'raw_upgrade'];
const stops: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const s of stops.reverse()) await s();
});

async function hubWith(over: Parameters<typeof testHub>[0] = {}): Promise<Hub> {
  const hub = await testHub(over);
  stops.push(() => hub.stop());
  return hub;
}

describe('our agent advertises its extensions; the hub keeps them per session', () => {
  for (const handoff of [true, false])
    test(`${handoff ? 'gateway session (query parameter)' : 'controller session, no hand-off (register metadata)'}`, async () => {
      const hub = await hubWith({ handoff });
      const agent = await testAgent(hub.url, tempDir());
      stops.push(() => agent.stop());
      await waitFor(() => hub.agents.sessions.size === 1, { what: 'agent session' });
      const session = [...hub.agents.sessions.values()][0]!;
      expect(session.kind).toBe(handoff ? 'gateway' : 'controller');
      expect([...session.extensions].sort() as string[]).toEqual(ALL);
      const [view] = await adminClusters(hub);
      expect(view!.extensions).toEqual(ALL);
    });
});

describe('an agent that advertises nothing (the upstream Go agent) gets no extension', () => {
  test('no binary_chunks on its proxy_requests; the advertising agent gets it', async () => {
    const hub = await hubWith();
    const upstream = await connectFakeAgent(hub, 'upstream', 'sa-upstream-123456', '');
    const ours = await connectFakeAgent(hub, 'ours', 'sa-ours-1234567');
    stops.push(
      () => upstream.close(),
      () => ours.close(),
    );
    expect(hub.agents.sessions.get(upstream.clusterId)!.extensions.size).toBe(0);
    const views = await adminClusters(hub);
    expect(views.find((v) => v.cluster_id === upstream.clusterId)!.extensions).toEqual([]);
    for (const a of [upstream, ours])
      a.handler = (r, self) => self.respondJson(r.message.requestId!, 200, { 'Content-Type': ['application/json'] }, new TextEncoder().encode('{}'), 'base64');
    for (const a of [upstream, ours]) {
      const r = await fetch(`${hub.kubeUrl}/clusters/${a.clusterId}/k8s/api/v1/namespaces`, { headers: { authorization: `Bearer ${USER_TOKEN}` }, tls: { ca: hub.kubeCaPem } } as RequestInit);
      expect(r.status).toBe(200);
      await r.text();
    }
    expect('binary_chunks' in upstream.requests.at(-1)!.message.payload).toBe(false);
    expect(ours.requests.at(-1)!.message.payload.binary_chunks).toBe(true);
  });

  test('unknown names in the list are ignored', async () => {
    const hub = await hubWith();
    const a = await connectFakeAgent(hub, 'newer', 'sa-newer-1234567', 'raw_upgrade,teleport, binary_chunks');
    stops.push(() => a.close());
    expect([...hub.agents.sessions.get(a.clusterId)!.extensions].sort() as string[]).toEqual(['binary_chunks', 'raw_upgrade']);
  });
});
