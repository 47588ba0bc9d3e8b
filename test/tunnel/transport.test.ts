// The transport seam under ControlSession: text frames always go to the envelope transport; binary frames go to
// whichever transport owns them, and a gateway_hello → gateway_hello_ack hands them to a second transport (§5.1).
import { describe, expect, test } from 'bun:test';
import { decodeEnvelope, encodeEnvelope, type InboundMessage } from '../../src/protocol/envelope.ts';
import { ControlSession, type SessionConnection } from '../../src/tunnel/session.ts';
import { type SessionTransport, socketSink, TransportRouter, type TransportWriter } from '../../src/tunnel/transport.ts';
import { testSessionHandlers, testSessionOptions } from '../support/control-session.ts';
import { quietLog } from '../support/hub-agent.ts';
import { waitFor } from '../support/wait.ts';

function fakeSocket() {
  const sent: unknown[] = [];
  const ws: { readyState: number; bufferedAmount: number; send(d: unknown): void } = { readyState: WebSocket.OPEN, bufferedAmount: 7, send: (d: unknown) => void sent.push(d) };
  return { ws: ws as unknown as WebSocket, raw: ws, sent };
}

function recorder(name: string) {
  const got: string[] = [];
  const t: SessionTransport = {
    name,
    onText: (s) => void got.push(`text:${s}`),
    onBinary: (d) => void got.push(`bin:${d.byteLength}`),
    close: (r) => void got.push(`close:${r}`),
  };
  return { t, got };
}

describe('TransportRouter', () => {
  test('before a claim: text and binary go to the envelope transport; its binary writes pass', () => {
    const s = fakeSocket();
    const r = new TransportRouter(socketSink(s.ws));
    const env = recorder('envelope');
    r.start(env.t);
    r.deliver('hello');
    r.deliver(new ArrayBuffer(3));
    expect(env.got).toEqual(['text:hello', 'bin:3']);
    expect(r.binaryOwner).toBe('envelope');
    expect(r.envelopeWriter.sendBinary(new Uint8Array(2))).toBe(true);
    expect(r.claimWriter.sendBinary(new Uint8Array(2))).toBe(false);
    expect(s.sent.length).toBe(1);
    expect(r.envelopeWriter.bufferedAmount).toBe(7);
  });

  test('after a claim: binary goes to the claimer, text stays; the envelope path can no longer write binary', () => {
    const s = fakeSocket();
    const r = new TransportRouter(socketSink(s.ws));
    const env = recorder('envelope');
    const yamux = recorder('yamux');
    r.start(env.t);
    r.claimBinary(yamux.t);
    r.deliver(new ArrayBuffer(12));
    r.deliver('{"type":"ping"}');
    expect(yamux.got).toEqual(['bin:12']);
    expect(env.got).toEqual(['text:{"type":"ping"}']);
    expect(r.binaryOwner).toBe('yamux');
    expect(r.envelopeWriter.sendBinary(new Uint8Array(1))).toBe(false);
    expect(r.claimWriter.sendBinary(new Uint8Array(1))).toBe(true);
    expect(() => r.claimBinary(recorder('other').t)).toThrow('binary frames already claimed by yamux');
  });

  test('close reaches every transport once; nothing is delivered afterwards; a closed socket refuses writes', () => {
    const s = fakeSocket();
    const r = new TransportRouter(socketSink(s.ws));
    const env = recorder('envelope');
    const yamux = recorder('yamux');
    r.start(env.t);
    r.claimBinary(yamux.t);
    r.close('gone');
    r.close('again');
    r.deliver(new ArrayBuffer(1));
    r.deliver('late');
    expect(env.got).toEqual(['close:gone']);
    expect(yamux.got).toEqual(['close:gone']);
    expect(() => r.claimBinary(recorder('late').t)).toThrow('closed');
    s.raw.readyState = WebSocket.CLOSED;
    expect(r.claimWriter.sendBinary(new Uint8Array(1))).toBe(false);
  });
});

/** A hub stand-in: answers register with a gateway on itself, offers yamux on the gateway socket, echoes binary. */
function fakeHub() {
  const got: { path: string; m: InboundMessage }[] = [];
  const binaryIn: number[] = [];
  const gatewayQueries: URLSearchParams[] = [];
  let gateway: { send(d: string | Uint8Array): void } | null = null;
  const server = Bun.serve<{ path: string }>({
    port: 0,
    hostname: '127.0.0.1',
    fetch: (req, srv) => {
      const u = new URL(req.url);
      if (u.pathname === '/ws') gatewayQueries.push(u.searchParams);
      return srv.upgrade(req, { data: { path: u.pathname } }) ? undefined : new Response('no', { status: 400 });
    },
    websocket: {
      open(ws) {
        const { path } = ws.data;
        if (path === '/ws') {
          gateway = ws;
          ws.send(encodeEnvelope('gateway_hello', { use_yamux: true }));
        }
      },
      message(ws, raw) {
        const { path } = ws.data;
        if (typeof raw !== 'string') {
          binaryIn.push(raw.byteLength);
          return;
        }
        const d = decodeEnvelope(raw);
        if (!d.ok) return;
        got.push({ path, m: d.message });
        if (d.message.type === 'register')
          ws.send(encodeEnvelope('register_success', { cluster_id: 'c-t', gateway_ws_url: `http://127.0.0.1:${server.port}/ws` }, d.message.requestId));
      },
    },
  });
  return { server, got, binaryIn, gatewayQueries, gateway: () => gateway };
}

type Options = ConstructorParameters<typeof ControlSession>[0];

function session(port: number, hooks: { binary(d: ArrayBuffer): void; connected(c: SessionConnection): void }, binaryTransport?: Options['binaryTransport'], frameSink?: Options['frameSink']) {
  return new ControlSession(
    testSessionOptions(port, { binaryTransport, frameSink }),
    testSessionHandlers({ binary: (d) => (hooks.binary(d), null), connected: (c) => hooks.connected(c) }),
    quietLog,
  );
}

describe('ControlSession with a binary transport', () => {
  test('gateway_hello{use_yamux}: the ack is sent, then binary frames reach the new transport and it can write', async () => {
    const hub = fakeHub();
    const claimed: number[] = [];
    const closed: string[] = [];
    let writer: TransportWriter | null = null;
    let conn: SessionConnection | null = null;
    const envelopeBinary: number[] = [];
    // A sink in front of each socket sees every frame any transport writes.
    const sunk: string[] = [];
    let factoryCalls = 0;
    const s = session(
      hub.server.port!,
      { binary: (d) => void envelopeBinary.push(d.byteLength), connected: (c) => (conn = c) },
      (offer, w) => {
        factoryCalls++;
        expect(offer.use_yamux).toBe(true);
        writer = w;
        return { name: 'yamux', onBinary: (d) => void claimed.push(d.byteLength), close: (r) => void closed.push(r) };
      },
      (ws) => {
        const inner = socketSink(ws);
        return {
          send: (d) => (sunk.push(typeof d === 'string' ? (JSON.parse(d) as { type: string }).type : `bin:${d.byteLength}`), inner.send(d)),
          get bufferedAmount() {
            return inner.bufferedAmount;
          },
          get open() {
            return inner.open;
          },
        };
      },
    );
    void s.start();
    try {
      await waitFor(() => hub.got.some((g) => g.path === '/ws' && g.m.type === 'gateway_hello_ack'), { what: 'gateway_hello_ack' });
      expect(hub.got.find((g) => g.m.type === 'gateway_hello_ack')!.m.payload).toEqual({ use_yamux: true });
      // With a binary transport the gateway dial advertises yamux (§2.1).
      expect(hub.gatewayQueries.map((q) => q.get('supports_yamux'))).toEqual(['true']);
      // A repeated offer changes nothing: no second ack, no second transport.
      hub.gateway()!.send(encodeEnvelope('gateway_hello', { use_yamux: true }));
      hub.gateway()!.send(encodeEnvelope('ping', null, 'after-hello'));
      await waitFor(() => hub.got.some((g) => g.m.type === 'pong' && g.m.requestId === 'after-hello'), { what: 'pong after the repeated hello' });
      expect(hub.got.filter((g) => g.m.type === 'gateway_hello_ack').length).toBe(1);
      expect(factoryCalls).toBe(1);
      hub.gateway()!.send(new Uint8Array(12));
      await waitFor(() => claimed.length === 1, { what: 'binary frame at the claiming transport' });
      expect(claimed).toEqual([12]);
      expect(envelopeBinary).toEqual([]);
      await waitFor(() => conn, { what: 'connected' });
      expect(conn!.sendBinary(new Uint8Array(3))).toBe(false);
      expect(writer!.sendBinary(new Uint8Array(5))).toBe(true);
      await waitFor(() => hub.binaryIn.includes(5), { what: 'transport write at the gateway' });
      expect(hub.binaryIn).toEqual([5]);
      expect(sunk).toEqual(['register', 'gateway_hello_ack', 'pong', 'bin:5']);
    } finally {
      await s.stop();
      hub.server.stop(true);
    }
    expect(closed.length).toBe(1);
  });

  test('without a binary transport the offer is declined: no ack, binary frames stay on the envelope path', async () => {
    const hub = fakeHub();
    const envelopeBinary: number[] = [];
    let conn: SessionConnection | null = null;
    const s = session(hub.server.port!, { binary: (d) => void envelopeBinary.push(d.byteLength), connected: (c) => (conn = c) });
    void s.start();
    try {
      await waitFor(() => conn && hub.gateway(), { what: 'gateway session' });
      hub.gateway()!.send(new Uint8Array(9));
      hub.gateway()!.send(encodeEnvelope('ping', null, 'p1'));
      await waitFor(() => hub.got.some((g) => g.m.type === 'pong' && g.m.requestId === 'p1'), { what: 'pong' });
      expect(envelopeBinary).toEqual([9]);
      expect(hub.got.some((g) => g.m.type === 'gateway_hello_ack')).toBe(false);
      expect(hub.gatewayQueries.map((q) => q.get('supports_yamux'))).toEqual([null]);
      expect(conn!.sendBinary(new Uint8Array(3))).toBe(true);
    } finally {
      await s.stop();
      hub.server.stop(true);
    }
  });
});
