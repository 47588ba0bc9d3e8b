// A fake PipeOps control plane for replaying traffic against the real agent process: one loopback server with
// the controller endpoint (`/api/v1/clusters/agent/ws`) and a gateway endpoint (`/gw/ws`), recording every dial
// (URL, Authorization) and every frame the agent sends, raw, so tests compare bytes and shapes with protocol.md.
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { ServerWebSocket } from 'bun';
import { lineWatcher, waitFor } from './wait.ts';

export type SocketKind = 'controller' | 'gateway';

export interface Dial {
  kind: SocketKind;
  url: URL;
  authorization: string | null;
  conn: number;
}

/** One frame from the agent. `json` is the parsed text frame (undefined for binary or invalid JSON). */
export interface Received {
  conn: number;
  kind: SocketKind;
  text?: string;
  binary?: Uint8Array;
  json?: { type: string; request_id?: string; payload: Record<string, unknown> | null; timestamp?: string } & Record<string, unknown>;
}

interface ConnData {
  kind: SocketKind;
  conn: number;
}

export interface FakeConnection {
  readonly id: number;
  readonly kind: SocketKind;
  send(type: string, payload: Record<string, unknown> | null, requestId?: string): void;
  sendRaw(data: string | Uint8Array<ArrayBuffer>): void;
  close(code?: number, reason?: string): void;
  readonly open: boolean;
}

export interface FakeControlPlaneOptions {
  /** The answer to a `register` (payload of register_success); null = no answer. Default: C-1/U-1 with a gateway. */
  onRegister?(payload: Record<string, unknown>, cp: FakeControlPlane): Record<string, unknown> | null;
}

export interface FakeControlPlane {
  url: string;
  gatewayUrl: string;
  dials: Dial[];
  received: Received[];
  /** Messages of a type (parsed text frames, or legacy JSON in binary frames is not produced by agents). */
  of(type: string): NonNullable<Received['json']>[];
  /** The newest open connection of a kind. */
  latest(kind?: SocketKind): FakeConnection;
  waitForConn(kind: SocketKind, n?: number): Promise<FakeConnection>;
  next(pred: (r: Received) => boolean, what: string, timeoutMs?: number): Promise<Received>;
  stop(): Promise<void>;
}

export const CP_AGENT_TOKEN = 'replay-agent-token-0123456789';

export async function fakeControlPlane(opts: FakeControlPlaneOptions = {}): Promise<FakeControlPlane> {
  const dials: Dial[] = [];
  const received: Received[] = [];
  const sockets = new Map<number, ServerWebSocket<ConnData>>();
  let seq = 0;
  let cp!: FakeControlPlane;
  const onRegister =
    opts.onRegister ??
    ((_p: Record<string, unknown>, c: FakeControlPlane) => ({ cluster_id: 'C-1', cluster_uuid: 'U-1', name: 'replay', status: 'registered', gateway_ws_url: c.gatewayUrl }));
  const server = Bun.serve<ConnData, never>({
    hostname: '127.0.0.1',
    port: 0,
    fetch(req, srv) {
      const url = new URL(req.url);
      const kind: SocketKind | null = url.pathname === '/api/v1/clusters/agent/ws' ? 'controller' : url.pathname === '/gw/ws' ? 'gateway' : null;
      if (!kind) return new Response('not found', { status: 404 });
      const conn = ++seq;
      dials.push({ kind, url, authorization: req.headers.get('authorization'), conn });
      if (srv.upgrade(req, { data: { kind, conn } })) return undefined;
      return new Response('upgrade required', { status: 426 });
    },
    websocket: {
      open(ws) {
        sockets.set(ws.data.conn, ws);
      },
      message(ws, data) {
        const r: Received = { conn: ws.data.conn, kind: ws.data.kind };
        if (typeof data === 'string') {
          r.text = data;
          try {
            r.json = JSON.parse(data);
          } catch {
            // kept raw: the test reports it
          }
        } else r.binary = new Uint8Array(data);
        received.push(r);
        if (r.json?.type === 'register') {
          const answer = onRegister((r.json.payload ?? {}) as Record<string, unknown>, cp);
          if (answer) ws.send(JSON.stringify({ type: 'register_success', request_id: r.json.request_id, payload: answer }));
        }
      },
      close(ws) {
        sockets.delete(ws.data.conn);
      },
    },
  });
  const base = `http://127.0.0.1:${server.port}`;
  const wrap = (ws: ServerWebSocket<ConnData>): FakeConnection => ({
    id: ws.data.conn,
    kind: ws.data.kind,
    send: (type, payload, requestId) => {
      const env: Record<string, unknown> = { type };
      if (requestId) env.request_id = requestId;
      env.payload = payload;
      ws.send(JSON.stringify(env));
    },
    sendRaw: (data) => void ws.send(data),
    close: (code = 1000, reason = '') => ws.close(code, reason),
    get open() {
      return sockets.has(ws.data.conn);
    },
  });
  cp = {
    url: base,
    gatewayUrl: `${base}/gw/ws`,
    dials,
    received,
    of: (type) => received.filter((r) => r.json?.type === type).map((r) => r.json!),
    latest(kind) {
      const all = [...sockets.values()].filter((s) => !kind || s.data.kind === kind);
      const ws = all.sort((a, b) => b.data.conn - a.data.conn)[0];
      if (!ws) throw new Error(`no open ${kind ?? ''} connection`);
      return wrap(ws);
    },
    async waitForConn(kind, n = 1) {
      await waitFor(() => dials.filter((d) => d.kind === kind).length >= n && [...sockets.values()].some((s) => s.data.kind === kind), {
        what: `${n} ${kind} connection(s)`,
        // Generous: a spawned agent starts in seconds, but the shared test machine is often heavily loaded.
        timeoutMs: 30_000,
      });
      return cp.latest(kind);
    },
    async next(pred, what, timeoutMs = 30_000) {
      return waitFor(() => received.find(pred), { what, timeoutMs });
    },
    async stop() {
      server.stop(true);
    },
  };
  return cp;
}

/** A free loopback port (the agent's local API needs a known one: it does not print its port). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface AgentProcess {
  proc: ReturnType<typeof Bun.spawn>;
  out: ReturnType<typeof lineWatcher>;
  url: string;
  stop(): Promise<number>;
}

const BUN = process.execPath;
const CLI = join(import.meta.dir, '../../src/cli.ts');

/**
 * The agent as a real process (`bun src/cli.ts agent`) against `apiUrl`, configured by a YAML file in `dir`
 * with fast timeouts. `extra` is appended to that file (YAML), `env` added to the process environment.
 */
export async function spawnAgent(apiUrl: string, dir: string, o: { kubeconfig?: string; extraYaml?: string; env?: Record<string, string> } = {}): Promise<AgentProcess> {
  const port = await freePort();
  const cfg = join(dir, 'agent.yaml');
  await Bun.write(
    cfg,
    [
      'agent:',
      '  cluster_name: replay-cluster',
      `  port: ${port}`,
      '  host: 127.0.0.1',
      '  heartbeat_interval: 1s',
      `  state_file: ${join(dir, 'state.yaml')}`,
      'pipeops:',
      `  api_url: ${apiUrl}`,
      `  token: ${CP_AGENT_TOKEN}`,
      'kubernetes:',
      '  in_cluster: false',
      `  kubeconfig: "${o.kubeconfig ?? ''}"`,
      'logging:',
      '  level: debug',
      'timeouts:',
      '  websocket_reconnect: 100ms',
      '  websocket_reconnect_max: 500ms',
      '  websocket_ping: 1s',
      '  websocket_read: 20s',
      '  registration: 5s',
      '  shutdown: 5s',
      o.extraYaml ?? '',
    ].join('\n'),
  );
  const proc = Bun.spawn([BUN, CLI, 'agent', '--config', cfg], {
    env: { PATH: process.env.PATH ?? '', HOME: dir, ...(o.env ?? {}) },
    stdout: 'pipe',
    stderr: 'pipe',
  });
  const out = lineWatcher(proc.stdout as ReadableStream<Uint8Array>);
  return {
    proc,
    out,
    url: `http://127.0.0.1:${port}`,
    async stop() {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      const code = await proc.exited;
      clearTimeout(t);
      return code;
    },
  };
}
