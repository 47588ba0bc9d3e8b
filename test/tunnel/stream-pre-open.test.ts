// Bounded pre-open queues (issue 17 item 7): frames for a stream whose backend has not opened yet are held up to the
// stream's hard bound (8 × maxBufferedBytes); past it the stream ends with 1009 and a reason, instead of the agent
// holding whatever the control plane sends while a backend handshake hangs.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createServer, type Server, type Socket } from 'node:net';
import type { MetricUpdate } from '../../src/threads/metric-update.ts';
import type { KubeClient } from '../../src/kube/client.ts';
import type { InboundMessage } from '../../src/protocol/envelope.ts';
import { parseProxyRequest, type ProxyRequest } from '../../src/protocol/proxy-messages.ts';
import { encodeFrameData, OPCODE } from '../../src/protocol/stream-messages.ts';
import type { SessionConnection } from '../../src/tunnel/session.ts';
import { StreamRelay } from '../../src/tunnel/stream-relay.ts';
import { quietLog } from '../support/hub-agent.ts';
import { waitFor } from '../support/wait.ts';

/** A backend that accepts connections and never answers the upgrade. */
let silent: Server;
const held: Socket[] = [];
beforeAll(async () => {
  silent = createServer((s) => void held.push(s));
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
});
afterAll(() => {
  for (const s of held) s.destroy();
  silent.close();
});

const MAX_BUFFERED = 4096; // hard bound 8 × 4096 = 32 KiB

function relay() {
  const sent: { type: string; payload: Record<string, unknown> | null; id?: string }[] = [];
  const metrics: MetricUpdate[] = [];
  const conn: SessionConnection = { send: (m) => (sent.push({ type: m.type, payload: m.payload as Record<string, unknown>, id: m.requestId }), true), sendBinary: () => true, bufferedAmount: 0, open: true };
  const port = (silent.address() as { port: number }).port;
  const kube = { target: { server: `http://127.0.0.1:${port}`, source: 'kubeconfig', token: () => 'agent-token' } } as unknown as KubeClient;
  const r = new StreamRelay({
    kube,
    log: quietLog,
    metric: (u) => metrics.push(u),
    config: { highWaterBytes: 1 << 20, maxBufferedBytes: MAX_BUFFERED, serviceProxy: 'apiserver', serviceMap: {}, clusterDomain: 'cluster.local', pingMs: 30_000, pongTimeoutMs: 60_000, dialTimeoutMs: 30_000 },
  });
  return { r, conn, sent, metrics };
}

const data = (id: string, bytes: number): InboundMessage => ({
  type: 'proxy_websocket_data',
  requestId: id,
  payload: { stream_id: id, data: encodeFrameData(OPCODE.binary, new Uint8Array(bytes)) },
});

/** An upgrade proxy_request with the negotiated raw_upgrade, parsed as the relay receives it. */
function upgradeRequest(id: string): ProxyRequest {
  const m = { type: 'proxy_request', requestId: id, payload: { method: 'GET', path: '/api/v1/namespaces/demo/pods/p/exec', query: 'command=cat&stdin=true', headers: { Upgrade: ['SPDY/3.1'], Connection: ['Upgrade'] }, raw_upgrade: true } };
  const r = parseProxyRequest(m);
  if (!r.ok) throw new Error(r.error);
  return r.value;
}

describe('pre-open queues are bounded', () => {
  test('kube stream (ws_start): under the bound frames wait; past it the stream ends with 1009 and a reason', async () => {
    const { r, conn, sent, metrics } = relay();
    r.start({ type: 'ws_start', requestId: 's1', payload: { stream_id: 's1', path: '/api/v1/namespaces/demo/pods/p/exec', query: 'command=cat&stdin=true' } }, conn);
    await waitFor(() => held.length >= 1, { what: 'backend connection' });
    for (let i = 0; i < 3; i++) r.data(data('s1', 8192));
    expect(r.has('s1')).toBe(true);
    expect(sent.filter((m) => m.type === 'proxy_websocket_close')).toEqual([]);
    r.data(data('s1', 8192)); // 4 × (8 KiB + overhead) > 32 KiB
    expect(r.has('s1')).toBe(false);
    const close = sent.find((m) => m.type === 'proxy_websocket_close' && m.id === 's1');
    expect(close?.payload).toEqual({ stream_id: 's1', code: 1009, reason: `more than ${8 * MAX_BUFFERED} bytes sent before the backend connection opened; stream closed` });
    expect(metrics.some((m) => m.name === 'pipeops_protocol_errors_total' && m.labels?.reason === 'stream_pre_open_overflow')).toBe(true);
    r.closeAll();
  });

  test('raw upgrade: the same bound while the upgrade is unanswered', async () => {
    const { r, conn, sent } = relay();
    const before = held.length;
    r.upgrade(upgradeRequest('u1'), { kind: 'kube-stream', path: '/api/v1/namespaces/demo/pods/p/exec' }, conn, true);
    await waitFor(() => held.length > before, { what: 'backend connection' });
    for (let i = 0; i < 3; i++) r.data(data('u1', 8192));
    expect(r.has('u1')).toBe(true);
    r.data(data('u1', 8192));
    expect(r.has('u1')).toBe(false);
    const close = sent.find((m) => m.type === 'proxy_websocket_close' && m.id === 'u1');
    expect(close?.payload).toEqual({ stream_id: 'u1', code: 1009, reason: `more than ${8 * MAX_BUFFERED} bytes sent before the backend connection opened; stream closed` });
    r.closeAll();
  });
});
