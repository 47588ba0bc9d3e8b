// Settings that change behaviour are exercised end to end (L5: every documented key has an effect).
import { afterEach, describe, expect, test } from 'bun:test';
import { NO_KUBERNETES_REASON } from '../../src/agent/status.ts';
import { prettyLine } from '../../src/log/pretty.ts';
import { tempDir, testAgent, testHub } from '../support/hub-agent.ts';
import { waitFor } from '../support/wait.ts';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('configuration effects', () => {
  test('truthful_readiness_probe=false: /ready is 200 (backward compatible) even before registration', async () => {
    const hub = await testHub();
    await hub.stop(); // nothing listens: the agent cannot register
    const agent = await testAgent(hub.url, tempDir(), { agent: { truthful_readiness_probe: false } });
    cleanups.push(() => agent.stop());
    const r = await fetch(`${agent.url}/ready`);
    expect(r.status).toBe(200);
    expect(((await r.json()) as { mode: string }).mode).toBe('backward_compatible');
  });

  test('no Kubernetes API (no kubeconfig, not in a cluster): registered and connected, yet /ready 503 naming the cause', async () => {
    const hub = await testHub();
    cleanups.push(() => hub.stop());
    const agent = await testAgent(hub.url, tempDir(), { kubernetes: { kubeconfig: '' } });
    cleanups.push(() => agent.stop());
    await waitFor(() => agent.status.snapshot().connection.state === 'connected' && agent.status.snapshot().connection.registered, { what: 'session up' });
    const r = await fetch(`${agent.url}/ready`);
    expect(r.status).toBe(503);
    const body = (await r.json()) as { reason: string; reasons: string[]; registered: boolean };
    expect(body.registered).toBe(true);
    expect(body.reasons).toEqual([NO_KUBERNETES_REASON]);
    expect(body.reason).toContain('no Kubernetes API configured');
    expect(body.reason).toContain('kubeconfig');
  });

  test('heartbeat interval is the configured one while connected', async () => {
    const hub = await testHub();
    cleanups.push(() => hub.stop());
    const beats: number[] = [];
    hub.agents.tap((_id, m) => m.type === 'heartbeat' && beats.push(Date.now()));
    const agent = await testAgent(hub.url, tempDir(), { agent: { heartbeat_interval: '150ms' } });
    cleanups.push(() => agent.stop());
    await waitFor(() => beats.length >= 6, { what: '6 heartbeats' });
    const gaps = beats.slice(2).map((t, i) => t - beats[i + 1]!);
    for (const g of gaps) expect(g).toBeLessThan(600);
  });

  test('logging.format=pretty renders one readable line per event', () => {
    const line = prettyLine('{"level":"warn","time":"2026-11-21T19:00:00.123Z","pid":1,"component":"tunnel","endpoint":"ws://h/x","msg":"dialing"}\n');
    expect(line).toBe('19:00:00.123 WARN  [tunnel] dialing  endpoint=ws://h/x\n');
    expect(prettyLine('not json')).toBe('not json\n');
  });
});
