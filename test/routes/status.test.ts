import { expect, test } from 'bun:test';
import { createAgentApp } from '../../src/agent/http-app.ts';
import type { CheckResult } from '../../src/agent/http-types.ts';
import { makeDeps, makeReady } from '../agent/api-fixture.ts';

type Conn = { overall_status: string; tests: Record<string, { status: string; ok: boolean; latency_ms: number | null; detail: string }> };

const pass = async (): Promise<CheckResult> => ({ ok: true, latencyMs: 3, detail: 'GET /version 200' });
const fail = async (): Promise<CheckResult> => ({ ok: false, latencyMs: 4, detail: 'session reconnecting; api.example:443 refused' });

async function connectivity(checks: { controlPlane: () => Promise<CheckResult>; kubernetes: () => Promise<CheckResult> }, checkTimeoutMs = 2000) {
  const app = createAgentApp(makeDeps({ checks, timing: { checkTimeoutMs } }));
  const res = await app.request('/api/status/connectivity');
  expect(res.status).toBe(200);
  return (await res.json()) as Conn;
}

test('connectivity reflects the real checks: healthy, degraded, unhealthy', async () => {
  const healthy = await connectivity({ controlPlane: pass, kubernetes: pass });
  expect(healthy.overall_status).toBe('healthy');
  expect(healthy.tests.kubernetes).toEqual({ status: 'pass', ok: true, latency_ms: 3, detail: 'GET /version 200' });

  const degraded = await connectivity({ controlPlane: fail, kubernetes: pass });
  expect(degraded.overall_status).toBe('degraded');
  expect(degraded.tests.control_plane).toMatchObject({ status: 'fail', ok: false, detail: 'session reconnecting; api.example:443 refused' });

  const unhealthy = await connectivity({ controlPlane: fail, kubernetes: async () => Promise.reject(new Error('ECONNREFUSED')) });
  expect(unhealthy.overall_status).toBe('unhealthy');
  expect(unhealthy.tests.kubernetes?.detail).toContain('ECONNREFUSED');
});

test('a hanging check is timed out and reported, without holding up the response', async () => {
  const t0 = performance.now();
  const body = await connectivity({ controlPlane: pass, kubernetes: () => new Promise(() => {}) }, 150);
  expect(performance.now() - t0).toBeLessThan(1500);
  expect(body.overall_status).toBe('degraded');
  expect(body.tests.kubernetes).toMatchObject({ ok: false, status: 'fail', latency_ms: 150, detail: 'timed out after 150 ms' });
});

test('/api/health/detailed and /api/status/features use upstream keys with real values', async () => {
  const deps = makeDeps();
  const app = createAgentApp(deps);
  let d = (await (await app.request('/api/health/detailed')).json()) as Record<string, Record<string, unknown>>;
  expect(Object.keys(d)).toEqual(expect.arrayContaining(['status', 'agent', 'tunnel', 'features', 'connectivity', 'runtime', 'connection_health', 'timestamp']));
  expect(d.status as unknown).toBe('degraded');
  expect(d.connection_health).toMatchObject({ healthy: false, registered: false, truthful_probes_enabled: true });
  makeReady(deps.status);
  d = (await (await app.request('/api/health/detailed')).json()) as Record<string, Record<string, unknown>>;
  expect(d.status as unknown).toBe('healthy');
  expect(d.agent).toMatchObject({ agent_id: 'agent-test', cluster_id: 'cluster-42' });
  expect(d.runtime?.memory_mb).toBeGreaterThan(0);

  const f = (await (await app.request('/api/status/features')).json()) as { features: Record<string, unknown> };
  expect(f.features).toMatchObject({ metrics: true, health_monitoring: true, runtime_metrics: true, direct_k8s_access: false });
});
