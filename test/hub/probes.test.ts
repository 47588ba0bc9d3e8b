// The hub's probe endpoints: /healthz (the process answers) and /readyz (it can serve: its state database answers).
import { afterAll, expect, test } from 'bun:test';
import type { Hub } from '../../src/hub/server.ts';
import { testHub } from '../support/hub-agent.ts';

const hubs: Hub[] = [];
afterAll(async () => {
  for (const h of hubs) await h.stop().catch(() => {});
});

test('/healthz and /readyz answer 200 without a token; /readyz is 503 with the reason once the state database is gone', async () => {
  const hub = await testHub();
  hubs.push(hub);
  const health = await fetch(`${hub.url}/healthz`);
  expect([health.status, await health.text()]).toEqual([200, 'ok']);
  const ready = await fetch(`${hub.url}/readyz`);
  expect([ready.status, await ready.text()]).toEqual([200, 'ok']);
  await hub.state.close();
  const down = await fetch(`${hub.url}/readyz`);
  expect(down.status).toBe(503);
  expect(await down.text()).toStartWith('not ready: state database');
});
