import { expect, test } from 'bun:test';
import { overallStatus, runCheck, runConnectivity } from '../../src/agent/connectivity-report.ts';

test('a hanging check is cut at its budget and reported as a timeout', async () => {
  const r = await runCheck(() => new Promise(() => {}), 50);
  expect(r.ok).toBe(false);
  expect(r.detail).toContain('timed out after 50 ms');
});

test('a throwing check becomes a failed result, never a rejection', async () => {
  const r = await runCheck(async () => {
    throw new Error('connect ECONNREFUSED');
  }, 1000);
  expect(r).toMatchObject({ ok: false });
  expect(r.detail).toContain('ECONNREFUSED');
  expect(typeof r.latencyMs).toBe('number');
});

test('overall status: all ok healthy, some degraded, none unhealthy', () => {
  const ok = { ok: true, detail: '' };
  const bad = { ok: false, detail: '' };
  expect(overallStatus([ok, ok])).toBe('healthy');
  expect(overallStatus([ok, bad])).toBe('degraded');
  expect(overallStatus([bad, bad])).toBe('unhealthy');
});

test('checks run concurrently', async () => {
  const slow = () => new Promise<{ ok: boolean; detail: string }>((r) => setTimeout(() => r({ ok: true, detail: 'slow' }), 200));
  const t0 = performance.now();
  const body = await runConnectivity({ controlPlane: slow, kubernetes: slow }, 2000);
  expect(performance.now() - t0).toBeLessThan(390);
  expect(body.overall_status).toBe('healthy');
});
