import { expect, test } from 'bun:test';
import { createAgentApp } from '../../src/agent/http-app.ts';
import { AgentStatus } from '../../src/agent/status.ts';
import { makeDeps, makeReady } from '../agent/api-fixture.ts';

test('/ready is 503 with reasons until registered, connected and workers alive, then 200', async () => {
  const deps = makeDeps();
  const app = createAgentApp(deps);

  let res = await app.request('/ready');
  expect(res.status).toBe(503);
  let body = (await res.json()) as Record<string, unknown>;
  expect(body).toMatchObject({ status: 'not_ready', healthy: false, registered: false, connection_state: 'connecting' });
  expect(body.reasons).toContain('not registered with the control plane');

  // Registered and connected, but a worker is down: still not ready, and the body says which.
  makeReady(deps.status);
  deps.status.update('worker', (s) => {
    s.workers.gateway = { alive: false, restarts: 2, startedAt: Date.now(), lastExit: 'crashed' };
  });
  res = await app.request('/ready');
  expect(res.status).toBe(503);
  body = (await res.json()) as Record<string, unknown>;
  expect(body.reasons).toEqual(['worker gateway not running']);
  expect(body.reason).toBe('worker gateway not running');

  deps.status.update('worker', (s) => {
    if (s.workers.gateway) s.workers.gateway.alive = true;
  });
  res = await app.request('/ready');
  expect(res.status).toBe(200);
  body = (await res.json()) as Record<string, unknown>;
  expect(body).toMatchObject({ status: 'ready', healthy: true, connected: true, registered: true, connection_state: 'connected' });
  expect(typeof body.last_heartbeat).toBe('string');

  // A stale heartbeat takes readiness away again.
  deps.status.update('heartbeat', (s) => {
    s.heartbeat.last = Date.now() - 120_000;
  });
  res = await app.request('/ready');
  expect(res.status).toBe(503);
});

test('/health is live even when not ready; /version carries build info', async () => {
  const app = createAgentApp(makeDeps());
  const h = await app.request('/health');
  expect(h.status).toBe(200);
  expect(await h.json()).toMatchObject({ status: 'healthy', version: '1.2.3', connected: false, registered: false, connection_state: 'connecting' });
  const v = await app.request('/version');
  expect(await v.json()).toMatchObject({ version: '1.2.3', git_commit: 'abc1234', bun_version: Bun.version });
});

test('a throwing handler yields JSON 500 and a log line, and the app keeps serving', async () => {
  class Broken extends AgentStatus {
    override snapshot(): never {
      throw new Error('snapshot exploded');
    }
  }
  const deps = makeDeps({ status: new Broken({ version: '1', agentId: 'a', clusterName: 'c', heartbeatIntervalMs: 1, ingressSync: false, kubernetesConfigured: true }) });
  const app = createAgentApp(deps);
  const res = await app.request('/health');
  expect(res.status).toBe(500);
  expect(await res.json()).toMatchObject({ error: 'internal error', message: 'snapshot exploded' });
  expect(deps.logs.recent().some((l) => l.includes('local API handler failed') && l.includes('snapshot exploded'))).toBe(true);
  expect((await app.request('/version')).status).toBe(200);
});

test('no Kubernetes pass-through; unknown routes are JSON 404', async () => {
  const app = createAgentApp(makeDeps());
  for (const [method, path] of [
    ['GET', '/api/v1/namespaces'],
    ['POST', '/api/v1/namespaces/default/pods'],
    ['GET', '/apis/apps/v1/deployments'],
  ] as const) {
    const res = await app.request(path, { method });
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: 'not found', path });
  }
  const res = await app.request('/no/such/thing');
  expect(res.status).toBe(404);
  expect(await res.json()).toEqual({ error: 'not found', path: '/no/such/thing' });
});
