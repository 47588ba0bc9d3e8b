// Backpressure toward the control plane for WebSocket stream kinds (issue 17 item 7): while the tunnel socket is
// above its high-water mark the backend's reads pause; when it drained they resume, and nothing is lost.
import { afterAll, beforeAll, expect, test } from 'bun:test';
import type { MetricUpdate } from '../../src/threads/metric-update.ts';
import { parseProxyRequest } from '../../src/protocol/proxy-messages.ts';
import type { SessionConnection } from '../../src/tunnel/session.ts';
import { StreamRelay } from '../../src/tunnel/stream-relay.ts';
import { quietLog } from '../support/hub-agent.ts';
import { waitFor } from '../support/wait.ts';

const FRAMES = 50;
let backend: ReturnType<typeof Bun.serve>;
beforeAll(() => {
  backend = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    fetch: (req, srv) => (srv.upgrade(req, { data: {} }) ? undefined : new Response('no', { status: 400 })),
    websocket: {
      open(ws) {
        for (let i = 0; i < FRAMES; i++) ws.send(new Uint8Array(64 * 1024).fill(i));
        ws.send('last');
      },
      message() {},
    },
  });
});
afterAll(() => backend.stop(true));

test('application WebSocket: reads pause above the high-water mark (the tunnel is waited on) and resume, in order, once it drained', async () => {
  const HIGH = 1 << 20;
  const tunnel = { buffered: 8 * HIGH, reads: 0 };
  const frames: string[] = [];
  const conn: SessionConnection = {
    send: (m) => {
      if (m.type === 'proxy_websocket_data') frames.push(String(m.payload.data));
      return true;
    },
    sendBinary: () => true,
    get bufferedAmount() {
      tunnel.reads++;
      return tunnel.buffered;
    },
    open: true,
  };
  const metrics: MetricUpdate[] = [];
  const relay = new StreamRelay({
    kube: null,
    log: quietLog,
    metric: (u) => metrics.push(u),
    config: { highWaterBytes: HIGH, maxBufferedBytes: HIGH, serviceProxy: 'map', serviceMap: { 'demo/echo:80': `http://127.0.0.1:${backend.port}` }, clusterDomain: 'cluster.local', pingMs: 30_000, pongTimeoutMs: 60_000, dialTimeoutMs: 5_000 },
  });
  const r = parseProxyRequest({ type: 'proxy_request', requestId: 'app-1', payload: { method: 'GET', path: '/chat', headers: { Upgrade: ['websocket'], Connection: ['Upgrade'] } } });
  if (!r.ok) throw new Error(r.error);
  relay.upgrade(r.value, { kind: 'app-websocket', service: { name: 'echo', namespace: 'demo', port: 80 }, path: '/chat', https: false }, conn, false);
  try {
    await waitFor(() => frames.length >= 1, { what: 'first frame' });
    // The relay waits for the tunnel to drain (it keeps looking at its buffer) and the backend is held back.
    await waitFor(() => tunnel.reads >= 4, { what: 'a drain wait on the tunnel socket' });
    expect(frames.length).toBeLessThan(FRAMES + 1);
    tunnel.buffered = 0;
    await waitFor(() => frames.length === FRAMES + 1, { what: 'every frame after the drain' });
    const firstByte = (b64: string) => Buffer.from(b64, 'base64')[1];
    expect(frames.slice(0, FRAMES).map(firstByte)).toEqual(Array.from({ length: FRAMES }, (_, i) => i));
    expect(Buffer.from(frames[FRAMES]!, 'base64').subarray(1).toString()).toBe('last');
  } finally {
    relay.closeAll();
  }
});
