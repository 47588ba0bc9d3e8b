import { afterEach, expect, test } from 'bun:test';
import { type AgentServer, startAgentServer } from '../../src/agent/http-app.ts';
import { makeDeps } from '../agent/api-fixture.ts';

type Msg = { type: string; timestamp: string; data: Record<string, unknown> };

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

function serve(allowedOrigins: string[]): { srv: AgentServer; deps: ReturnType<typeof makeDeps> } {
  const deps = makeDeps({ allowedOrigins });
  const srv = startAgentServer({ ...deps, port: 0, host: '127.0.0.1' });
  cleanup.push(() => srv.stop());
  return { srv, deps };
}

/** A client that queues every message so tests can await them in order. */
class WsClient {
  readonly ws: WebSocket;
  readonly #queue: Msg[] = [];
  readonly #waiters: Array<(m: Msg) => void> = [];
  closed: Promise<CloseEvent>;
  constructor(url: string, origin?: string) {
    // Bun's WebSocket takes { headers } as its second argument; the DOM lib typing only knows protocols.
    const opts = origin ? ({ headers: { Origin: origin } } as unknown as string[]) : undefined;
    this.ws = new WebSocket(url, opts);
    this.ws.onmessage = (e) => {
      const m = JSON.parse(String(e.data)) as Msg;
      const w = this.#waiters.shift();
      if (w) w(m);
      else this.#queue.push(m);
    };
    this.closed = new Promise((r) => {
      this.ws.onclose = r;
    });
    cleanup.push(() => this.ws.close());
  }
  next(): Promise<Msg> {
    const m = this.#queue.shift();
    return m ? Promise.resolve(m) : new Promise((r) => this.#waiters.push(r));
  }
  send(x: string): void {
    this.ws.send(x);
  }
}

const wsUrl = (srv: AgentServer) => `${srv.url.replace('http', 'ws')}/ws`;

test('allowed origin connects and gets the status message first', async () => {
  const { srv } = serve(['http://dash.example']);
  const c = new WsClient(wsUrl(srv), 'http://dash.example');
  const m = await c.next();
  expect(m.type).toBe('status');
  expect(m.data).toMatchObject({ agent_id: 'agent-test', status: 'connecting' });
  expect((m.data.features as Record<string, boolean>).metrics).toBe(true);
  expect(Number.isNaN(Date.parse(m.timestamp))).toBe(false);
});

test('disallowed origin is refused with 403 before the upgrade', async () => {
  const { srv, deps } = serve(['http://dash.example']);
  const res = await fetch(`${srv.url}/ws`, {
    headers: { Origin: 'http://evil.example', Upgrade: 'websocket', Connection: 'Upgrade', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version': '13' },
  });
  expect(res.status).toBe(403);
  expect(await res.json()).toMatchObject({ error: 'origin not allowed', origin: 'http://evil.example' });
  // And a real WebSocket client sees the handshake fail.
  const c = new WsClient(wsUrl(srv), 'http://evil.example');
  const closed = await c.closed;
  expect(closed.wasClean).toBe(false);
  expect(deps.logs.recent().some((l) => l.includes('origin not allowed'))).toBe(true);
});

test('a plain GET on /ws is told to upgrade (426)', async () => {
  const { srv } = serve([]);
  const res = await fetch(`${srv.url}/ws`);
  expect(res.status).toBe(426);
  expect(await res.json()).toMatchObject({ error: 'websocket upgrade required' });
});

test('missing Origin is allowed (non-browser clients)', async () => {
  const { srv } = serve(['http://dash.example']);
  const c = new WsClient(wsUrl(srv));
  expect((await c.next()).type).toBe('status');
});

test('ping/pong, get_status, get_metrics; malformed and unknown input get errors and the socket stays open', async () => {
  const { srv } = serve([]);
  const c = new WsClient(wsUrl(srv), 'http://anything.example');
  expect((await c.next()).type).toBe('status');

  c.send('{"type":"ping"}');
  expect((await c.next()).type).toBe('pong');

  c.send('{not json');
  expect(await c.next()).toMatchObject({ type: 'error', data: { message: 'malformed JSON' } });
  c.send('{"type":"teleport"}');
  expect(await c.next()).toMatchObject({ type: 'error', data: { message: 'unknown message type: teleport' } });

  c.send('{"type":"get_status"}');
  expect(await c.next()).toMatchObject({ type: 'status_response', data: { agent_id: 'agent-test', ready: false, registered: false } });
  c.send('{"type":"get_metrics"}');
  const metrics = await c.next();
  expect(metrics.type).toBe('metrics_response');
  expect((metrics.data.memory as Record<string, number>).rss_bytes).toBeGreaterThan(0);

  c.send('{"type":"ping"}');
  expect((await c.next()).type).toBe('pong');
  expect(c.ws.readyState).toBe(WebSocket.OPEN);
});

test('status changes are pushed as event messages', async () => {
  const { srv, deps } = serve([]);
  const c = new WsClient(wsUrl(srv));
  expect((await c.next()).type).toBe('status');
  deps.status.update('registration', (s) => {
    s.connection.registered = true;
    s.clusterId = 'c-9';
  });
  const m = await c.next();
  expect(m).toMatchObject({ type: 'event', data: { kind: 'registration', registered: true, cluster_id: 'c-9' } });
});
