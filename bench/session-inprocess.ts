// The agent's session path driven end to end in one process (issue 14): a hub process (bench/support/session-hub.ts)
// sends `proxy_request` envelopes as our hub builds them over a real WebSocket at c=64; this process runs the tree's
// ControlSession (resumed on the gateway: no registration) and TunnelDispatcher, wired as src/tunnel/worker-main.ts
// wires them (MetricBatch posting to a MessagePort, the quiet-collector hooks), against bench/support/backend.ts.
// --floor runs the least an agent does instead (one WebSocket, JSON.parse, fetch, one id-prefixed binary frame).
// The hub reads this process's CPU from /proc per round: all threads, and the JS thread's user and system time.
// Run it under `bun --cpu-prof` to see the session path's cost; compare trees by alternating runs.
//
//   bun bench/session-inprocess.ts [--tree DIR] [--floor] [--requests 20000] [--rounds 3]
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lineOf } from './support/load.ts';

const argv = process.argv.slice(2);
const opt = (n: string, d: string) => {
  const i = argv.indexOf(`--${n}`);
  return i < 0 ? d : argv[i + 1]!;
};
const TREE = opt('tree', join(import.meta.dir, '..'));
const N = opt('requests', '20000');
const ROUNDS = opt('rounds', '3');
const FLOOR = argv.includes('--floor');

const { TunnelDispatcher } = await import(join(TREE, 'src/tunnel/dispatch.ts'));
const { ControlSession } = await import(join(TREE, 'src/tunnel/session.ts'));
const { KubeClient } = await import(join(TREE, 'src/kube/client.ts'));
const { MetricBatch } = await import(join(TREE, 'src/threads/metric-batch.ts'));
const { markThreadBusy, markThreadRelayed } = await import(join(TREE, 'src/threads/quiet-collector.ts'));
const { buildProxyRequest } = await import(join(TREE, 'src/protocol/proxy-request-builders.ts'));
const { encodeMessage } = await import(join(TREE, 'src/protocol/wire-messages.ts'));

const dir = mkdtempSync(join(tmpdir(), 'session-bench-'));
const backend = Bun.spawn([process.execPath, join(import.meta.dir, 'support/backend.ts')], { stdout: 'pipe', stderr: 'inherit' });
let hub: ReturnType<typeof Bun.spawn> | null = null;
try {
  const url = JSON.parse(await lineOf(backend, /backend_ready/)).url as string;
  // One envelope as the hub sends it (kubectl's headers after the hub's filter), the request id spliced in per request.
  const rawHeaders = ['Host', 'hub', 'Authorization', 'Bearer x', 'Accept', 'application/json, */*', 'User-Agent', 'kubectl/v1.33.0 (linux/amd64) kubernetes/abc', 'Connection', 'keep-alive', 'Accept-Encoding', 'gzip'];
  const template = encodeMessage({ type: 'proxy_request', payload: buildProxyRequest({ requestId: 'REQUEST-ID', method: 'GET', path: '/bench/small', query: '', rawHeaders, serviceToken: 'bench-sa-token', body: new Uint8Array(0), streaming: false, binaryChunks: true }).payload, requestId: 'REQUEST-ID' });
  writeFileSync(join(dir, 'template'), template);
  hub = Bun.spawn([process.execPath, join(import.meta.dir, 'support/session-hub.ts'), String(process.pid), N, ROUNDS, join(dir, 'template')], { stdout: 'pipe', stderr: 'inherit' });
  const hubUrl = JSON.parse(await lineOf(hub, /hub_ready/)).url as string;
  const done = hub.exited;
  if (FLOOR) floorAgent(hubUrl.replace('http', 'ws') + '/ws', url);
  else {
    const log = { debug() {}, info() {}, warn: (...a: unknown[]) => console.error('warn', ...a), error: (...a: unknown[]) => console.error('error', ...a), child: () => log };
    const ch = new MessageChannel();
    ch.port2.onmessage = () => {};
    const metric = new MetricBatch((updates: unknown[]) => ch.port1.postMessage({ kind: 'metrics', updates })).add;
    const kube = new KubeClient({ server: url, insecureSkipVerify: true, token: () => 'bench-sa', source: 'explicit' }, { userAgent: 'pipeops-agent/bench' });
    const dispatcher = new TunnelDispatcher({
      kube,
      log,
      metric,
      relay: { serviceProxy: 'apiserver', serviceMap: {}, clusterDomain: 'cluster.local', maxBufferedBodyBytes: 64 << 20, maxRequestBodyBytes: 64 << 20, bufferedTimeoutMs: 60_000, bodyIdleMs: 30_000, binaryThreshold: 10_240, gzipMinBytes: 1024, highWaterBytes: 4 << 20 },
      streams: { highWaterBytes: 4 << 20, maxBufferedBytes: 16 << 20, serviceProxy: 'apiserver', serviceMap: {}, clusterDomain: 'cluster.local', pingMs: 30_000 },
    });
    const session = new ControlSession(
      {
        apiUrl: hubUrl,
        token: 't',
        agentVersion: '0.0.0',
        state: { cluster_id: 'c1', cluster_uuid: 'c1', gateway_ws_url: hubUrl, cluster_token: '' },
        credentialsChanged: false,
        tls: { enabled: false, insecureSkipVerify: false },
        timeouts: { handshakeMs: 5000, pingMs: 30_000, readMs: 90_000, reconnectMs: 60_000, reconnectMaxMs: 60_000, registrationMs: 5000, registrationMaxWaitMs: 10_000, shutdownMs: 1000, heartbeatMs: 5000 },
        buildRegisterPayload: () => ({ agent_id: 'agent-bench', cluster_name: 'bench' }),
      },
      {
        status: () => {},
        persist: () => {},
        fatal: (code: string, message: string) => console.error('fatal', code, message),
        metric,
        message: (m: unknown, conn: unknown) => dispatcher.handle(m, conn),
        binary: (data: ArrayBuffer, conn: unknown) => dispatcher.handleBinary(data, conn),
        beforeText: () => dispatcher.beforeText(),
        connected: (conn: unknown, reconnect: boolean) => dispatcher.attach(conn, reconnect),
        disconnected: () => dispatcher.detach(),
        activity: markThreadBusy,
        relayed: markThreadRelayed,
      },
      log,
    );
    void session.start();
    void done.then(() => session.stop());
  }
  await done;
} finally {
  hub?.kill();
  backend.kill();
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);

/** The floor: one WebSocket, JSON.parse, bare fetch, the answer as one id-prefixed binary frame. */
function floorAgent(wsUrl: string, backendUrl: string) {
  const enc = new TextEncoder();
  const ws = new WebSocket(wsUrl);
  ws.binaryType = 'arraybuffer';
  ws.onmessage = (e) => {
    const m = JSON.parse(e.data as string) as { request_id: string; payload: { path: string } };
    void fetch(backendUrl + m.payload.path).then(async (r) => {
      const b = new Uint8Array(await r.arrayBuffer());
      const id = enc.encode(m.request_id);
      const f = new Uint8Array(2 + id.length + b.length);
      f[0] = id.length >> 8;
      f[1] = id.length & 255;
      f.set(id, 2);
      f.set(b, 2 + id.length);
      ws.send(f);
    });
  };
}
