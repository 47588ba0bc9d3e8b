// Which inbound messages count as relay traffic for the thread's shrink policy (SessionHandlers.relayed,
// src/threads/shrink-policy.ts): relay messages the relays took (text or a binary body frame) do; control messages
// (ping, heartbeat_ack, register_success, also as legacy JSON in a binary frame) and unknown types do not, so an idle
// agent's quiet collections still shrink.
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

test('relay messages and binary body frames count as relayed; control messages, also in binary frames, and unknown types do not', async () => {
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
      // Legacy JSON in a binary frame comes back as text to dispatch (here a heartbeat_ack): not a relay message.
      binary: (data) => {
        seen.push('binary');
        const text = new TextDecoder().decode(data);
        return text.startsWith('{') ? text : null;
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
  gateway!.send(new TextEncoder().encode(encodeEnvelope('heartbeat_ack', {}, 'h2')));
  gateway!.send(new Uint8Array([4, 5, 6]));
  await waitFor(() => seen.length === 5, { what: 'the legacy JSON frame and one more binary frame' });
  expect(relayed).toBe(3);
});
