// Issue 5 acceptance, through the hub's Kubernetes gateway: an application WebSocket behind a sandbox Service
// (reached via `services/<name>:<port>/proxy/`, the same raw upgrade relay the public gateway will use), 200
// concurrent exec sessions with round-trip latency measured with and without one stalled reader, a backend that
// stops reading (backpressure, not drops), bad input on the tunnel next to a healthy stream, and the agent's
// stream metrics afterwards.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createServer, type Server, type Socket } from 'node:net';
import type { InboundMessage } from '../../src/protocol/envelope.ts';
import { encodeFrameData } from '../../src/protocol/stream-messages.ts';
import { OPCODE } from '../../src/protocol/websocket-frame.ts';
import { USER_TOKEN } from '../support/hub-agent.ts';
import { agentMetric, RawWsClient, startHubStreamStack } from '../support/hub-streams.ts';
import { CP_TOKEN, type Stack } from '../support/stack.ts';
import { waitFor } from '../support/wait.ts';
import { randomPayload, sha256 } from '../sandbox/streams/kubectl-run.ts';
import { testPod } from '../sandbox/streams/sandbox-fixture.ts';

let s: Stack;
let echo: ReturnType<typeof Bun.serve>;
let sink: Server;
const sinkSockets: Socket[] = [];
const serverCloses: { code: number; reason: string }[] = [];
const fromAgent: InboundMessage[] = [];
const SESSIONS = 200;
const PODS = 10;

beforeAll(async () => {
  // A small per-stream buffer toward backends (2 × 1 MiB) so a backend that stops reading shows backpressure
  // after a few MiB rather than 100.
  s = await startHubStreamStack({ proxy: { ws_channel_capacity: 2 } });
  s.hub.agents.tap((_id, m) => fromAgent.push(m));
  for (let i = 0; i < PODS; i++) s.sandbox.apply(testPod(`load-${i}`));
  echo = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    fetch(req, srv) {
      if (srv.upgrade(req, { data: undefined })) return;
      return new Response('no upgrade', { status: 400 });
    },
    websocket: {
      message(ws, msg) {
        if (msg === 'close-me') ws.close(4001, 'asked to close');
        else ws.send(msg);
      },
      close(_ws, code, reason) {
        serverCloses.push({ code, reason });
      },
    },
  });
  s.sandbox.bindService('default', 'ws-echo', 80, { host: '127.0.0.1', port: echo.port as number });
  // A backend that accepts the upgrade without reading it, then never reads at all (no 'data' listener).
  sink = createServer((sock) => {
    sinkSockets.push(sock);
    sock.on('error', () => {});
    sock.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n');
  });
  await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
  s.sandbox.bindService('default', 'sink', 80, { host: '127.0.0.1', port: (sink.address() as { port: number }).port });
}, 30_000);

afterAll(async () => {
  for (const x of sinkSockets) x.destroy();
  sink?.close();
  echo?.stop(true);
  await s?.stop();
});

const svcPath = (name: string) => `/api/v1/namespaces/default/services/${name}:80/proxy/`;

describe('application WebSocket behind a sandbox Service, through the hub', () => {
  const open = () =>
    new Promise<WebSocket>((resolve, reject) => {
      const ws = new WebSocket(`${s.hub.kubeUrl.replace(/^https/, 'wss')}/clusters/${s.clusterId}/k8s${svcPath('ws-echo')}`, {
        headers: { Authorization: `Bearer ${USER_TOKEN}` },
        tls: { ca: s.hub.kubeCaPem },
      } as unknown as string[]);
      ws.binaryType = 'arraybuffer';
      ws.onopen = () => resolve(ws);
      ws.onerror = (e) => reject(new Error(`websocket error: ${(e as ErrorEvent).message ?? 'unknown'}`));
    });

  test('text and binary messages echo; a server-initiated close reaches the client with its code and reason', async () => {
    const ws = await open();
    const got: (string | Uint8Array)[] = [];
    let wake = () => {};
    ws.onmessage = (ev) => {
      got.push(typeof ev.data === 'string' ? ev.data : new Uint8Array(ev.data as ArrayBuffer));
      wake();
    };
    const closed = new Promise<CloseEvent>((r) => (ws.onclose = r));
    const next = (n: number) => (got.length >= n ? Promise.resolve() : new Promise<void>((r) => (wake = () => got.length >= n && r())));
    ws.send('hello through the hub');
    await next(1);
    const bin = randomPayload(200 * 1024);
    ws.send(new Uint8Array(bin));
    await next(2);
    expect(got[0]).toBe('hello through the hub');
    expect(typeof got[1]).not.toBe('string');
    expect(sha256(got[1] as Uint8Array)).toBe(sha256(bin));
    ws.send('close-me');
    const ev = await closed;
    expect(ev.code).toBe(4001);
    expect(ev.reason).toBe('asked to close');
  }, 30_000);

  test('a client close reaches the server with its code', async () => {
    const ws = await open();
    const before = serverCloses.length;
    ws.close(4002, 'client says bye');
    await waitFor(() => serverCloses.length > before, { what: 'the server saw the close' });
    expect(serverCloses.at(-1)).toEqual({ code: 4002, reason: 'client says bye' });
  }, 30_000);
});

/** `n` exec sessions of `cat` (WebSocket v5 straight to the gateway), each doing `rounds` stdin → stdout round trips. */
async function execRoundTrips(n: number, rounds: number, tag: string): Promise<{ rtts: number[]; clients: RawWsClient[] }> {
  const clients = await Promise.all(
    Array.from({ length: n }, (_, i) => RawWsClient.open(s, `/api/v1/namespaces/default/pods/load-${i % PODS}/exec?command=cat&stdin=true&stdout=true&stderr=true`, ['v5.channel.k8s.io'])),
  );
  for (const c of clients) expect(c.protocol).toBe('v5.channel.k8s.io');
  const rtts: number[] = [];
  await Promise.all(
    clients.map(async (c, i) => {
      let expected = '';
      for (let r = 0; r < rounds; r++) {
        const line = `${tag}-${i}-${r}\n`;
        expected += line;
        const t0 = performance.now();
        c.stdin(Buffer.from(line));
        await c.until(() => c.channel(1).length >= expected.length, `round ${r} of session ${i}`);
        rtts.push(performance.now() - t0);
      }
      expect(c.channel(1).toString()).toBe(expected);
    }),
  );
  // v5 half-close of stdin: cat exits, the status channel says Success, the server closes.
  await Promise.all(
    clients.map(async (c) => {
      c.send(OPCODE.binary, new Uint8Array([255, 0]));
      await c.until(() => c.channel(3).length > 0, 'exec status');
      expect(JSON.parse(c.channel(3).toString()).status).toBe('Success');
      await c.closed;
    }),
  );
  return { rtts, clients };
}

function pct(xs: number[], p: number): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}
const fmtMs = (x: number) => `${x.toFixed(1)} ms`;

describe('concurrent exec sessions through the hub', () => {
  const ROUNDS = 5;
  const latency: [string, number[]][] = [];

  test(`${SESSIONS} concurrent exec sessions complete without error`, async () => {
    const { rtts } = await execRoundTrips(SESSIONS, ROUNDS, 'first');
    latency.push(['first run (cold)', rtts]);
    expect(rtts.length).toBe(SESSIONS * ROUNDS);
  }, 60_000);

  test('one stalled reader does not stall the others; nothing of its stream is dropped', async () => {
    latency.push(['no stalled session', (await execRoundTrips(SESSIONS, ROUNDS, 'base')).rtts]);

    const stalled = await RawWsClient.open(s, '/api/v1/namespaces/default/pods/load-0/exec?command=cat&stdin=true&stdout=true', ['v5.channel.k8s.io']);
    stalled.pause();
    const STALL_BYTES = 16 * 1024 * 1024;
    const chunk = randomPayload(64 * 1024);
    // Only the stalled session is active now: count what reaches the hub for it.
    let toHub = 0;
    const off = s.hub.agents.tap((_id, m) => {
      if (m.type === 'proxy_websocket_data') toHub += Buffer.byteLength(String(m.payload.data), 'base64') - 1;
    });
    for (let sent = 0; sent < STALL_BYTES; sent += chunk.length) stalled.stdin(chunk);
    // cat has echoed everything and the hub has taken it: it now sits in the hub's and the kernel's buffers.
    await waitFor(() => toHub >= STALL_BYTES, { what: 'the stalled stream echoed to the hub', timeoutMs: 30_000 });
    off();
    const { rtts } = await execRoundTrips(SESSIONS, ROUNDS, 'stall');
    latency.push([`one stalled (${STALL_BYTES >> 20} MiB unread)`, rtts]);
    // The others finished while the stalled reader was still not reading.
    const readWhileStalled = stalled.bytesRead;
    expect(readWhileStalled).toBeLessThan(STALL_BYTES);
    stalled.resume();
    await stalled.until(() => stalled.channel(1).length >= STALL_BYTES, 'the stalled reader catching up', 30_000);
    expect(stalled.channel(1).length).toBe(STALL_BYTES);
    expect(stalled.channel(1).subarray(0, chunk.length).equals(chunk)).toBe(true);
    stalled.send(OPCODE.binary, new Uint8Array([255, 0]));
    await stalled.closed;

    const row = (cells: string[]) => `| ${cells[0]!.padEnd(26)} | ${cells.slice(1).map((c) => c.padStart(9)).join(' | ')} |`;
    console.log(
      [
        '',
        `exec round trip (stdin → cat → stdout, ~16 B) through hub → agent → sandbox, ${SESSIONS} concurrent sessions × ${ROUNDS} rounds:`,
        row(['run', 'n', 'p50', 'p99', 'max']),
        `|${'-'.repeat(28)}|${'|'.padStart(12, '-').repeat(4)}`,
        ...latency.map(([name, v]) => row([name, String(v.length), fmtMs(pct(v, 50)), fmtMs(pct(v, 99)), fmtMs(Math.max(...v))])),
        `stalled reader: ${readWhileStalled} of ${STALL_BYTES} bytes read while the others ran`,
        '',
      ].join('\n'),
    );
  }, 60_000);
});

describe('a backend that stops reading', () => {
  test('the agent signals backpressure for that stream only; a concurrent exec is unaffected', async () => {
    const c = await RawWsClient.open(s, svcPath('sink'), []);
    const chunk = randomPayload(256 * 1024);
    const before = fromAgent.length;
    const backpressure = () => fromAgent.slice(before).find((m) => m.type === 'backpressure');
    // Push until the agent says the stream's buffer toward the backend is full (kernel buffers absorb the first MiBs).
    let sent = 0;
    while (!backpressure() && sent < 256 * 1024 * 1024 && !c.closeCode) {
      for (let i = 0; i < 8; i++) c.send(OPCODE.binary, chunk);
      sent += 8 * chunk.length;
      await new Promise((r) => setImmediate(r));
    }
    const bp = await waitFor(backpressure, { what: `a backpressure message (${sent} bytes sent)` });
    expect(bp.payload.reason).toBe('channel_full');
    const stream = String(bp.payload.request_id);
    expect(stream).toStartWith('k8s-');
    const healthy = await execRoundTrips(3, 3, 'beside-sink');
    expect(healthy.rtts.length).toBe(9);
    // Only the sink's stream was signalled.
    expect(fromAgent.slice(before).filter((m) => m.type === 'backpressure').every((m) => m.payload.request_id === stream)).toBe(true);
    console.log(`backpressure toward a backend that stops reading: signalled after ${(sent / 1048576).toFixed(1)} MiB sent by the client`);
    c.destroy();
    await waitFor(async () => (await agentMetric(s, /^pipeops_ws_sessions_active\{kind="kubernetes"\}/)) === 0, { what: 'sink stream ended' });
  }, 60_000);
});

describe('bad input through the tunnel, next to a healthy stream', () => {
  const auth = { Authorization: [`Bearer ${CP_TOKEN}`] };
  const closeFor = (id: string) => fromAgent.find((m) => m.type === 'proxy_websocket_close' && m.requestId === id);
  const errorFor = (id: string) => fromAgent.find((m) => m.type === 'proxy_error' && m.requestId === id);

  test('unknown stream id, data before start, /api/../etc, oversized frame: answered or dropped; the healthy exec completes', async () => {
    const healthy = await RawWsClient.open(s, '/api/v1/namespaces/default/pods/load-1/exec?command=cat&stdin=true&stdout=true', ['v5.channel.k8s.io']);
    healthy.stdin(Buffer.from('before\n'));
    await healthy.until(() => healthy.channel(1).toString() === 'before\n', 'healthy echo before');
    const dropsBefore = await agentMetric(s, /^pipeops_protocol_errors_total\{reason="unknown_stream"\}/);

    // Unknown stream id, and data sent before its start: both dropped (counted, nothing sent back).
    s.send('proxy_websocket_data', { stream_id: 'never-started', data: encodeFrameData(2, Buffer.from('x')) });
    s.send('ws_data', { stream_id: 'early', data: encodeFrameData(2, new Uint8Array([0, ...Buffer.from('too early\n')])) });
    s.send('proxy_websocket_start', { stream_id: 'early', path: '/api/v1/namespaces/default/pods/load-2/exec', query: 'command=cat&stdin=true&stdout=true', headers: auth, raw_frames: true }, 'early');
    s.send('ws_data', { stream_id: 'early', data: encodeFrameData(2, new Uint8Array([0, ...Buffer.from('after start\n')])) });
    s.send('ws_data', { stream_id: 'early', data: encodeFrameData(2, new Uint8Array([255, 0])) });
    await waitFor(() => closeFor('early'), { what: 'early stream closed' });
    const earlyOut = fromAgent
      .filter((m) => m.type === 'proxy_websocket_data' && m.requestId === 'early')
      .map((m) => Buffer.from(String(m.payload.data), 'base64'))
      .filter((f) => f[1] === 1)
      .map((f) => f.subarray(2).toString())
      .join('');
    expect(earlyOut).toBe('after start\n');
    await waitFor(async () => (await agentMetric(s, /^pipeops_protocol_errors_total\{reason="unknown_stream"\}/)) - dropsBefore >= 2, { what: 'two drops counted' });
    expect(fromAgent.some((m) => m.requestId === 'never-started')).toBe(false);

    // `/api/../etc`: `..` is removed (§4.1), so the API server is asked for /api/etc — never /etc — and its 404
    // comes back as the dial error, followed by the stream's close.
    s.send('ws_start', { stream_id: 'dotdot', path: '/api/../etc', headers: auth }, 'dotdot');
    const dotErr = await waitFor(() => errorFor('dotdot'), { what: 'dotdot answered' });
    expect(String(dotErr.payload.error)).toMatch(/^failed to connect to K8s API: .*\(status: 404\)$/);
    await waitFor(() => closeFor('dotdot'), { what: 'dotdot closed' });
    expect(s.sandbox.requests.some((r) => r.url.startsWith('/api/etc'))).toBe(true);
    expect(s.sandbox.requests.some((r) => r.url.startsWith('/etc'))).toBe(false);

    // An oversized frame (2 MiB > proxy.ws_max_frame_bytes) for a live stream: that stream is closed with 1009
    // and the control plane told; nothing else is affected.
    s.send('proxy_websocket_start', { stream_id: 'big', path: '/api/v1/namespaces/default/pods/load-3/exec', query: 'command=cat&stdin=true&stdout=true', headers: auth, raw_frames: true }, 'big');
    s.send('ws_data', { stream_id: 'big', data: encodeFrameData(2, new Uint8Array([0, ...Buffer.from('small\n')])) });
    await waitFor(() => fromAgent.some((m) => m.type === 'proxy_websocket_data' && m.requestId === 'big'), { what: 'big stream echoes' });
    s.send('ws_data', { stream_id: 'big', data: encodeFrameData(2, randomPayload(2 * 1024 * 1024)) });
    const bigClose = await waitFor(() => closeFor('big'), { what: 'oversized frame answered' });
    expect(bigClose.payload.code).toBe(1009);
    await waitFor(async () => (await agentMetric(s, /^pipeops_protocol_errors_total\{reason="stream_frame_too_large"\}/)) === 1, { what: 'oversized frame counted' });

    // The healthy stream never noticed.
    healthy.stdin(Buffer.from('after\n'));
    await healthy.until(() => healthy.channel(1).toString() === 'before\nafter\n', 'healthy echo after');
    healthy.send(OPCODE.binary, new Uint8Array([255, 0]));
    await healthy.until(() => healthy.channel(3).length > 0, 'healthy status');
    expect(JSON.parse(healthy.channel(3).toString()).status).toBe('Success');
    expect(s.agent.status.snapshot().workers.tunnel?.restarts).toBe(0);
    expect(s.agent.status.snapshot().connection.state).toBe('connected');
  }, 30_000);
});

describe('agent metrics after the tests above', () => {
  test('no active sessions left; durations, bytes both ways and backpressure counted', async () => {
    for (const kind of ['exec', 'kubernetes']) {
      const re = new RegExp(`^pipeops_ws_sessions_active\\{kind="${kind}"\\}`);
      await waitFor(async () => (await agentMetric(s, re)) === 0, { what: `${kind} sessions back at 0 (now ${await agentMetric(s, re)})` });
    }
    expect(await agentMetric(s, /^pipeops_ws_session_duration_seconds_count\{kind="exec"\}/)).toBeGreaterThanOrEqual(2 * SESSIONS + 1);
    expect(await agentMetric(s, /^pipeops_ws_session_duration_seconds_count\{kind="kubernetes"\}/)).toBeGreaterThanOrEqual(3);
    for (const kind of ['exec', 'kubernetes']) {
      expect(await agentMetric(s, new RegExp(`^pipeops_ws_bytes_total\\{kind="${kind}",direction="to_backend"\\}`))).toBeGreaterThan(0);
      expect(await agentMetric(s, new RegExp(`^pipeops_ws_bytes_total\\{kind="${kind}",direction="to_control_plane"\\}`))).toBeGreaterThan(0);
    }
    expect(await agentMetric(s, /^pipeops_ws_bytes_total\{kind="exec",direction="to_backend"\}/)).toBeGreaterThanOrEqual(16 * 1024 * 1024);
    expect(await agentMetric(s, /^pipeops_ws_backpressure_total\{kind="kubernetes"\}/)).toBeGreaterThanOrEqual(1);
    console.log(`agent backpressure events: exec ${await agentMetric(s, /^pipeops_ws_backpressure_total\{kind="exec"\}/)}, kubernetes (services proxy) ${await agentMetric(s, /^pipeops_ws_backpressure_total\{kind="kubernetes"\}/)}`);
  }, 30_000);
});
