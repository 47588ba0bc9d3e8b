// Whole-system session tests: a real hub and a real agent (workers and all) on loopback.
import { afterEach, describe, expect, test } from 'bun:test';
import type { RunningAgent } from '../../src/agent/run.ts';
import { adminClusters, AGENT_TOKEN, tempDir, testAgent, testHub } from '../support/hub-agent.ts';
import { waitFor } from '../support/wait.ts';
import { join } from 'node:path';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
const track = <T extends { stop(): Promise<unknown> }>(x: T): T => {
  cleanups.push(() => x.stop());
  return x;
};
const ready = async (a: RunningAgent) => (await fetch(`${a.url}/ready`)).status;

describe('control-plane session', () => {
  test('registers, shows connected in the admin API, heartbeats at the configured interval', async () => {
    const hub = track(await testHub());
    const beats: number[] = [];
    hub.agents.tap((_id, m) => m.type === 'heartbeat' && beats.push(Date.now()));
    const agent = track(await testAgent(hub.url, tempDir()));
    const [c] = await waitFor(async () => {
      const cs = await adminClusters(hub);
      return cs.length === 1 && cs[0]!.connected ? cs : null;
    }, { what: 'cluster connected' });
    expect(c!.name).toBe('test-cluster');
    expect(c!.status).toBe('connected');
    expect(String(c!.agent_id)).toMatch(/^agent-[0-9a-f]{16}$/);
    await waitFor(() => beats.length >= 5, { what: '5 heartbeats', timeoutMs: 5000 });
    const gaps = beats.slice(1).map((t, i) => t - beats[i]!);
    // Configured 300 ms: every gap after the first must be close to it (first one follows registration).
    for (const g of gaps.slice(1)) {
      expect(g).toBeGreaterThan(200);
      expect(g).toBeLessThan(900);
    }
    expect((await adminClusters(hub))[0]!.last_heartbeat).toBeTruthy();
    expect(await ready(agent)).toBe(200);
  });

  test('hub restarted with its state: agent reconnects within the backoff bound, keeps its cluster id, /ready 503 → 200', async () => {
    const dir = tempDir();
    const state = join(dir, 'hub.db');
    let hub = await testHub({ state });
    const port = hub.port;
    const agent = track(await testAgent(hub.url, dir));
    await waitFor(async () => (await ready(agent)) === 200, { what: 'agent ready' });
    const id = agent.status.snapshot().clusterId;
    expect(id).toBeTruthy();

    await hub.stop();
    await waitFor(async () => (await ready(agent)) === 503, { what: '/ready 503 after hub stop' });
    const down = Date.now();
    hub = await testHub({ state, port });
    cleanups.push(() => hub.stop());
    await waitFor(async () => (await ready(agent)) === 200, { what: '/ready 200 after hub restart', timeoutMs: 10_000 });
    // Backoff max is 1 s (jitter included) in the test config; allow handshake and a heartbeat on top.
    expect(Date.now() - down).toBeLessThan(4000);
    expect(agent.status.snapshot().clusterId).toBe(id);
    const cs = await adminClusters(hub);
    expect(cs.map((c) => c.cluster_id)).toEqual([id]);
    expect(cs[0]!.connected).toBe(true);
  });

  test('hub restarted with its state wiped: agent is told "cluster not found" and registers again after a gateway hand-off', async () => {
    const dir = tempDir();
    let hub = await testHub({ state: join(dir, 'hub-1.db') });
    const port = hub.port;
    const agent = track(await testAgent(hub.url, dir));
    await waitFor(async () => (await ready(agent)) === 200, { what: 'agent ready' });
    expect(agent.status.snapshot().connection.mode).toBe('gateway');
    await hub.stop();
    hub = await testHub({ state: join(dir, 'hub-2.db'), port });
    cleanups.push(() => hub.stop());
    const seen: string[] = [];
    hub.agents.tap((_id, m) => seen.push(m.type));
    await waitFor(async () => {
      const cs = await adminClusters(hub);
      return cs.length === 1 && cs[0]!.connected;
    }, { what: 're-registered cluster connected', timeoutMs: 10_000 });
    expect(seen).toContain('register');
    await waitFor(async () => (await ready(agent)) === 200, { what: 'ready again' });
    expect(agent.status.snapshot().connection.mode).toBe('gateway');
    expect(agent.status.snapshot().clusterId).toBe(String((await adminClusters(hub))[0]!.cluster_id));
  });

  test('same, without a gateway hand-off (controller mode): re-registration happens too', async () => {
    const dir = tempDir();
    let hub = await testHub({ state: join(dir, 'a.db'), handoff: false });
    const port = hub.port;
    const agent = track(await testAgent(hub.url, dir));
    await waitFor(async () => (await ready(agent)) === 200, { what: 'agent ready' });
    expect(agent.status.snapshot().connection.mode).toBe('controller');
    await hub.stop();
    hub = await testHub({ state: join(dir, 'b.db'), handoff: false, port });
    cleanups.push(() => hub.stop());
    await waitFor(async () => (await adminClusters(hub)).some((c) => c.connected), { what: 'registered on the new hub', timeoutMs: 10_000 });
    await waitFor(async () => (await ready(agent)) === 200, { what: 'ready again' });
  });

  test('controller mode, hub restarted with its state: the agent redials without register and keeps its cluster id', async () => {
    const dir = tempDir();
    const state = join(dir, 'c.db');
    let hub = await testHub({ state, handoff: false });
    const port = hub.port;
    const agent = track(await testAgent(hub.url, dir));
    await waitFor(async () => (await ready(agent)) === 200, { what: 'agent ready' });
    const id = agent.status.snapshot().clusterId;
    await hub.stop();
    hub = await testHub({ state, handoff: false, port });
    cleanups.push(() => hub.stop());
    const seen: string[] = [];
    hub.agents.tap((_id, m) => seen.push(m.type));
    // The first heartbeat on the redialled socket binds it to the cluster (upstream sends no register there).
    await waitFor(async () => (await adminClusters(hub)).some((c) => c.connected), { what: 'session bound again', timeoutMs: 10_000 });
    expect(seen).not.toContain('register');
    expect(seen).toContain('heartbeat');
    expect(agent.status.snapshot().clusterId).toBe(id);
    expect((await adminClusters(hub)).map((c) => c.cluster_id)).toEqual([id]);
    // The rebound session keeps the extensions the agent advertised when it registered (stored with the cluster).
    expect([...(hub.agents.sessions.get(id!)?.extensions ?? [])]).toContain('raw_upgrade');
  });

  test('hub down when the agent starts: the agent keeps retrying and registers once the hub comes up', async () => {
    const probe = await testHub();
    const port = probe.port;
    await probe.stop();
    const dir = tempDir();
    const agent = track(await testAgent(`http://127.0.0.1:${port}`, dir));
    await waitFor(() => agent.status.snapshot().connection.lastError, { what: 'a failed dial' });
    expect(await ready(agent)).toBe(503);
    const hub = track(await testHub({ port }));
    await waitFor(async () => (await adminClusters(hub)).some((c) => c.connected), { what: 'registered', timeoutMs: 10_000 });
    await waitFor(async () => (await ready(agent)) === 200, { what: 'ready' });
  });

  test('session resumption: a restarted agent dials the persisted gateway URL without sending register', async () => {
    const dir = tempDir();
    const hub = track(await testHub());
    const types: string[] = [];
    hub.agents.tap((_id, m) => types.push(m.type));
    const a1 = await testAgent(hub.url, dir);
    await waitFor(async () => (await ready(a1)) === 200, { what: 'first agent ready' });
    const id = a1.status.snapshot().clusterId;
    await a1.stop();
    types.length = 0;
    const a2 = track(await testAgent(hub.url, dir));
    await waitFor(async () => (await ready(a2)) === 200, { what: 'second agent ready' });
    expect(a2.status.snapshot().clusterId).toBe(id);
    // Readiness does not wait for the first heartbeat; the heartbeat follows right after the session is up.
    await waitFor(() => types.includes('heartbeat'), { what: 'a heartbeat on the resumed session' });
    expect(types).not.toContain('register');
  });

  test('the agent token is never in its logs', async () => {
    const hub = track(await testHub());
    const lines: string[] = [];
    const { runAgent } = await import('../../src/agent/run.ts');
    const { agentConfig, withCluster } = await import('../support/hub-agent.ts');
    const dir = tempDir();
    const cfg = agentConfig(hub.url, dir, await withCluster(dir, { logging: { level: 'debug' } }));
    const agent = track(await runAgent(cfg, { env: {}, logSink: (l) => lines.push(l) }));
    await waitFor(async () => (await ready(agent)) === 200, { what: 'ready' });
    expect(lines.length).toBeGreaterThan(5);
    expect(lines.join('\n')).not.toContain(AGENT_TOKEN);
  });
});
