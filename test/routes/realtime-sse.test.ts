import { afterEach, expect, test } from 'bun:test';
import { type AgentServer, startAgentServer } from '../../src/agent/http-app.ts';
import type { AgentApiDeps } from '../../src/agent/http-types.ts';
import { makeDeps, makeReady } from '../agent/api-fixture.ts';
import { SseClient } from './sse-client.ts';

const open: Array<{ close(): void } | AgentServer> = [];
afterEach(async () => {
  for (const o of open.splice(0)) if ('stop' in o) await o.stop();
  else o.close();
});

function serve(deps: AgentApiDeps, extra: { idleTimeoutS?: number } = {}): AgentServer {
  const srv = startAgentServer({ ...deps, ...extra, port: 0, host: '127.0.0.1' });
  open.push(srv);
  return srv;
}
async function sse(url: string): Promise<SseClient> {
  const c = await SseClient.open(url);
  open.push(c);
  return c;
}

test(
  '/api/realtime/events streams for more than 30 s at the real 10 s cadence (production idle settings)',
  async () => {
    const deps = makeDeps(); // default timing: health_update every 10 s
    const srv = serve(deps);
    expect(srv.port).toBeGreaterThan(0);
    const t0 = performance.now();
    const c = await sse(`${srv.url}/api/realtime/events`);
    expect(c.status).toBe(200);
    expect(c.contentType).toContain('text/event-stream');
    await c.waitFor((e) => e.event === 'connected');

    makeReady(deps.status);
    const state = await c.waitFor((e) => e.event === 'state');
    expect(JSON.parse(state.data)).toMatchObject({ kinds: ['connection'], ready: true, connection_state: 'connected', cluster_id: 'cluster-42' });

    const health = await c.waitForCount((e) => e.event === 'health_update', 3);
    expect(performance.now() - t0).toBeGreaterThan(29_000);
    expect(JSON.parse(health[2]?.data ?? '{}')).toMatchObject({ status: 'healthy', connected: true, registered: true });

    // Still open after the third update: a further change still arrives.
    const from = c.events.length;
    deps.status.update('heartbeat', (s) => {
      s.heartbeat.consecutiveFailures = 1;
    });
    const later = await c.waitFor((e) => e.event === 'state', from);
    expect(JSON.parse(later.data).heartbeat_failures).toBe(1);
    expect(performance.now() - t0).toBeGreaterThan(30_000);
  },
  45_000,
);

test(
  'SSE opts out of the server idle timeout: quiet gaps longer than idleTimeout do not cut the stream',
  async () => {
  // Server idle timeout 1 s, health updates 2.5 s apart: without the per-request opt-out Bun cuts the stream.
  const deps = makeDeps({ timing: { healthUpdateMs: 2500 } });
  const srv = serve(deps, { idleTimeoutS: 1 });
  const c = await sse(`${srv.url}/api/realtime/events`);
  await c.waitFor((e) => e.event === 'connected');
  await c.waitForCount((e) => e.event === 'health_update', 2);
  expect(c.ended).toBe(false);
  },
  15_000,
);

test('bursts of status changes are debounced into one state event listing every kind', async () => {
  const deps = makeDeps({ timing: { stateDebounceMs: 100 } });
  const srv = serve(deps);
  const c = await sse(`${srv.url}/api/realtime/events`);
  await c.waitFor((e) => e.event === 'connected');
  deps.status.update('connection', (s) => {
    s.connection.state = 'connected';
  });
  deps.status.update('registration', (s) => {
    s.connection.registered = true;
  });
  deps.status.update('heartbeat', (s) => {
    s.heartbeat.last = Date.now();
  });
  const st = await c.waitFor((e) => e.event === 'state');
  expect(JSON.parse(st.data).kinds).toEqual(['connection', 'registration', 'heartbeat']);
  // Nothing else queued: the next state event comes only from the next change.
  deps.status.update('gateway', (s) => {
    s.gateway.routes = 4;
  });
  const next = await c.waitFor((e) => e.event === 'state' && e !== st);
  expect(JSON.parse(next.data)).toMatchObject({ kinds: ['gateway'], gateway: { routes: 4 } });
  expect(c.events.filter((e) => e.event === 'state')).toHaveLength(2);
});

test('client abort removes the status listener', async () => {
  const deps = makeDeps();
  const added: EventListenerOrEventListenerObject[] = [];
  let removed!: (l: EventListenerOrEventListenerObject) => void;
  const removal = new Promise<EventListenerOrEventListenerObject>((r) => {
    removed = r;
  });
  const st = deps.status;
  const origAdd = st.addEventListener.bind(st);
  const origRemove = st.removeEventListener.bind(st);
  st.addEventListener = (type: string, l: EventListenerOrEventListenerObject | null, o?: boolean | AddEventListenerOptions) => {
    if (type === 'change' && l) added.push(l);
    origAdd(type, l, o);
  };
  st.removeEventListener = (type: string, l: EventListenerOrEventListenerObject | null, o?: boolean | EventListenerOptions) => {
    if (type === 'change' && l) removed(l);
    origRemove(type, l, o);
  };
  const srv = serve(deps);
  const c = await SseClient.open(`${srv.url}/api/realtime/events`);
  await c.waitFor((e) => e.event === 'connected');
  expect(added).toHaveLength(1);
  c.close();
  expect(await removal).toBe(added[0] as EventListenerOrEventListenerObject);
});

test('/api/realtime/logs sends the recent lines (tail) then live lines', async () => {
  const deps = makeDeps();
  const srv = serve(deps); // logs its own 'local API listening' line first
  for (let i = 0; i < 5; i++) deps.logger.info({ i }, `before ${i}`);
  const c = await sse(`${srv.url}/api/realtime/logs?tail=3`);
  expect(c.contentType).toContain('text/event-stream');
  const backlog = await c.waitForCount((e) => e.event === 'log', 3);
  expect(backlog.map((e) => JSON.parse(e.data).msg)).toEqual(['before 2', 'before 3', 'before 4']);

  deps.logger.warn({ secretish: 'no' }, 'live line');
  const live = await c.waitFor((e) => e.event === 'log' && e.data.includes('live line'));
  expect(JSON.parse(live.data)).toMatchObject({ level: 'warn', msg: 'live line' });
  // Exactly the tail plus the live line: no gap and no duplicate between backlog and live.
  const msgs = c.events.filter((e) => e.event === 'log').map((e) => JSON.parse(e.data).msg);
  expect(msgs).toEqual(['before 2', 'before 3', 'before 4', 'live line']);
});

test('/api/realtime/logs default tail is 100 (bounded by the ring)', async () => {
  const deps = makeDeps(); // ring capacity 50 in the fixture
  const srv = serve(deps);
  for (let i = 0; i < 70; i++) deps.logs.push(JSON.stringify({ level: 'info', msg: `m${i}` }));
  const c = await sse(`${srv.url}/api/realtime/logs`);
  makeReady(deps.status);
  deps.logs.push(JSON.stringify({ level: 'info', msg: 'marker' }));
  await c.waitFor((e) => e.data.includes('marker'));
  const logs = c.events.filter((e) => e.event === 'log');
  expect(logs).toHaveLength(51);
  expect(JSON.parse(logs[0]?.data ?? '{}').msg).toBe('m20');
});
