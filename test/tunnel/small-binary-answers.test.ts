// Buffered answers toward a control plane that negotiated `binary_chunks` (ours): every non-empty one travels as a
// binary response frame (§3.6), whatever its size; other control planes keep upstream's rule (JSON below
// binary_threshold_bytes). Issue 14: no base64 and JSON around small bodies at either end.
import { afterAll, beforeAll, expect, test } from 'bun:test';
import { decodeResponseFrame } from '../../src/protocol/binary-frame.ts';
import type { InboundMessage } from '../../src/protocol/envelope.ts';
import type { SessionConnection } from '../../src/tunnel/session.ts';
import { mappedDispatcher } from '../support/tunnel-dispatcher.ts';
import { waitFor } from '../support/wait.ts';

let backend: ReturnType<typeof Bun.serve>;
beforeAll(() => {
  backend = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    fetch(req) {
      if (new URL(req.url).pathname === '/empty') return new Response(null, { status: 204 });
      if (new URL(req.url).pathname === '/big') return new Response(new Uint8Array(2 << 20), { headers: { 'Content-Type': 'application/octet-stream' } });
      return new Response('{"kind":"Status","small":true}', { headers: { 'Content-Type': 'application/json' } });
    },
  });
});
afterAll(() => backend.stop(true));

function setup(binaryAccepted = true) {
  const d = mappedDispatcher(backend.port);
  const text: { type: string; payload: Record<string, unknown>; id?: string }[] = [];
  const binary: Uint8Array<ArrayBuffer>[] = [];
  const conn: SessionConnection = {
    send: (m) => (text.push({ type: m.type, payload: m.payload as Record<string, unknown>, id: m.requestId }), true),
    sendBinary: (b) => {
      if (!binaryAccepted) return false;
      binary.push(b instanceof Uint8Array ? b : new Uint8Array(b));
      return true;
    },
    bufferedAmount: 0,
    open: true,
  };
  const request = (id: string, path: string, binaryChunks: boolean, method = 'GET') =>
    d.handle({ type: 'proxy_request', requestId: id, payload: { method, path, service_name: 'app', namespace: 'demo', service_port: 80, ...(binaryChunks ? { binary_chunks: true } : {}) } } as InboundMessage, conn);
  return { text, binary, request };
}

test('binary_chunks negotiated: a 30-byte answer comes as a binary response frame with status, headers and body', async () => {
  const { text, binary, request } = setup();
  request('r1', '/small', true);
  await waitFor(() => binary.length + text.length > 0);
  expect(text).toEqual([]);
  const f = decodeResponseFrame(binary[0]!);
  expect(f.ok).toBe(true);
  if (!f.ok) return;
  expect(f.value.requestId).toBe('r1');
  expect(f.value.status).toBe(200);
  expect(f.value.headers?.['Content-Type']).toEqual(['application/json']);
  expect(new TextDecoder().decode(f.value.body)).toBe('{"kind":"Status","small":true}');
});

test('without binary_chunks (an upstream control plane): the same answer is a JSON proxy_response, as upstream sends it', async () => {
  const { text, binary, request } = setup();
  request('r2', '/small', false);
  await waitFor(() => binary.length + text.length > 0);
  expect(binary).toEqual([]);
  expect(text[0]?.type).toBe('proxy_response');
  expect(Buffer.from(text[0]!.payload.body as string, 'base64').toString()).toBe('{"kind":"Status","small":true}');
});

test('an empty answer stays a JSON proxy_response; a binary send that fails (yamux owns binary) falls back to JSON', async () => {
  const a = setup();
  a.request('r3', '/empty', true);
  await waitFor(() => a.binary.length + a.text.length > 0);
  expect(a.binary).toEqual([]);
  expect(a.text[0]).toMatchObject({ type: 'proxy_response', id: 'r3', payload: { status: 204 } });
  const b = setup(false);
  b.request('r4', '/small', true);
  await waitFor(() => b.text.length > 0);
  expect(b.text[0]?.type).toBe('proxy_response');
  expect(Buffer.from(b.text[0]!.payload.body as string, 'base64').toString()).toBe('{"kind":"Status","small":true}');
});

test('a declared length over the buffered limit is refused with proxy_error; HEAD of it (no body) is answered empty', async () => {
  const { text, binary, request } = setup();
  request('big', '/big', true);
  request('head', '/big', true, 'HEAD');
  await waitFor(() => binary.length + text.length >= 2);
  expect(text.find((m) => m.id === 'big')).toMatchObject({ type: 'proxy_error', payload: { error: expect.stringContaining('exceeds the buffered limit of 1048576 bytes') } });
  expect(text.find((m) => m.id === 'head')).toMatchObject({ type: 'proxy_response', payload: { status: 200 } });
  expect(binary).toEqual([]);
});
