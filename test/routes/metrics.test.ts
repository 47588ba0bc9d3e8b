import { expect, test } from 'bun:test';
import { createAgentApp } from '../../src/agent/http-app.ts';
import { AgentMetrics } from '../../src/agent/metrics.ts';
import { makeDeps, makeReady } from '../agent/api-fixture.ts';
import { parsePromText } from './prom-text.ts';

const REQUIRED = [
  'pipeops_agent_status',
  'pipeops_tunnel_status',
  'pipeops_heartbeat_total',
  'pipeops_heartbeat_errors_total',
  'pipeops_registration_attempts_total',
  'pipeops_http_requests_total',
  'pipeops_tunnel_forwards_active',
  'pipeops_bun_heap_bytes',
  'pipeops_bun_heap_objects',
];

test('the exposition parser rejects malformed text (so the checks below can fail)', () => {
  expect(() => parsePromText('pipeops_x{a="1" 2\n')).toThrow(/line 1/);
  expect(() => parsePromText('# TYPE pipeops_x countr\n')).toThrow(/malformed comment/);
  expect(() => parsePromText('pipeops_x one\n')).toThrow();
  expect(parsePromText('a_b{x="y\\"z",q="1"} 1.5e3\n').samples[0]).toEqual({ name: 'a_b', labels: { x: 'y\\"z', q: '1' }, value: 1500 });
});

test('/metrics is valid Prometheus text with every required name and scrape-time gauges', async () => {
  // Default collectors on: they must parse too.
  const deps = makeDeps({ metrics: new AgentMetrics() });
  const app = createAgentApp(deps);
  Bun.gc(false); // JSC heap figures describe the last GC; make sure one has run (see src/runtime/heap-stats.ts)
  let res = await app.request('/metrics');
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
  let parsed = parsePromText(await res.text());
  for (const name of REQUIRED) {
    expect(parsed.helps.has(name)).toBe(true);
    expect(parsed.types.has(name)).toBe(true);
  }
  const value = (name: string) => parsed.samples.find((s) => s.name === name)?.value;
  expect(value('pipeops_agent_status')).toBe(0);
  expect(value('pipeops_tunnel_status')).toBe(1); // connecting
  expect(value('pipeops_bun_heap_bytes')).toBeGreaterThan(0);
  expect(value('pipeops_bun_heap_objects')).toBeGreaterThan(0);

  makeReady(deps.status);
  res = await app.request('/metrics');
  parsed = parsePromText(await res.text());
  expect(value('pipeops_agent_status')).toBe(1);
  expect(value('pipeops_tunnel_status')).toBe(2);
});

test('pipeops_http_requests_total is labelled by route pattern, never by raw path', async () => {
  const app = createAgentApp(makeDeps());
  await app.request('/health');
  await app.request('/ready');
  for (let i = 0; i < 5; i++) await app.request(`/random/${crypto.randomUUID()}`);
  await app.request(`/api/v1/namespaces/${crypto.randomUUID()}`);
  const { samples } = parsePromText(await (await app.request('/metrics')).text());
  const reqs = samples.filter((s) => s.name === 'pipeops_http_requests_total');
  const routes = new Set(reqs.map((s) => s.labels.route));
  expect(routes).toEqual(new Set(['/health', '/ready', 'unmatched', '/api/v1/*']));
  expect(reqs.find((s) => s.labels.route === 'unmatched')).toMatchObject({ labels: { method: 'GET', status: '404' }, value: 5 });
  expect(reqs.find((s) => s.labels.route === '/ready')?.labels.status).toBe('503');
});

test('/api/metrics/runtime reports memory, JSC heap, uptime, lag, bun version and workers', async () => {
  const deps = makeDeps();
  makeReady(deps.status);
  Bun.gc(false);
  const body = (await (await createAgentApp(deps).request('/api/metrics/runtime')).json()) as {
    memory: Record<string, number>;
    jsc_heap: Record<string, number>;
    runtime: Record<string, unknown>;
    workers: Array<Record<string, unknown>>;
  };
  expect(body.memory.rss_bytes).toBeGreaterThan(0);
  expect(body.memory.heap_used_bytes).toBeGreaterThan(0);
  expect(body.jsc_heap.object_count).toBeGreaterThan(0);
  expect(body.runtime.bun_version).toBe(Bun.version);
  expect(typeof body.runtime.event_loop_lag_ms).toBe('number');
  expect(body.runtime.threads).toBe(2);
  expect(body.workers).toEqual([{ name: 'tunnel', alive: true, restarts: 0, uptime_seconds: expect.any(Number) }]);
});

test("upstream's names are filled from ours: relays started vs open, skipped ticks vs failures (issue 10 item 6)", async () => {
  const m = new AgentMetrics(undefined, { defaultMetrics: false });
  m.apply({ name: 'pipeops_ws_sessions_active', op: 'inc', value: 1, labels: { kind: 'exec' } });
  m.apply({ name: 'pipeops_ws_sessions_active', op: 'inc', value: 1, labels: { kind: 'application' } });
  m.apply({ name: 'pipeops_ws_sessions_active', op: 'inc', value: -1, labels: { kind: 'exec' } });
  m.apply({ name: 'pipeops_heartbeat_errors_total', op: 'inc', labels: { reason: 'not_connected' } });
  m.apply({ name: 'pipeops_heartbeat_errors_total', op: 'inc', labels: { reason: 'send failed' } });
  m.apply({ name: 'pipeops_ws_bytes_total', op: 'inc', value: 10, labels: { kind: 'exec', direction: 'to_control_plane' } });
  const text = await m.text();
  const v = (name: string) => Number(text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`))?.split(' ').pop());
  expect(v('pipeops_agent_websocket_proxy_streams_total')).toBe(2);
  expect(v('pipeops_agent_websocket_proxy_active_streams')).toBe(1);
  expect(v('pipeops_agent_websocket_active_connections')).toBe(1);
  expect(v('pipeops_agent_heartbeat_skip_reconnecting_total')).toBe(1);
  expect(v('pipeops_agent_heartbeat_failures_total')).toBe(1);
  expect(text).toContain('pipeops_agent_websocket_bytes_sent_total{direction="backend_to_controller"} 10');
});
