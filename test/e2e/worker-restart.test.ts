// A crashed worker is restarted with backoff, counted in metrics, and reflected in /ready.
import { afterEach, expect, test } from 'bun:test';
import { tempDir, testAgent, testHub } from '../support/hub-agent.ts';
import { waitFor } from '../support/wait.ts';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

test('tunnel worker killed: /ready 503 naming it, restarted, counted, session back, heartbeat at once, /ready 200', async () => {
  const hub = await testHub();
  cleanups.push(() => hub.stop());
  const beats: number[] = [];
  hub.agents.tap((_id, m) => m.type === 'heartbeat' && beats.push(Date.now()));
  // An hour between heartbeats: any heartbeat after the restart is the one sent at once on re-registration.
  const agent = await testAgent(hub.url, tempDir(), { agent: { heartbeat_interval: '1h' } });
  cleanups.push(() => agent.stop());
  const ready = async () => fetch(`${agent.url}/ready`);
  await waitFor(async () => (await ready()).status === 200, { what: 'ready' });
  const clusterId = agent.status.snapshot().clusterId;

  await waitFor(() => beats.length === 1, { what: 'the first heartbeat' });
  const first = agent.workers.tunnel.worker!;
  first.terminate();
  const r = await waitFor(async () => {
    const res = await ready();
    return res.status === 503 ? ((await res.json()) as { reasons: string[] }) : null;
  }, { what: '/ready 503' });
  expect(r.reasons.join(' ')).toMatch(/worker tunnel not running|session/);

  await waitFor(() => agent.workers.tunnel.worker && agent.workers.tunnel.worker !== first, { what: 'a new tunnel worker', timeoutMs: 10_000 });
  await waitFor(async () => (await ready()).status === 200, { what: 'ready again', timeoutMs: 10_000 });
  // The heartbeat runs on the tunnel worker's thread: it died and came back with it, and beat once on re-registration.
  await waitFor(() => beats.length === 2, { what: 'a heartbeat from the restarted thread' });
  expect(agent.workers).not.toHaveProperty('heartbeat');
  expect(agent.status.snapshot().clusterId).toBe(clusterId);
  expect(agent.status.snapshot().workers.tunnel?.restarts).toBe(1);
  const metrics = await (await fetch(`${agent.url}/metrics`)).text();
  expect(metrics).toMatch(/pipeops_worker_restarts_total\{worker="tunnel"\} 1/);
  expect(metrics).toMatch(/pipeops_worker_up\{worker="tunnel"\} 1/);
}, 30_000);
