// Isolation by construction (issue 19): a throw while handling one inbound message fails that request or
// stream only, with the reason on the wire, is counted, and never leaves the message loop.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import type { MetricUpdate } from '../../src/threads/metric-update.ts';
import { encodeResponseFrame } from '../../src/protocol/binary-frame.ts';
import { decodeEnvelope, encodeEnvelope, type InboundMessage } from '../../src/protocol/envelope.ts';
import { encodeFrameData } from '../../src/protocol/stream-messages.ts';
import { ControlSession, type SessionConnection } from '../../src/tunnel/session.ts';
import { testSessionOptions } from '../support/control-session.ts';
import { quietLog } from '../support/hub-agent.ts';
import { mappedDispatcher } from '../support/tunnel-dispatcher.ts';
import { waitFor } from '../support/wait.ts';

type Sent = { type: string; payload: Record<string, unknown> | null; id?: string };

function fakeConn() {
  const sent: Sent[] = [];
  const conn: SessionConnection = {
    send: (m) => (sent.push({ type: m.type, payload: m.payload as Record<string, unknown>, id: m.requestId }), true),
    sendBinary: () => true,
    bufferedAmount: 0,
    open: true,
  };
  return { sent, conn };
}

let backend: ReturnType<typeof Bun.serve>;
const held: (() => void)[] = [];

beforeAll(() => {
  backend = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    fetch(req, srv) {
      if (req.headers.get('upgrade') === 'websocket' && srv.upgrade(req, { data: {} })) return;
      if (new URL(req.url).pathname === '/hold') return new Promise<Response>((r) => void held.push(() => r(new Response('late'))));
      return new Response('fine');
    },
    websocket: {
      message(ws, m) {
        ws.send(m);
      },
    },
  });
});
afterAll(() => {
  for (const h of held) h();
  backend.stop(true);
});

function dispatcher() {
  const metrics: MetricUpdate[] = [];
  const d = mappedDispatcher(backend.port, (u) => metrics.push(u));
  const handlerErrors = () => metrics.filter((m) => m.name === 'pipeops_tunnel_handler_errors_total').map((m) => `${m.labels?.type}/${m.labels?.error}`);
  return { d, metrics, handlerErrors };
}

const svc = { service_name: 'app', namespace: 'demo', service_port: 80 };
const msg = (type: string, payload: Record<string, unknown>, requestId?: string): InboundMessage => ({ type, requestId, payload });
const boom = (what: string) => () => {
  throw new TypeError(`boom in ${what}`);
};

describe('TunnelDispatcher isolation', () => {
  test('a handler that throws for a new request: proxy_error with the reason, counted by type and error class', () => {
    const { d, handlerErrors } = dispatcher();
    const { sent, conn } = fakeConn();
    d.http.request = boom('request');
    expect(() => d.handle(msg('proxy_request', { method: 'GET', path: '/', ...svc }, 'r1'), conn)).not.toThrow();
    expect(sent).toEqual([{ type: 'proxy_error', payload: { error: 'internal error handling proxy_request: boom in request' }, id: 'r1' }]);
    expect(handlerErrors()).toEqual(['proxy_request/TypeError']);
  });

  test('a throw for a request in flight fails that request only; the other one completes', async () => {
    const { d, handlerErrors } = dispatcher();
    const { sent, conn } = fakeConn();
    d.handle(msg('proxy_request', { method: 'POST', path: '/hold', use_streaming: true, ...svc }, 'victim'), conn);
    d.handle(msg('proxy_request', { method: 'GET', path: '/hold', ...svc }, 'bystander'), conn);
    await waitFor(() => held.length >= 1, { what: 'bystander reached the backend' });
    d.http.chunk = boom('chunk');
    d.handle(msg('proxy_request_chunk', { data: 'AA==' }, 'victim'), conn);
    const err = await waitFor(() => sent.find((m) => m.id === 'victim'), { what: 'victim answered' });
    expect(err.type).toBe('proxy_error');
    expect(err.payload?.error).toBe('internal error handling proxy_request_chunk: boom in chunk');
    expect(sent.some((m) => m.id === 'bystander')).toBe(false);
    for (const h of held.splice(0)) h();
    const ok = await waitFor(() => sent.find((m) => m.id === 'bystander'), { what: 'bystander answered' });
    expect(ok.type).toBe('proxy_response');
    expect(handlerErrors()).toEqual(['proxy_request_chunk/TypeError']);
    await waitFor(() => d.http.inflight === 0, { what: 'nothing in flight' });
  });

  test('a throw for an open stream closes that stream with 1011 and the reason', async () => {
    const { d, handlerErrors } = dispatcher();
    const { sent, conn } = fakeConn();
    const up = { Upgrade: ['websocket'], Connection: ['Upgrade'], 'Sec-WebSocket-Key': ['dGhlIHNhbXBsZSBub25jZQ=='], 'Sec-WebSocket-Version': ['13'] };
    d.handle(msg('proxy_request', { method: 'GET', path: '/', headers: up, ...svc }, 'ws1'), conn);
    await waitFor(() => sent.find((m) => m.id === 'ws1' && m.payload?.status === 101), { what: '101' });
    expect(d.streams.active).toBe(1);
    d.streams.data = boom('data');
    d.handle(msg('proxy_websocket_data', { stream_id: 'ws1', data: encodeFrameData(1, Buffer.from('x')) }), conn);
    const close = sent.find((m) => m.type === 'proxy_websocket_close' && m.id === 'ws1');
    expect(close?.payload).toMatchObject({ stream_id: 'ws1', code: 1011, reason: 'internal error handling proxy_websocket_data: boom in data' });
    expect(d.streams.active).toBe(0);
    expect(handlerErrors()).toEqual(['proxy_websocket_data/TypeError']);
  });

  test('a throw for an unknown stream id answers with a close; a throwing binary handler is counted', () => {
    const { d, handlerErrors } = dispatcher();
    const { sent, conn } = fakeConn();
    d.streams.start = boom('start');
    d.handle(msg('ws_start', { stream_id: 's9', path: '/api/v1/x' }), conn);
    expect(sent).toEqual([{ type: 'proxy_websocket_close', payload: { stream_id: 's9', code: 1011, reason: 'internal error handling ws_start: boom in start' }, id: 's9' }]);
    d.http.binary = boom('binary');
    expect(() => d.handleBinary(encodeResponseFrame('b1', 200, null, new Uint8Array(1)).buffer as ArrayBuffer, conn)).not.toThrow();
    expect(sent.at(-1)).toEqual({ type: 'proxy_error', payload: { error: 'internal error handling binary: boom in binary' }, id: 'b1' });
    expect(handlerErrors()).toEqual(['ws_start/TypeError', 'binary/TypeError']);
  });
});

describe('ControlSession message loop', () => {
  test('a throw in any handler leaves the session up: the next message is still handled', async () => {
    const got: InboundMessage[] = [];
    let cp!: { send(s: string): void };
    const server = Bun.serve({
      port: 0,
      hostname: '127.0.0.1',
      fetch: (req, srv) => (srv.upgrade(req) ? undefined : new Response('no', { status: 400 })),
      websocket: {
        open(ws) {
          cp = ws;
        },
        message(ws, raw) {
          const d = decodeEnvelope(String(raw));
          if (!d.ok) return;
          got.push(d.message);
          if (d.message.type === 'register') ws.send(encodeEnvelope('register_success', { cluster_id: 'c-iso' }, d.message.requestId));
        },
      },
    });
    const metrics: MetricUpdate[] = [];
    let connected = false;
    let throwNext = 0;
    const session = new ControlSession(
      testSessionOptions(server.port!, { buildRegisterPayload: () => ({ agent_id: 'agent-iso', cluster_name: 'iso' }) as never }),
      {
        status: () => {},
        persist: () => {},
        fatal: () => {},
        metric: (u) => metrics.push(u),
        message: () => {
          throwNext++;
          throw new RangeError('handler exploded');
        },
        binary: () => {
          throw new Error('binary exploded');
        },
        beforeText: () => {
          if (throwNext === 1) {
            throwNext++;
            throw new Error('beforeText exploded');
          }
        },
        connected: () => {
          connected = true;
        },
        disconnected: () => {
          connected = false;
        },
      },
      quietLog,
    );
    void session.start();
    try {
      await waitFor(() => connected, { what: 'session connected' });
      cp.send(encodeEnvelope('proxy_request', { path: '/' }, 'x1')); // message() throws
      cp.send(encodeEnvelope('proxy_request', { path: '/' }, 'x2')); // beforeText() throws
      cp.send(new Uint8Array([0, 1, 65]) as never); // binary() throws
      cp.send(encodeEnvelope('ping', null, 'still-there'));
      await waitFor(() => got.some((m) => m.type === 'pong' && m.requestId === 'still-there'), { what: 'pong after throws' });
      expect(connected).toBe(true);
      const errs = metrics.filter((m) => m.name === 'pipeops_tunnel_handler_errors_total').map((m) => m.labels?.error);
      expect(errs).toEqual(['RangeError', 'Error', 'Error']);
    } finally {
      await session.stop();
      server.stop(true);
    }
  });
});
