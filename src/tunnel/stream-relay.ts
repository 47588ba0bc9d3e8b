// WebSocket streams through the tunnel (protocol.md §3.8, §4; deviations W1–W5): the table of open streams and the
// three control-plane messages about them (`proxy_websocket_start`, `_data`, `_close`) plus upgrade `proxy_request`s.
// One file per stream kind: kube-stream.ts (kubectl-style, channel translation or raw frames), app-websocket.ts
// (application WebSockets behind Services), raw-upgrade-stream.ts (`raw_upgrade`, any protocol incl. SPDY); where each
// connects is backend-target.ts. Each stream has bounded buffers; producers are paused, never silently dropped.
import type { Logger } from '../log/logger.ts';
import type { MetricUpdate } from '../threads/metric-update.ts';
import type { KubeClient } from '../kube/client.ts';
import type { InboundMessage } from '../protocol/envelope.ts';
import { ProxyOut, parseHeaderMap, type ProxyRequest } from '../protocol/proxy-messages.ts';
import { decodeFrameData, sanitiseStreamPath, streamIdOf } from '../protocol/stream-messages.ts';
import type { StreamClosePayload } from '../protocol/wire-messages.ts';
import { openAppWebSocket } from './app-websocket.ts';
import { rawUpgradeTarget, webSocketTarget } from './backend-target.ts';
import type { SessionConnection } from './envelope-transport.ts';
import { offeredProtocols, openKubeStream, streamKind } from './kube-stream.ts';
import { openRawUpgrade } from './raw-upgrade-stream.ts';
import { RecentIds } from './recent-ids.ts';
import type { RouteDecision } from './routing.ts';
import type { EndOptions, Stream, StreamConfig, StreamHost, StreamKind } from './stream.ts';

export type { StreamConfig, StreamKind };
export { offeredProtocols, streamKind };

export interface StreamDeps {
  kube: KubeClient | null;
  log: Logger;
  metric(u: MetricUpdate): void;
  config: StreamConfig;
}

/** The documented default of `proxy.ws_max_frame_bytes`, used when the caller passes no `maxFrameBytes`. */
export const DEFAULT_MAX_FRAME_BYTES = 1024 * 1024;

export class StreamRelay {
  readonly #d: StreamDeps;
  readonly #streams = new Map<string, Stream>();
  /** Streams that ended recently: frames still in flight for them are late arrivals, not errors. */
  readonly #finished = new RecentIds();
  #idleSweep: ReturnType<typeof setInterval> | null = null;
  /** What the stream kinds may use of the table. */
  readonly #host: StreamHost;

  constructor(deps: StreamDeps) {
    this.#d = deps;
    this.#host = {
      log: deps.log,
      config: deps.config,
      metric: (name, labels, value) => this.#metric(name, labels, value),
      register: (s) => this.#register(s),
      forget: (s) => this.#forget(s),
      has: (id) => this.#streams.has(id),
      end: (s, conn, o) => this.#end(s, conn, o),
      fail: (id, reason) => this.fail(id, reason),
      dialFailed: (s, conn, message, viaRequest) => this.#dialFailed(s, conn, message, viaRequest),
      upgradeAnswered: (kind, status) => this.#upgradeAnswered(kind, status),
      backpressure: (s, conn) => this.#backpressure(s, conn),
    };
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
      conn.send({ type: 'proxy_error', payload: ProxyOut.error(error, m.requestId ?? id), requestId: m.requestId ?? id });
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
    const t = webSocketTarget({ kind: 'kube-stream', path }, query, headers, this.#d.kube, this.#d.config);
    if (!t.ok) return fail(t.error, 'no_kube');
    openKubeStream(this.#host, { id, path, target: t.target, offered, rawFrames: p.raw_frames === true, conn });
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
      if (!this.fail(req.requestId, reason)) conn.send({ type: 'proxy_error', payload: ProxyOut.error(reason), requestId: req.requestId });
    };
  }

  /** An upgrade that arrived as `proxy_request` (§3.4 step 2, §4.5, W2). */
  upgrade(req: ProxyRequest, decision: RouteDecision, conn: SessionConnection, raw: boolean): void {
    if (decision.kind !== 'kube-stream' && decision.kind !== 'app-websocket') return;
    if (this.#streams.has(req.requestId)) {
      // Registering it again would orphan the open stream: its socket and its gauges would never be released.
      this.#metric('pipeops_protocol_errors_total', { reason: 'stream_duplicate_id' });
      conn.send({ type: 'proxy_error', payload: ProxyOut.error(`stream ${req.requestId} already exists`), requestId: req.requestId });
      return;
    }
    const cfg = this.#d.config;
    if (raw) {
      const t = rawUpgradeTarget(decision, req.query, req.headers, this.#d.kube, cfg);
      if (!t.ok) return void conn.send({ type: 'proxy_error', payload: ProxyOut.error(t.error), requestId: req.requestId });
      const kind: StreamKind = decision.kind === 'kube-stream' ? streamKind(decision.path) : 'application';
      void openRawUpgrade(this.#host, req, kind, t.target, conn).catch(this.#setupFailed(req, conn));
      return;
    }
    const t = webSocketTarget(decision, req.query, req.headers, this.#d.kube, cfg);
    if (!t.ok) return void conn.send({ type: 'proxy_error', payload: ProxyOut.error(t.error), requestId: req.requestId });
    if (decision.kind === 'kube-stream') {
      // W2: keep the request's headers; answer 101 only after the API server accepted.
      const offered = offeredProtocols(req.protocol, req.headers, decision.path);
      openKubeStream(this.#host, { id: req.requestId, path: decision.path, target: t.target, offered, rawFrames: req.rawFrames, conn, viaRequest: req });
      return;
    }
    try {
      openAppWebSocket(this.#host, req, t.target, conn);
    } catch (e) {
      this.#setupFailed(req, conn)(e);
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

  #end(s: Stream, conn: SessionConnection, o: EndOptions): void {
    if (!this.#forget(s)) return;
    try {
      s.shutdown();
    } catch (e) {
      this.#d.log.debug({ stream_id: s.id, err: (e as Error).message }, 'stream shutdown failed');
    }
    const payload: StreamClosePayload = { stream_id: s.id };
    if (o.app) payload.request_id = s.id;
    if (o.code !== undefined) payload.code = o.code;
    if (o.reason) payload.reason = o.reason;
    conn.send({ type: 'proxy_websocket_close', payload, requestId: s.id });
  }

  #dialFailed(s: Stream, conn: SessionConnection, message: string, viaRequest?: ProxyRequest): void {
    if (!this.#forget(s)) return;
    this.#metric('pipeops_protocol_errors_total', { reason: 'stream_dial_failed' });
    this.#d.log.warn({ stream_id: s.id, err: message }, 'stream backend unreachable');
    // The API server's answer, e.g. Bun's "Expected 101 status code: 404" — not the first three digits of the
    // message, which may well be the "127" of the URL's host.
    const status = /status(?: code)?:?\s*(\d{3})\b/i.exec(message)?.[1];
    const error = s.kind === 'application' ? `failed to connect to backend: ${message}` : `failed to connect to K8s API: ${message}${status ? ` (status: ${status})` : ''}`;
    conn.send({ type: 'proxy_error', payload: ProxyOut.error(error, s.id), requestId: viaRequest?.requestId ?? s.id });
    if (!viaRequest) conn.send({ type: 'proxy_websocket_close', payload: { stream_id: s.id }, requestId: s.id });
    else this.#upgradeAnswered(s.kind, Number(status ?? 502));
  }

  /** An upgrade that came as `proxy_request` got its answer: counted like any proxied request. */
  #upgradeAnswered(kind: StreamKind, status: number): void {
    const labels = { target: kind === 'application' ? 'service' : 'kubernetes', status: String(status), encoding: status === 101 ? 'upgrade' : 'error' };
    this.#d.metric({ name: 'pipeops_proxy_requests_total', op: 'inc', labels });
  }

  #backpressure(s: Stream, conn: SessionConnection): void {
    this.#metric('pipeops_ws_backpressure_total', { kind: s.kind });
    conn.send({ type: 'backpressure', payload: { request_id: s.id, reason: 'channel_full' }, requestId: s.id });
  }

  #metric(name: string, labels?: Record<string, string>, value = 1): void {
    this.#d.metric({ name, op: 'inc', labels, value });
  }
}
