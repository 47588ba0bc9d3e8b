// The agent side of bench/session-inprocess.ts: the tree's ControlSession (resumed on the gateway: no registration)
// and TunnelDispatcher wired as src/tunnel/worker-main.ts wires them (MetricBatch posting to a port, the quiet-collector
// hooks), or the floor (one WebSocket, JSON.parse, fetch, one id-prefixed binary frame). Runs on the thread that
// imports it, or as a Web Worker (started with `{ tree, hubUrl, backendUrl, floor }` as its first message), as the
// agent runs its relay.
import { join } from 'node:path';
import { BENCH_RELAY, benchLog, benchMetric } from './bench-relay.ts';
import { floorFrame } from './floor-frame.ts';

export interface AgentSpec {
  tree: string;
  hubUrl: string;
  backendUrl: string;
  floor: boolean;
  /** The relay without the session: a bare WebSocket whose messages go straight to decodeEnvelope and the dispatcher. */
  bare?: boolean;
}

/** Starts the agent; resolves once it is wired (the hub drives it from there). */
export async function startAgent(spec: AgentSpec): Promise<void> {
  if (spec.floor) return floorAgent(spec.hubUrl.replace('http', 'ws') + '/ws', spec.backendUrl);
  const TREE = spec.tree;
  const hubUrl = spec.hubUrl;
  const url = spec.backendUrl;
  const { TunnelDispatcher } = await import(join(TREE, 'src/tunnel/dispatch.ts'));
  const { ControlSession } = await import(join(TREE, 'src/tunnel/session.ts'));
  const { KubeClient } = await import(join(TREE, 'src/kube/client.ts'));
  const { MetricBatch } = await import(join(TREE, 'src/threads/metric-batch.ts'));
  const { markThreadBusy, markThreadRelayed } = await import(join(TREE, 'src/threads/quiet-collector.ts'));
  const log = benchLog;
  const metric = benchMetric(MetricBatch);
  const kube = new KubeClient({ server: url, insecureSkipVerify: true, token: () => 'bench-sa', source: 'explicit' }, { userAgent: 'pipeops-agent/bench' });
  const dispatcher = new TunnelDispatcher({
    kube,
    log,
    metric,
    ...BENCH_RELAY,
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
  if (!spec.bare) {
    void session.start();
    return;
  }
  const { decodeEnvelope } = await import(join(TREE, 'src/protocol/envelope.ts'));
  const { envelopeConnection } = await import(join(TREE, 'src/tunnel/envelope-transport.ts'));
  const ws = new WebSocket(hubUrl.replace('http', 'ws') + '/ws', { perMessageDeflate: false } as never);
  ws.binaryType = 'arraybuffer';
  const writer = {
    get open() {
      return ws.readyState === WebSocket.OPEN;
    },
    get bufferedAmount() {
      return ws.bufferedAmount;
    },
    sendText(t: string) {
      ws.send(t);
      return true;
    },
    sendBinary(d: Uint8Array<ArrayBuffer>) {
      ws.send(d);
      return true;
    },
  };
  const conn = envelopeConnection(writer, metric, log);
  ws.onmessage = (e) => {
    const r = decodeEnvelope(e.data as string);
    if (r.ok) dispatcher.handle(r.message, conn);
  };
}

/** The floor: one WebSocket, JSON.parse, bare fetch, the answer as one id-prefixed binary frame. */
function floorAgent(wsUrl: string, backendUrl: string) {
  const ws = new WebSocket(wsUrl);
  ws.binaryType = 'arraybuffer';
  ws.onmessage = (e) => {
    const m = JSON.parse(e.data as string) as { request_id: string; payload: { path: string } };
    void fetch(backendUrl + m.payload.path).then(async (r) => {
      ws.send(floorFrame(m.request_id, new Uint8Array(await r.arrayBuffer())));
    });
  };
}

// As a Web Worker: the first message says what to start.
if (!Bun.isMainThread) {
  const scope = globalThis as unknown as { onmessage: ((e: MessageEvent<AgentSpec>) => void) | null };
  scope.onmessage = (e) => {
    scope.onmessage = null;
    void startAgent(e.data);
  };
}
