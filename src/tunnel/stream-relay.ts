// WebSocket streams through the tunnel (protocol.md §3.8, §4; deviations W1–W5): kubectl-style streams
// started with `proxy_websocket_start` (upstream channel translation by default, byte-exact frames when
// `raw_frames` is negotiated), raw upgrades (`raw_upgrade`, any protocol incl. SPDY), and application
// WebSockets behind Services. Each stream has bounded buffers; producers are paused, never silently dropped.
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { MetricUpdate } from '../threads/metric-update.ts';
import type { StreamConfig } from '../threads/tunnel-config.ts';
import type { KubeClient } from '../kube/client.ts';
import type { InboundMessage } from '../protocol/envelope.ts';
import { flattenHeaders, forwardRequestHeaders, headerValue, type HeaderMap, sanitizeResponseHeaders } from '../protocol/http-headers.ts';
import { ProxyOut, parseHeaderMap, type ProxyRequest } from '../protocol/proxy-messages.ts';
import {
  closeFrameArgs,
  DEFAULT_STREAM_PROTOCOLS,
  decodeFrameData,
  encodeFrameData,
  type Frame,
  isChannelProtocol,
  OPCODE,
  sanitiseStreamPath,
  streamIdOf,
} from '../protocol/stream-messages.ts';
import { openUpgrade, requestHead, targetFromUrl, type UpgradeTarget } from './raw-upgrade.ts';
import { RecentIds } from './recent-ids.ts';
import type { RouteDecision } from './routing.ts';
import { serviceEndpoint } from './service-endpoint.ts';
import type { SessionConnection } from './session.ts';
import { runtime } from '#runtime';
import type { ClientWebSocket } from '../runtime/types.ts';

export interface StreamDeps {
  kube: KubeClient | null;
  log: Logger;
  metric(u: MetricUpdate): void;
  config: StreamConfig;
}

type StreamKind = 'exec' | 'attach' | 'port-forward' | 'kubernetes' | 'application';

interface Stream {
  id: string;
  kind: StreamKind;
  started: number;
  /** Last frame in either direction (epoch ms): the idle sweep closes streams the control plane abandoned. */
  lastActive: number;
  /** The session the stream belongs to (answers about it go there). */
  conn: SessionConnection;
  /** A frame from the control plane for the backend. */
  toBackend(f: Frame): void;
  /** The control plane closed the stream (or the session ended). */
  shutdown(): void;
}

/** The documented default of `proxy.ws_max_frame_bytes`, used when the caller passes no `maxFrameBytes`. */
export const DEFAULT_MAX_FRAME_BYTES = 1024 * 1024;

const HOP_WS = ['sec-websocket-key', 'sec-websocket-version', 'sec-websocket-extensions', 'host'];

export function streamKind(path: string): StreamKind {
  if (/\/exec(\?|$)/.test(path)) return 'exec';
  if (/\/attach(\?|$)/.test(path)) return 'attach';
  if (/\/portforward(\?|$)/.test(path)) return 'port-forward';
  return 'kubernetes';
}

export class StreamRelay {
  readonly #d: StreamDeps;
  readonly #streams = new Map<string, Stream>();
  /** Streams that ended recently: frames still in flight for them are late arrivals, not errors. */
  readonly #finished = new RecentIds();
  #idleSweep: ReturnType<typeof setInterval> | null = null;

  constructor(deps: StreamDeps) {
    this.#d = deps;
  }

  get active(): number {
    return this.#streams.size;
  }

  has(id: string): boolean {
    return this.#streams.has(id);
  }

  // ---------------------------------------------------------------- control-plane messages

  /** `proxy_websocket_start` / `ws_start` (§4.1). */
  start(m: InboundMessage, conn: SessionConnection): void {
    const p = m.payload;
    const id = typeof p.stream_id === 'string' ? p.stream_id : '';
    const fail = (error: string, reason: string) => {
      this.#metric('pipeops_protocol_errors_total', { reason });
      this.#d.log.warn({ stream_id: id || undefined, request_id: m.requestId, err: error }, 'stream start rejected');
      conn.send('proxy_error', ProxyOut.error(error, m.requestId ?? id), m.requestId ?? id);
    };
    if (!id) return fail('missing stream_id', 'stream_missing_id');
    if (this.#streams.has(id)) return fail(`stream ${id} already exists`, 'stream_duplicate_id');
    const path = sanitiseStreamPath(typeof p.path === 'string' ? p.path : '');
    if (!path) return fail('invalid path: must be a Kubernetes API path', 'stream_invalid_path');
    if (!this.#d.kube) return fail('kubernetes client not initialized', 'no_kube');
    const errors: string[] = [];
    const headers = parseHeaderMap(p.headers, errors);
    if (errors.length) return fail(`invalid headers: ${errors.join('; ')}`, 'stream_invalid_headers');
    const query = typeof p.query === 'string' ? p.query.replace(/[\r\n\0]/g, '') : '';
    const offered = offeredProtocols(typeof p.protocol === 'string' ? p.protocol : '', headers, path);
    this.#kubeWebSocket(id, path, query, headers, offered, p.raw_frames === true, conn);
  }

  /** `proxy_websocket_data` / `ws_data`: a frame for an existing stream. */
  data(m: InboundMessage): boolean {
    const id = streamIdOf(m);
    const s = id ? this.#streams.get(id) ?? (typeof m.payload.stream_id === 'string' ? this.#streams.get(m.payload.stream_id) : undefined) : undefined;
    if (!s && id && this.#finished.has(id)) {
      this.#metric('pipeops_late_arrivals_total', { kind: 'stream_data' });
      this.#d.log.debug({ stream_id: id }, 'data for a stream that just ended dropped');
      return false;
    }
    if (!s) {
      this.#metric('pipeops_protocol_errors_total', { reason: 'unknown_stream' });
      this.#d.log.debug({ stream_id: id }, 'data for an unknown stream dropped');
      return false;
    }
    const f = decodeFrameData(m.payload, s.kind === 'application');
    if (typeof f === 'string') {
      this.#metric('pipeops_protocol_errors_total', { reason: 'invalid_stream_data' });
      this.#d.log.warn({ stream_id: s.id, err: f }, 'invalid stream data dropped');
      return true;
    }
    const max = this.#d.config.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    if (f.payload.length > max) {
      // Dropping it would corrupt a byte stream and relaying it would defeat the bound: end this stream only,
      // with 1009 (message too big), and tell the control plane why.
      this.#metric('pipeops_protocol_errors_total', { reason: 'stream_frame_too_large' });
      const reason = `frame of ${f.payload.length} bytes exceeds the limit of ${max}`;
      this.#d.log.warn({ stream_id: s.id, err: reason }, 'oversized stream frame: stream closed');
      this.#end(s, s.conn, { code: 1009, reason, app: s.kind === 'application' });
      return true;
    }
    this.#metric('pipeops_ws_bytes_total', { kind: s.kind, direction: 'to_backend' }, f.payload.length);
    s.lastActive = Date.now();
    s.toBackend(f);
    return true;
  }

  /** `proxy_websocket_close` / `ws_close`: tear down and echo the close (§4.4). */
  close(m: InboundMessage, conn: SessionConnection): void {
    const id = streamIdOf(m);
    const s = id ? this.#streams.get(id) ?? (typeof m.payload.stream_id === 'string' ? this.#streams.get(m.payload.stream_id) : undefined) : undefined;
    if (!s) return;
    this.#end(s, conn, { echo: true });
  }

  closeAll(): void {
    for (const s of [...this.#streams.values()]) {
      this.#forget(s);
      try {
        s.shutdown();
      } catch (e) {
        this.#d.log.debug({ stream_id: s.id, err: (e as Error).message }, 'stream shutdown failed');
      }
    }
  }

  /** End one stream with 1011 and the reason (a failure handling its messages). False when none has this id. */
  fail(id: string, reason: string): boolean {
    const s = this.#streams.get(id);
    if (!s) return false;
    this.#end(s, s.conn, { code: 1011, reason, app: s.kind === 'application' });
    return true;
  }

  /** An async stream setup threw outside its own handling: fail the stream, or the request if none is left. */
  #setupFailed(req: ProxyRequest, conn: SessionConnection): (e: unknown) => void {
    return (e) => {
      const err = e instanceof Error ? e : new Error(String(e));
      this.#metric('pipeops_tunnel_handler_errors_total', { type: 'proxy_request', error: err.name || 'Error' });
      this.#d.log.error({ stream_id: req.requestId, err: err.message, stack: err.stack }, 'stream setup failed unexpectedly');
      const reason = `internal error handling proxy_request: ${err.message}`;
      if (!this.fail(req.requestId, reason)) conn.send('proxy_error', ProxyOut.error(reason), req.requestId);
    };
  }

  /** An upgrade that arrived as `proxy_request` (§3.4 step 2, §4.5, W2). */
  upgrade(req: ProxyRequest, decision: RouteDecision, conn: SessionConnection, raw: boolean): void {
    if (decision.kind !== 'kube-stream' && decision.kind !== 'app-websocket') return;
    if (this.#streams.has(req.requestId)) {
      // Registering it again would orphan the open stream: its socket and its gauges would never be released.
      this.#metric('pipeops_protocol_errors_total', { reason: 'stream_duplicate_id' });
      conn.send('proxy_error', ProxyOut.error(`stream ${req.requestId} already exists`), req.requestId);
      return;
    }
    if (raw) {
      void this.#rawUpgrade(req, decision, conn).catch(this.#setupFailed(req, conn));
      return;
    }
    if (decision.kind === 'kube-stream') {
      // W2: keep the request's headers; answer 101 only after the API server accepted.
      const offered = offeredProtocols(req.protocol, req.headers, decision.path);
      this.#kubeWebSocket(req.requestId, decision.path, req.query, req.headers, offered, req.rawFrames, conn, req);
      return;
    }
    void this.#appWebSocket(req, decision, conn).catch(this.#setupFailed(req, conn));
  }

  // ---------------------------------------------------------------- stream kinds

  #kubeWebSocket(id: string, path: string, query: string, headers: HeaderMap, offered: string[], rawFrames: boolean, conn: SessionConnection, viaRequest?: ProxyRequest): void {
    const kube = this.#d.kube!;
    const t = kube.target;
    const url = `${t.server.replace(/^http/, 'ws')}${path}${query ? `?${query}` : ''}`;
    const fwd = forwardRequestHeaders(headers, { drop: [...HOP_WS, 'sec-websocket-protocol'] });
    // Upstream: the agent's own token only when the control plane sent no `Authorization` (exact key).
    if (!('Authorization' in fwd)) {
      const tok = t.token?.();
      if (tok) fwd.Authorization = [`Bearer ${tok}`];
    }
    const flat = flattenHeaders(fwd);
    const kind = streamKind(path);
    const queue: Frame[] = [];
    let ws: ClientWebSocket | null = null;
    let translate = false;
    const stream: Stream = {
      id,
      kind,
      started: Date.now(),
      lastActive: Date.now(),
      conn,
      toBackend: (f) => {
        if (!ws || ws.readyState !== WebSocket.OPEN) {
          queue.push(f);
          return;
        }
        sendToWebSocket(ws, f, translate);
        if (ws.bufferedAmount > this.#d.config.maxBufferedBytes) this.#backpressure(stream, conn);
      },
      shutdown: () => ws?.close(1000),
    };
    this.#register(stream);
    try {
      ws = runtime.openWebSocket(url, {
        headers: flat,
        protocols: offered,
        tls: { ca: t.ca, cert: t.cert, key: t.key, rejectUnauthorized: t.insecureSkipVerify !== true },
      });
    } catch (e) {
      this.#dialFailed(stream, conn, (e as Error).message, viaRequest);
      return;
    }
    let opened = false;
    ws.addEventListener('open', () => {
      opened = true;
      translate = !rawFrames && isChannelProtocol(ws!.protocol);
      if (viaRequest) {
        const h: HeaderMap = { Upgrade: ['websocket'], Connection: ['Upgrade'] };
        // Go's canonical spelling, as every upstream `headers` map (protocol.md §3.8: `Sec-Websocket-Accept`).
        if (ws!.protocol) h['Sec-Websocket-Protocol'] = [ws!.protocol];
        answerUpgrade(conn, viaRequest, h);
        this.#upgradeAnswered(kind, 101);
      }
      try {
        for (const f of queue.splice(0)) sendToWebSocket(ws!, f, translate);
      } catch (e) {
        // A listener's throw would escape every handler: end this stream with the reason instead.
        this.fail(id, `internal error relaying a queued frame: ${(e as Error).message}`);
      }
    });
    ws.addEventListener('message', (ev: MessageEvent) => {
      const data = ev.data;
      let opcode: number = OPCODE.binary;
      let payload: Uint8Array;
      if (typeof data === 'string') {
        opcode = OPCODE.text;
        payload = Buffer.from(data);
      } else {
        payload = new Uint8Array(data as ArrayBuffer);
        // Translation (upstream default): stdout/stderr/status channels become text without the channel byte.
        if (translate && payload.length > 0 && payload[0]! <= 3) {
          opcode = OPCODE.text;
          payload = payload.subarray(1);
        }
      }
      this.#metric('pipeops_ws_bytes_total', { kind, direction: 'to_control_plane' }, payload.length);
      stream.lastActive = Date.now();
      conn.send('proxy_websocket_data', { stream_id: id, data: encodeFrameData(opcode, payload) }, id);
    });
    ws.addEventListener('error', (ev: Event) => {
      if (!opened) this.#dialFailed(stream, conn, (ev as ErrorEvent).message || 'websocket error', viaRequest);
    });
    ws.addEventListener('close', (ev: CloseEvent) => {
      if (!opened) {
        if (this.#streams.has(id)) this.#dialFailed(stream, conn, `closed during handshake (${ev.code})`, viaRequest);
        return;
      }
      // §4.4: a kubectl stream's close is `{stream_id}` only (code and reason are W1's, for application WebSockets).
      this.#end(stream, conn, {});
    });
  }

  async #appWebSocket(req: ProxyRequest, decision: Extract<RouteDecision, { kind: 'app-websocket' }>, conn: SessionConnection): Promise<void> {
    const cfg = this.#d.config;
    const ep = serviceEndpoint(decision.service, decision.path, req.query, { mode: cfg.serviceProxy, https: decision.https, clusterDomain: cfg.clusterDomain, serviceMap: cfg.serviceMap });
    const id = req.requestId;
    if (ep.kind === 'error') {
      conn.send('proxy_error', ProxyOut.error(ep.error), id);
      return;
    }
    const kube = this.#d.kube;
    const url = ep.kind === 'url' ? ep.url.replace(/^http/, 'ws') : `${kube!.target.server.replace(/^http/, 'ws')}${ep.path}`;
    const fwd = forwardRequestHeaders(req.headers, { drop: [...HOP_WS, 'sec-websocket-protocol'] });
    const host = headerValue(req.headers, 'host') ?? headerValue(req.headers, 'x-forwarded-host');
    const flat = flattenHeaders(fwd);
    if (host) flat.Host = host;
    if (ep.kind === 'kube') {
      const tok = kube!.target.token?.();
      if (tok) flat.Authorization = `Bearer ${tok}`;
    }
    const offered = (headerValue(req.headers, 'sec-websocket-protocol') ?? '').split(',').map((s) => s.trim()).filter(Boolean);
    const stream: Stream = {
      id,
      kind: 'application',
      started: Date.now(),
      lastActive: Date.now(),
      conn,
      toBackend: (f) => {
        if (ws.readyState !== WebSocket.OPEN) return;
        sendToWebSocket(ws, f, false);
        if (ws.bufferedAmount > cfg.maxBufferedBytes) this.#backpressure(stream, conn);
      },
      shutdown: () => ws.close(1000),
    };
    this.#register(stream);
    const t = kube?.target;
    const ws = runtime.openWebSocket(url, {
      headers: flat,
      protocols: offered,
      tls: ep.kind === 'kube' && t ? { ca: t.ca, cert: t.cert, key: t.key, rejectUnauthorized: t.insecureSkipVerify !== true } : { rejectUnauthorized: false },
    });
    let opened = false;
    let lastPong = Date.now();
    const pinger = setInterval(() => {
      if (Date.now() - lastPong > cfg.pongTimeoutMs) ws.close(1001, 'ping timeout');
      else ws.ping();
    }, cfg.pingMs);
    ws.addEventListener('pong', () => {
      lastPong = Date.now();
    });
    ws.addEventListener('open', () => {
      opened = true;
      const h: HeaderMap = { Upgrade: ['websocket'], Connection: ['Upgrade'] };
      if (ws.protocol) h['Sec-Websocket-Protocol'] = [ws.protocol];
      answerUpgrade(conn, req, h);
      this.#upgradeAnswered('application', 101);
    });
    ws.addEventListener('message', (ev: MessageEvent) => {
      const text = typeof ev.data === 'string';
      const payload = text ? Buffer.from(ev.data as string) : new Uint8Array(ev.data as ArrayBuffer);
      const opcode = text ? OPCODE.text : OPCODE.binary;
      this.#metric('pipeops_ws_bytes_total', { kind: 'application', direction: 'to_control_plane' }, payload.length);
      stream.lastActive = Date.now();
      conn.send('proxy_websocket_data', { request_id: id, stream_id: id, data: encodeFrameData(opcode, payload), message_type: opcode }, id);
    });
    ws.addEventListener('error', (ev: Event) => {
      if (!opened) this.#dialFailed(stream, conn, (ev as ErrorEvent).message || 'websocket error', req);
    });
    ws.addEventListener('close', (ev: CloseEvent) => {
      clearInterval(pinger);
      if (!opened) {
        if (this.#streams.has(id)) this.#dialFailed(stream, conn, `backend closed during handshake (${ev.code})`, req);
        return;
      }
      // W1: report the backend's close, with its code and reason.
      this.#end(stream, conn, { code: ev.code, reason: ev.reason, app: true });
    });
  }

  async #rawUpgrade(req: ProxyRequest, decision: Extract<RouteDecision, { kind: 'kube-stream' | 'app-websocket' }>, conn: SessionConnection): Promise<void> {
    const cfg = this.#d.config;
    const id = req.requestId;
    const kube = this.#d.kube;
    let target: UpgradeTarget;
    let pathAndQuery: string;
    let hostHeader: string;
    const headers = forwardRequestHeaders(req.headers, { keepUpgrade: true, drop: ['host'] });
    if (decision.kind === 'kube-stream' || (decision.kind === 'app-websocket' && cfg.serviceProxy === 'apiserver')) {
      if (!kube) {
        conn.send('proxy_error', ProxyOut.error('kubernetes client not initialized'), id);
        return;
      }
      const t = kube.target;
      target = targetFromUrl(t.server, { ca: t.ca, cert: t.cert, key: t.key, rejectUnauthorized: t.insecureSkipVerify !== true });
      const base = new URL(t.server);
      hostHeader = base.host;
      if (decision.kind === 'kube-stream') pathAndQuery = `${base.pathname.replace(/\/$/, '')}${decision.path}${req.query ? `?${req.query}` : ''}`;
      else {
        const ep = serviceEndpoint(decision.service, decision.path, req.query, { mode: 'apiserver', https: decision.https, clusterDomain: cfg.clusterDomain, serviceMap: cfg.serviceMap });
        pathAndQuery = `${base.pathname.replace(/\/$/, '')}${ep.kind === 'kube' ? ep.path : '/'}`;
      }
      const hasAuth = Object.keys(headers).some((k) => k.toLowerCase() === 'authorization');
      if (!hasAuth || decision.kind === 'app-websocket') {
        for (const k of Object.keys(headers)) if (k.toLowerCase() === 'authorization') delete headers[k];
        const tok = t.token?.();
        if (tok) headers.Authorization = [`Bearer ${tok}`];
      }
    } else {
      const ep = serviceEndpoint(decision.service, decision.path, req.query, { mode: cfg.serviceProxy, https: decision.https, clusterDomain: cfg.clusterDomain, serviceMap: cfg.serviceMap });
      if (ep.kind !== 'url') {
        conn.send('proxy_error', ProxyOut.error(ep.kind === 'error' ? ep.error : 'unsupported service endpoint'), id);
        return;
      }
      const u = new URL(ep.url);
      target = targetFromUrl(ep.url, { rejectUnauthorized: false });
      pathAndQuery = `${u.pathname}${u.search}`;
      hostHeader = headerValue(req.headers, 'host') ?? u.host;
    }
    const kind: StreamKind = decision.kind === 'kube-stream' ? streamKind(decision.path) : 'application';
    const abort = new AbortController();
    let socket: Socket | null = null;
    const pending: Uint8Array[] = [];
    let backpressured = false;
    const stream: Stream = {
      id,
      kind,
      started: Date.now(),
      lastActive: Date.now(),
      conn,
      toBackend: (f) => {
        if (f.opcode === OPCODE.close) {
          socket?.end();
          return;
        }
        if (!socket) {
          pending.push(f.payload);
          return;
        }
        const ok = socket.write(f.payload);
        if (!ok && socket.writableLength > cfg.maxBufferedBytes) {
          if (!backpressured) this.#backpressure(stream, conn);
          backpressured = true;
          if (socket.writableLength > cfg.maxBufferedBytes * 8) socket.destroy(new Error('backend is not reading; stream buffer exceeded'));
        }
      },
      shutdown: () => {
        abort.abort();
        socket?.destroy();
      },
    };
    this.#register(stream);
    try {
      const r = await openUpgrade(target, requestHead(req.method, pathAndQuery, hostHeader, headers), abort.signal, cfg.dialTimeoutMs);
      const h = sanitizeResponseHeaders(r.status, r.headers);
      if (r.status !== 101 || !r.socket) {
        // W2: the target's own answer (e.g. a 403 Status or "unsupported upgrade") reaches the client.
        const payload: Record<string, unknown> = { status: r.status, headers: h };
        if (r.body.length) {
          payload.body = Buffer.from(r.body).toString('base64');
          payload.encoding = 'base64';
        }
        conn.send('proxy_response', payload, id);
        this.#upgradeAnswered(kind, r.status);
        this.#forget(stream);
        return;
      }
      socket = r.socket;
      socket.on('drain', () => {
        backpressured = false;
      });
      conn.send('proxy_response', { status: 101, headers: h }, id);
      this.#upgradeAnswered(kind, 101);
      for (const p of pending.splice(0)) socket.write(p);
      const s = socket;
      s.on('data', (chunk: Buffer) => {
        this.#metric('pipeops_ws_bytes_total', { kind, direction: 'to_control_plane' }, chunk.length);
        stream.lastActive = Date.now();
        conn.send('proxy_websocket_data', { stream_id: id, data: encodeFrameData(OPCODE.binary, chunk) }, id);
        if (conn.bufferedAmount > cfg.highWaterBytes) {
          // The tunnel socket is full: stop reading this backend until it drains (TCP backpressure).
          s.pause();
          const wait = setInterval(() => {
            if (!conn.open || conn.bufferedAmount <= cfg.highWaterBytes / 2) {
              clearInterval(wait);
              s.resume();
            }
          }, 2);
        }
      });
      s.on('close', () => this.#end(stream, conn, {}));
      s.on('error', (e) => this.#d.log.debug({ stream_id: id, err: e.message }, 'stream backend error'));
      s.resume();
    } catch (e) {
      this.#dialFailed(stream, conn, (e as Error).message, req);
    }
  }

  // ---------------------------------------------------------------- bookkeeping

  #register(s: Stream): void {
    this.#streams.set(s.id, s);
    this.#sweepIdle();
    this.#metric('pipeops_ws_sessions_active', { kind: s.kind }, 1);
    this.#metric('pipeops_tunnel_forwards_active', undefined, 1);
  }

  #forget(s: Stream): boolean {
    if (this.#streams.get(s.id) !== s) return false;
    this.#streams.delete(s.id);
    this.#finished.add(s.id);
    if (!this.#streams.size && this.#idleSweep) {
      clearInterval(this.#idleSweep);
      this.#idleSweep = null;
    }
    this.#metric('pipeops_ws_sessions_active', { kind: s.kind }, -1);
    this.#metric('pipeops_tunnel_forwards_active', undefined, -1);
    this.#d.metric({ name: 'pipeops_ws_session_duration_seconds', op: 'observe', value: (Date.now() - s.started) / 1000, labels: { kind: s.kind } });
    return true;
  }

  /** While streams exist, close those idle past `idleMs` (a quarter of it between checks, at most 30 s). */
  #sweepIdle(): void {
    const idle = this.#d.config.idleMs;
    if (!idle || this.#idleSweep) return;
    this.#idleSweep = setInterval(() => {
      const now = Date.now();
      for (const s of [...this.#streams.values()]) {
        if (now - s.lastActive < idle) continue;
        this.#metric('pipeops_tunnel_reclaimed_total', { kind: 'stream' });
        this.#d.log.warn({ stream_id: s.id, kind: s.kind, idle_ms: idle }, 'stream idle past timeouts.stream_idle; closed');
        this.#end(s, s.conn, { code: 1001, reason: `no frame in either direction for ${idle} ms (timeouts.stream_idle)`, app: s.kind === 'application' });
      }
    }, Math.min(30_000, Math.max(10, Math.floor(idle / 4))));
  }

  #end(s: Stream, conn: SessionConnection, o: { echo?: boolean; code?: number; reason?: string; app?: boolean }): void {
    if (!this.#forget(s)) return;
    try {
      s.shutdown();
    } catch (e) {
      this.#d.log.debug({ stream_id: s.id, err: (e as Error).message }, 'stream shutdown failed');
    }
    const payload: Record<string, unknown> = { stream_id: s.id };
    if (o.app) payload.request_id = s.id;
    if (o.code !== undefined) payload.code = o.code;
    if (o.reason) payload.reason = o.reason;
    conn.send('proxy_websocket_close', payload, s.id);
  }

  #dialFailed(s: Stream, conn: SessionConnection, message: string, viaRequest?: ProxyRequest): void {
    if (!this.#forget(s)) return;
    this.#metric('pipeops_protocol_errors_total', { reason: 'stream_dial_failed' });
    this.#d.log.warn({ stream_id: s.id, err: message }, 'stream backend unreachable');
    // The API server's answer, e.g. Bun's "Expected 101 status code: 404" — not the first three digits of the
    // message, which may well be the "127" of the URL's host.
    const status = /status(?: code)?:?\s*(\d{3})\b/i.exec(message)?.[1];
    const error = s.kind === 'application' ? `failed to connect to backend: ${message}` : `failed to connect to K8s API: ${message}${status ? ` (status: ${status})` : ''}`;
    conn.send('proxy_error', ProxyOut.error(error, s.id), viaRequest?.requestId ?? s.id);
    if (!viaRequest) conn.send('proxy_websocket_close', { stream_id: s.id }, s.id);
    else this.#upgradeAnswered(s.kind, Number(status ?? 502));
  }

  /** An upgrade that came as `proxy_request` got its answer: counted like any proxied request. */
  #upgradeAnswered(kind: StreamKind, status: number): void {
    const labels = { target: kind === 'application' ? 'service' : 'kubernetes', status: String(status), encoding: status === 101 ? 'upgrade' : 'error' };
    this.#d.metric({ name: 'pipeops_proxy_requests_total', op: 'inc', labels });
  }

  #backpressure(s: Stream, conn: SessionConnection): void {
    this.#metric('pipeops_ws_backpressure_total', { kind: s.kind });
    conn.send('backpressure', { request_id: s.id, reason: 'channel_full' }, s.id);
  }

  #metric(name: string, labels?: Record<string, string>, value = 1): void {
    this.#d.metric({ name, op: 'inc', labels, value });
  }
}

/** Subprotocols to offer the API server (§4.2): `protocol` entries, then header values; W3 default list. */
export function offeredProtocols(protocol: string, headers: HeaderMap, path: string): string[] {
  const out: string[] = [];
  const add = (s: string) => {
    for (const p of s.split(',').map((x) => x.trim()).filter(Boolean)) if (!out.includes(p)) out.push(p);
  };
  add(protocol);
  for (const [k, vs] of Object.entries(headers)) if (k.toLowerCase() === 'sec-websocket-protocol') for (const v of vs) add(v);
  if (!out.length && /\/(exec|attach|portforward)(\?|\/|$)/.test(path)) out.push(...DEFAULT_STREAM_PROTOCOLS);
  return out;
}

function sendToWebSocket(ws: ClientWebSocket, f: Frame, translate: boolean): void {
  switch (f.opcode) {
    case OPCODE.text:
      // Translation: console keystrokes arrive as text and are stdin (channel 0) for the API server.
      if (translate) {
        const b = new Uint8Array(f.payload.length + 1);
        b.set(f.payload, 1);
        ws.send(b);
      } else ws.send(Buffer.from(f.payload).toString());
      return;
    case OPCODE.binary:
      ws.send(f.payload as Uint8Array<ArrayBuffer>);
      return;
    case OPCODE.close: {
      const { code, reason } = closeFrameArgs(f.payload);
      ws.close(code, reason);
      return;
    }
    case OPCODE.ping:
      ws.ping(f.payload);
      return;
    case OPCODE.pong:
      ws.pong(f.payload);
      return;
  }
}

/** The 101 answer to an upgrade `proxy_request`, in the writer the request asked for (§3.8 step 4). */
function answerUpgrade(conn: SessionConnection, req: ProxyRequest, headers: HeaderMap): void {
  if (req.responseStreaming) {
    conn.send('proxy_response_header', ProxyOut.header(101, headers), req.requestId);
    conn.send('proxy_response_end', ProxyOut.end(), req.requestId);
  } else conn.send('proxy_response', { status: 101, headers }, req.requestId);
}
