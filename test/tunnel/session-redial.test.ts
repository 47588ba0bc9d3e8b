// The control session's waits before a redial (src/tunnel/session.ts): after a session that was up ends, the first
// wait is drawn over [0, websocket_reconnect + 25 %) (full jitter: agents of a hub replica that died do not redial
// together); failed attempts then double from websocket_reconnect as before; a first dial that fails waits
// websocket_reconnect. The random source is pinned to its lowest value, so each wait is the bottom of its range.
import { afterEach, describe, expect, test } from 'bun:test';
import type { Server } from 'bun';
import { decodeEnvelope, encodeEnvelope } from '../../src/protocol/envelope.ts';
import { createLogger } from '../../src/log/logger.ts';
import { ControlSession } from '../../src/tunnel/session.ts';
import { testSessionHandlers, testSessionOptions } from '../support/control-session.ts';
import { waitFor } from '../support/wait.ts';

const BASE_MS = 100;

/** A hub stand-in: register → register_success naming a gateway on itself; gateway sockets are kept for the test to close. */
function fakeHub(port = 0) {
  const gateways: { close(code?: number): void }[] = [];
  const server: Server<{ path: string }> = Bun.serve<{ path: string }>({
    port,
    hostname: '127.0.0.1',
    fetch: (req, srv) => (srv.upgrade(req, { data: { path: new URL(req.url).pathname } }) ? undefined : new Response('no', { status: 400 })),
    websocket: {
      open(ws) {
        if (ws.data.path === '/ws') gateways.push(ws);
      },
      message(ws, raw) {
        const d = typeof raw === 'string' ? decodeEnvelope(raw) : null;
        if (d?.ok && d.message.type === 'register') ws.send(encodeEnvelope('register_success', { cluster_id: 'c-redial', gateway_ws_url: `http://127.0.0.1:${server.port}/ws` }, d.message.requestId));
      },
    },
  });
  return { server, gateways };
}

function redialSession(port: number) {
  const waits: number[] = [];
  const log = createLogger({ level: 'info', name: 'redial-test', sink: (line) => {
    const l = JSON.parse(line) as { msg: string; delay_ms?: number };
    if (l.msg === 'reconnecting to control plane') waits.push(l.delay_ms!);
  } });
  const s = new ControlSession(
    testSessionOptions(port, { timeouts: { reconnectMs: BASE_MS, reconnectMaxMs: 10_000 }, random: () => 0 }),
    testSessionHandlers(),
    log,
  );
  return { s, waits };
}

const stops: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of stops.splice(0).reverse()) await f();
});

describe('ControlSession redial waits', () => {
  test('a lost session: the first wait comes from [0, base + 25 %), later failed attempts double from base', async () => {
    const hub = fakeHub();
    const { s, waits } = redialSession(hub.server.port!);
    stops.push(() => s.stop());
    s.start();
    await waitFor(() => hub.gateways.length === 1, { what: 'gateway session' });
    hub.gateways[0]!.close(1001);
    await waitFor(() => hub.gateways.length === 2, { what: 'the session resumed' });
    expect(waits).toEqual([0]);
    // The hub goes away with the session: after the first wait, failed dials wait 2·base, 4·base (random at 0).
    const port = hub.server.port!;
    hub.server.stop(true);
    await waitFor(() => waits.length >= 4, { what: 'three failed redials', timeoutMs: 10_000 });
    expect(waits.slice(1, 4)).toEqual([0, 2 * BASE_MS, 4 * BASE_MS]);
    // Back: the session is resumed (a full registration after the failed gateway dials).
    const back = fakeHub(port);
    stops.push(() => back.server.stop(true));
    await waitFor(() => back.gateways.length === 1, { what: 'the session back', timeoutMs: 10_000 });
  });

  test('a first dial that fails waits base, not less (nothing was lost together)', async () => {
    const hub = fakeHub();
    const port = hub.server.port!;
    hub.server.stop(true);
    const { s, waits } = redialSession(port);
    stops.push(() => s.stop());
    s.start();
    await waitFor(() => waits.length >= 2, { what: 'two failed dials', timeoutMs: 10_000 });
    expect(waits.slice(0, 2)).toEqual([BASE_MS, 2 * BASE_MS]);
  });
});
