// Stream messages at the protocol level: ws_start with upstream channel translation, raw frames, bad input,
// and an application WebSocket behind a (mapped) Service with close reporting.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import type { InboundMessage } from '../../src/protocol/envelope.ts';
import { encodeFrameData } from '../../src/protocol/stream-messages.ts';
import { CP_TOKEN, type Stack, startStack } from '../support/stack.ts';
import { waitFor } from '../support/wait.ts';

let s: Stack;
let echo: ReturnType<typeof Bun.serve>;
const fromAgent: InboundMessage[] = [];
const serverCloses: number[] = [];

beforeAll(async () => {
  echo = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    fetch(req, srv) {
      if (srv.upgrade(req, { data: { host: req.headers.get('host') } })) return;
      return new Response('no upgrade', { status: 400 });
    },
    websocket: {
      message(ws, msg) {
        if (msg === 'close-me') ws.close(4001, 'asked to close');
        else ws.send(msg);
      },
      close(_ws, code) {
        serverCloses.push(code);
      },
    },
  });
  s = await startStack({ agent: { kubernetes: { service_map: { 'demo/echo:80': `http://127.0.0.1:${echo.port}` }, service_proxy: 'map' } } });
  s.hub.agents.tap((_id, m) => fromAgent.push(m));
});
afterAll(async () => {
  await s?.stop();
  echo?.stop(true);
});

const auth = { Authorization: [`Bearer ${CP_TOKEN}`] };
const dataFor = (id: string) => fromAgent.filter((m) => m.type === 'proxy_websocket_data' && m.requestId === id);
const text = (m: InboundMessage) => Buffer.from(String(m.payload.data), 'base64');

describe('kubectl-style streams (ws_start)', () => {
  test('translation mode (upstream default): stdout and status arrive as text without channel bytes', async () => {
    s.send('ws_start', { stream_id: 'exec-1', path: '/api/v1/namespaces/demo/pods/hello-6d9f7c8b5-abcde/exec', query: 'command=echo&command=hello&command=world&stdout=true&stderr=true', headers: auth }, 'exec-1');
    const close = await waitFor(() => fromAgent.find((m) => m.type === 'proxy_websocket_close' && m.requestId === 'exec-1'), { what: 'stream closed' });
    expect(close.payload.stream_id).toBe('exec-1');
    const frames = dataFor('exec-1').map(text);
    expect(frames.every((f) => f[0] === 1)).toBe(true); // opcode text
    expect(frames.map((f) => f.subarray(1).toString()).join('')).toContain('hello world');
  });

  test('raw frames (negotiated): channel bytes and the v5 status survive, stdin round-trips with CLOSE', async () => {
    s.send('proxy_websocket_start', { stream_id: 'exec-2', path: '/api/v1/namespaces/demo/pods/hello-6d9f7c8b5-abcde/exec', query: 'command=cat&stdin=true&stdout=true&stderr=true', headers: auth, raw_frames: true }, 'exec-2');
    s.send('proxy_websocket_data', { stream_id: 'exec-2', data: encodeFrameData(2, new Uint8Array([0, ...Buffer.from('ping-pong\n')])) });
    s.send('proxy_websocket_data', { stream_id: 'exec-2', data: encodeFrameData(2, new Uint8Array([255, 0])) });
    await waitFor(() => fromAgent.find((m) => m.type === 'proxy_websocket_close' && m.requestId === 'exec-2'), { what: 'stream closed' });
    const frames = dataFor('exec-2').map(text);
    expect(frames.every((f) => f[0] === 2)).toBe(true); // opcode binary, untranslated
    const stdout = frames.filter((f) => f[1] === 1).map((f) => f.subarray(2).toString()).join('');
    expect(stdout).toBe('ping-pong\n');
    const status = frames.find((f) => f[1] === 3);
    expect(JSON.parse(status!.subarray(2).toString()).status).toBe('Success');
  });

  test('bad input: missing stream id, invalid path, data for an unknown stream, malformed data — answered or dropped, nothing else affected', async () => {
    s.send('ws_start', { path: '/api/v1/x' }, 'no-id');
    s.send('ws_start', { stream_id: 'bad-path', path: '/api/../etc/%2e%2e' }, 'bad-path');
    s.send('ws_start', { stream_id: 'bad-path-2', path: '/etc/passwd' }, 'bad-path-2');
    s.send('proxy_websocket_data', { stream_id: 'never-started', data: 'AQID' });
    s.send('proxy_websocket_data', { stream_id: 'exec-3', data: 12 });
    await waitFor(() => fromAgent.filter((m) => m.type === 'proxy_error' && ['no-id', 'bad-path', 'bad-path-2'].includes(String(m.requestId))).length === 3, { what: 'three errors' });
    const err = (id: string) => String(fromAgent.find((m) => m.type === 'proxy_error' && m.requestId === id)?.payload.error);
    expect(err('no-id')).toBe('missing stream_id');
    expect(err('bad-path-2')).toBe('invalid path: must be a Kubernetes API path');
    // Still healthy: a new stream works.
    s.send('ws_start', { stream_id: 'exec-4', path: '/api/v1/namespaces/demo/pods/hello-6d9f7c8b5-abcde/exec', query: 'command=echo&command=ok&stdout=true', headers: auth }, 'exec-4');
    await waitFor(() => fromAgent.find((m) => m.type === 'proxy_websocket_close' && m.requestId === 'exec-4'), { what: 'exec-4 closed' });
    expect(dataFor('exec-4').map((m) => text(m).subarray(1).toString()).join('')).toContain('ok');
  });
});

describe('application WebSocket behind a Service', () => {
  test('101 after the backend accepted; text and binary both ways; server close reaches the control plane with its code (W1)', async () => {
    const id = 'app-1';
    const r = s.proxy({ method: 'GET', path: '/socket', headers: { Host: ['echo.demo.local'], Upgrade: ['websocket'], Connection: ['Upgrade'], 'Sec-WebSocket-Key': ['dGhlIHNhbXBsZSBub25jZQ=='], 'Sec-WebSocket-Version': ['13'] }, service_name: 'echo', namespace: 'demo', service_port: 80 }, { id });
    const first = await r.done;
    expect(first.type).toBe('proxy_response');
    expect((first as InboundMessage).payload.status).toBe(101);
    s.send('proxy_websocket_data', { request_id: id, data: Buffer.from('hello app').toString('base64'), message_type: 1 });
    s.send('ws_data', { stream_id: id, data: encodeFrameData(2, new Uint8Array([9, 8, 7])) });
    await waitFor(() => dataFor(id).length >= 2, { what: 'two echoes' });
    const [t, b] = dataFor(id);
    expect(t!.payload.message_type).toBe(1);
    expect(text(t!).subarray(1).toString()).toBe('hello app');
    expect([...text(b!).subarray(1)]).toEqual([9, 8, 7]);
    s.send('proxy_websocket_data', { request_id: id, data: encodeFrameData(1, Buffer.from('close-me')) });
    const close = await waitFor(() => fromAgent.find((m) => m.type === 'proxy_websocket_close' && m.requestId === id), { what: 'close reported' });
    expect(close.payload.code).toBe(4001);
    expect(close.payload.reason).toBe('asked to close');
  });

  test('client close reaches the server', async () => {
    const id = 'app-2';
    const before = serverCloses.length;
    const r = s.proxy({ method: 'GET', path: '/', headers: { Upgrade: ['websocket'], Connection: ['Upgrade'], 'Sec-WebSocket-Key': ['dGhlIHNhbXBsZSBub25jZQ=='], 'Sec-WebSocket-Version': ['13'] }, service_name: 'echo', namespace: 'demo', service_port: 80 }, { id });
    expect(((await r.done) as InboundMessage).payload.status).toBe(101);
    s.send('proxy_websocket_close', { request_id: id });
    await waitFor(() => serverCloses.length > before, { what: 'server saw the close' });
    expect(serverCloses.at(-1)).toBe(1000);
  });
});
