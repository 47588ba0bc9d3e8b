// The hub holds at most one session per cluster: a second agent connection for a cluster replaces the first, which
// is closed with 1000 "session replaced" (src/hub/agent-endpoint.ts). Its session events then show two `connected`
// in a row — what test/e2e/agent-ha.test.ts checks never happens with leader election on (docs/high-availability.md).
import { afterAll, expect, test } from 'bun:test';
import type { Hub } from '../../src/hub/server.ts';
import { AGENT_TOKEN, testHub } from '../support/hub-agent.ts';
import { waitFor } from '../support/wait.ts';
import { connectFakeAgent } from './fake-agent.ts';

let hub: Hub;
afterAll(() => hub?.stop());

test('a second session for a cluster replaces the first: one session held, the first closed with 1000', async () => {
  hub = await testHub();
  const events: boolean[] = [];
  hub.agents.onSession((_id, connected) => events.push(connected));
  const first = await connectFakeAgent(hub, 'replaced', 'sa-token');
  const closed = new Promise<{ code: number; reason: string }>((resolve) => first.ws.addEventListener('close', (e) => resolve({ code: e.code, reason: e.reason })));
  const gatewayUrl = `${hub.wsUrl}/gateway/ws?cluster_uuid=${encodeURIComponent(first.clusterId)}`;
  const second = new WebSocket(gatewayUrl, { headers: { Authorization: `Bearer ${AGENT_TOKEN}` } } as unknown as string[]);
  await new Promise((resolve) => second.addEventListener('open', resolve, { once: true }));
  expect(await closed).toEqual({ code: 1000, reason: 'session replaced' });
  await waitFor(() => events.length === 2, { what: 'the second session event' });
  expect(events).toEqual([true, true]);
  expect(hub.agents.isConnected(first.clusterId)).toBe(true);
  expect([...hub.agents.sessions.keys()].filter((id) => id === first.clusterId).length).toBe(1);
  second.close();
});
