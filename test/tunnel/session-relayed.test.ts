// Which inbound messages count as relay traffic for the thread's shrink policy (SessionHandlers.relayed,
// src/threads/shrink-policy.ts): relay messages the relays took (text) and every binary frame do; control messages
// (ping, heartbeat_ack, register_success) and unknown types do not, so an idle agent's quiet collections still shrink.
import { afterEach, expect, test } from 'bun:test';
import type { Server, ServerWebSocket } from 'bun';
import { decodeEnvelope, encodeEnvelope } from '../../src/protocol/envelope.ts';
import { createLogger } from '../../src/log/logger.ts';
import { ControlSession } from '../../src/tunnel/session.ts';
import { testSessionHandlers, testSessionOptions } from '../support/control-session.ts';
import { waitFor } from '../support/wait.ts';

const stops: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of stops.splice(0).reverse()) await f();
});

test('relay messages and binary frames count as relayed; control messages and unknown types do not', async () => {
  let gateway: ServerWebSocket<{ path: string }> | null = null;
  const server: Server<{ path: string }> = Bun.serve<{ path: string }>({
    port: 0,
    hostname: '127.0.0.1',
    fetch: (req, srv) => (srv.upgrade(req, { data: { path: new URL(req.url).pathname } }) ? undefined : new Response('no', { status: 400 })),
    websocket: {
      open(ws) {
        if (ws.data.path === '/ws') gateway = ws;
      },
      message(ws, raw) {
        const d = typeof raw === 'string' ? decodeEnvelope(raw) : null;
        if (d?.ok && d.message.type === 'register') ws.send(encodeEnvelope('register_success', { cluster_id: 'c-relayed', gateway_ws_url: `http://127.0.0.1:${server.port}/ws` }, d.message.requestId));
      },
    },
  });
  stops.push(() => server.stop(true));
  const seen: string[] = [];
  let relayed = 0;
  const s = new ControlSession(
    testSessionOptions(server.port!),
    testSessionHandlers({
      // The relays take proxy_request; anything else they do not know (the session then answers protocol_fallback).
      message: (m) => {
        seen.push(m.type);
        return m.type === 'proxy_request';
      },
      binary: () => {
        seen.push('binary');
        return null;
      },
      relayed: () => relayed++,
    }),
    createLogger({ level: 'error', name: 'relayed-test', sink: () => {} }),
  );
  stops.push(() => s.stop());
  s.start();
  await waitFor(() => gateway !== null, { what: 'gateway session' });
  expect(relayed).toBe(0); // registration alone is control traffic
  gateway!.send(encodeEnvelope('ping', {}, 'p1'));
  gateway!.send(encodeEnvelope('heartbeat_ack', {}, 'h1'));
  gateway!.send(encodeEnvelope('some_future_type', {}, 'f1'));
  gateway!.send(encodeEnvelope('proxy_request', { method: 'GET', path: '/x', headers: {} }, 'r1'));
  await waitFor(() => seen.length === 2, { what: 'the two non-control messages' });
  expect(seen).toEqual(['some_future_type', 'proxy_request']);
  expect(relayed).toBe(1);
  gateway!.send(new Uint8Array([1, 2, 3]));
  await waitFor(() => seen.length === 3, { what: 'the binary frame' });
  expect(relayed).toBe(2);
});
