// The HTTP relay (protocol.md §3, deviations P1–P7): one `proxy_request` in, one backend call, one answer out.
// Every request is independent: its own AbortController (one that served a finished request may serve again, never
// two at once), deadline, bounded body buffer and writer, so a slow or huge request never delays the others.
import type { Logger } from '../log/logger.ts';
import type { MetricUpdate } from '../threads/metric-update.ts';
import type { RelayConfig } from '../threads/tunnel-config.ts';
import type { RouteHint } from '../threads/messages.ts';
import type { KubeClient } from '../kube/client.ts';
import { decodeIdFrame } from '../protocol/binary-frame.ts';
import type { InboundMessage } from '../protocol/envelope.ts';
import { forwardRequestHeaders, forwardRequestInit, type HeaderMap, headerValue, mapToHeaders, responseHeaderMap, responseHeaderPairs } from '../protocol/http-headers.ts';
import { Http1Response } from '../kube/http1.ts';
import { ProxyOut, parseProxyRequest, parseRequestChunk, type ProxyRequest } from '../protocol/proxy-messages.ts';
import { CreditWindow, windowIncrement } from '../protocol/flow-control.ts';
import { DeadlineSweep } from '../timing/deadlines.ts';
import { RecentIds } from './recent-ids.ts';
import { RequestBodyStream } from './request-body.ts';
import { type ResponseEncoding, type WriterLimits, writeBinaryChunks, writeBuffered, writeStream } from './response-writer.ts';

/** With `binary_chunks`, a buffered answer larger than this is streamed instead (no huge single message). */
export const CHUNK_SWITCH_BYTES = 4 << 20;
import { decideRoute } from './routing.ts';
import { serviceEndpoint } from './service-endpoint.ts';
import type { SessionConnection } from './session.ts';
import { runtime } from '#runtime';

export interface RelayDeps {
  kube: KubeClient | null;
  log: Logger;
  metric(u: MetricUpdate): void;
  routes(): ReadonlyMap<string, RouteHint>;
  config: RelayConfig;
  /** Upgrades are handed to the stream relay (kubectl streams, application WebSockets). */
  upgrade?(req: ProxyRequest, decision: ReturnType<typeof decideRoute>, conn: SessionConnection): void;
}

interface Inflight {
  abort: AbortController;
  /**
   * The answer went the buffered way and nothing but the backend call (fetch and its body read, or the relay's own
   * client, whose listener goes when its exchange ends) saw `abort.signal`: it may serve again.
   */
  reusable: boolean;
  /** The request's deadline (epoch ms), Infinity when it has none or its run is over (`#deadlines`). */
  deadlineAt: number;
  /** `performance.now()` when the run started, for the deadline's message. */
  startedAt: number;
  cancelled: boolean;
  body: RequestBodyStream | null;
  /** Fires when the streamed body saw no chunk for `bodyIdleMs` (re-armed from `lastChunkAt` when it wakes early). */
  bodyIdle: ReturnType<typeof setTimeout> | null;
  lastChunkAt: number;
  /**
   * Credit for binary chunks (negotiated `binary_chunks`), returned by `proxy_window`. Made when first needed (a
   * grant or a streamed answer): most requests are answered in one message and never use it (issue 14).
   */
  window: CreditWindow | null;
}

type TargetKind = 'kubernetes' | 'service' | 'ingress' | 'error';

// Label sets of the per-request metrics, made once (no labels object per request, and the metric batch finds the same
// object at once, issue 14). Never mutated.
const RESPONSE_LABELS: Record<string, string> = { direction: 'response' };
const TARGET_LABELS: Record<TargetKind, Record<string, string>> = { kubernetes: { target: 'kubernetes' }, service: { target: 'service' }, ingress: { target: 'ingress' }, error: { target: 'error' } };
const ENCODING_LABELS: Record<ResponseEncoding, Record<string, string>> = {
  json: { encoding: 'json' },
  json_gzip: { encoding: 'json_gzip' },
  binary: { encoding: 'binary' },
  binary_gzip: { encoding: 'binary_gzip' },
  stream: { encoding: 'stream' },
  empty: { encoding: 'empty' },
};

const TARGET_INDEX: Record<TargetKind, number> = { kubernetes: 0, service: 1, ingress: 2, error: 3 };
const ENCODING_INDEX: Record<ResponseEncoding | 'error', number> = { json: 0, json_gzip: 1, binary: 2, binary_gzip: 3, stream: 4, empty: 5, error: 6 };
/** `pipeops_proxy_requests_total`'s label sets by target, encoding and status: bounded (HTTP statuses are 3 digits). */
const REQUEST_LABELS = new Map<number, Record<string, string>>();

/** The labels of one finished request, made once per combination seen (no object and no status string per request). */
function requestLabels(target: TargetKind, status: number, encoding: ResponseEncoding | 'error'): Record<string, string> {
  if (!(status >= 0 && status < 1000)) return { target, status: String(status), encoding };
  const key = (TARGET_INDEX[target] * 8 + ENCODING_INDEX[encoding]) * 1000 + status;
  let l = REQUEST_LABELS.get(key);
  if (!l) REQUEST_LABELS.set(key, (l = { target, status: String(status), encoding }));
  return l;
}

/** Spare AbortControllers kept at most (see HttpRelay's #spareAborts): more than the concurrency a relay sees. */
const MAX_SPARE_ABORTS = 1024;

export class HttpRelay {
  readonly #d: RelayDeps;
  readonly #inflight = new Map<string, Inflight>();
  /** Streamed-body requests answered recently: their chunks may still be on the way (late arrivals, not errors). */
  readonly #finished = new RecentIds();
  /**
   * Every request's deadline on one timer, kept on its Inflight record (a setTimeout + clearTimeout per request, then
   * an entry, a closure and a set operation per request, were measurable at c=64).
   */
  readonly #deadlines = new DeadlineSweep<Inflight>(
    () => this.#inflight.values(),
    (f) => f.abort.abort(new Error(`deadline exceeded after ${Math.round(performance.now() - f.startedAt)} ms`)),
  );
  /**
   * Controllers of requests answered the buffered way without an abort, for the next requests: a fresh AbortController
   * per request cost ≈ 2.5 µs of the worker's CPU at 64 concurrent small requests (issue 14, measured with
   * bench/relay-inprocess.ts and canned backend answers), most of it in the collector, not in the constructor. Only
   * fetch and its body read ever held such a signal, and neither runtime keeps anything of a finished fetch on it
   * (measured: 120k fetches on one signal in Bun, 50k in Deno, no growth; the signal still aborts the fetch in flight).
   * One request per controller at a time: a signal shared by concurrent fetches costs Bun's fetch ≈ 4.5 µs more per
   * call. Bounded by MAX_SPARE_ABORTS.
   */
  readonly #spareAborts: AbortController[] = [];
  /** A `body_binary` request waiting for the very next WebSocket message (§3.2). */
  #awaitingBinary: { requestId: string; resolve: (r: Uint8Array<ArrayBuffer> | Error) => void } | null = null;

  constructor(deps: RelayDeps) {
    this.#d = deps;
  }

  get inflight(): number {
    return this.#inflight.size;
  }

  /** AbortControllers waiting to serve another request (diagnostics and tests). */
  get spareAborts(): number {
    return this.#spareAborts.length;
  }

  /** Called for every inbound text message before dispatch: a pending binary body that did not come fails. */
  textArrived(): void {
    const w = this.#awaitingBinary;
    if (!w) return;
    this.#awaitingBinary = null;
    w.resolve(new Error('expected the binary body frame as the next message, got a text message'));
  }

  /** A binary WebSocket message: the body of the request waiting for one. Returns false if nobody waits. */
  binary(data: ArrayBuffer): boolean {
    const w = this.#awaitingBinary;
    if (!w) return false;
    this.#awaitingBinary = null;
    const f = decodeIdFrame(new Uint8Array(data));
    if (!f.ok) w.resolve(new Error(f.error));
    else if (f.value.requestId !== w.requestId) w.resolve(new Error(`binary body frame is for request ${JSON.stringify(f.value.requestId)}, expected ${JSON.stringify(w.requestId)}`));
    else w.resolve(f.value.body);
    return true;
  }

  request(m: InboundMessage, conn: SessionConnection): void {
    const p = parseProxyRequest(m);
    if (!p.ok) {
      this.#protocolError('invalid_proxy_request', p.error, m.requestId, conn);
      return;
    }
    const req = p.value;
    if (this.#inflight.has(req.requestId)) {
      this.#protocolError('duplicate_request_id', `request id ${req.requestId} is already in flight`, req.requestId, conn);
      return;
    }
    const inflight: Inflight = { abort: this.#spareAborts.pop() ?? new AbortController(), reusable: false, deadlineAt: Number.POSITIVE_INFINITY, startedAt: 0, cancelled: false, body: null, bodyIdle: null, lastChunkAt: 0, window: null };
    // Set up body sources synchronously: the next message may already be the binary frame or a chunk.
    let binaryBody: Promise<Uint8Array<ArrayBuffer> | Error> | null = null;
    if (req.bodyBinary) binaryBody = new Promise((resolve) => (this.#awaitingBinary = { requestId: req.requestId, resolve }));
    else if (req.streamingBody) inflight.body = new RequestBodyStream(this.#d.config.maxRequestBodyBytes);
    this.#inflight.set(req.requestId, inflight);
    this.#armBodyIdle(req.requestId, inflight);
    this.#d.metric({ name: 'pipeops_tunnel_forwards_active', op: 'inc' });
    const done = () => {
      if (inflight.bodyIdle) clearTimeout(inflight.bodyIdle);
      this.#inflight.delete(req.requestId);
      if (!this.#inflight.size) this.#deadlines.stop();
      // Only a streamed request body has chunks that can arrive after the answer (a chunk for any other request is
      // a protocol error whether it is in flight or not).
      if (req.streamingBody) this.#finished.add(req.requestId);
      if (inflight.reusable && !inflight.abort.signal.aborted && this.#spareAborts.length < MAX_SPARE_ABORTS) this.#spareAborts.push(inflight.abort);
      this.#d.metric({ name: 'pipeops_tunnel_forwards_active', op: 'inc', value: -1 });
    };
    // One reaction for both outcomes (a .catch().finally() chain made two more promises per request).
    void this.#run(req, inflight, binaryBody, conn).then(done, (e: unknown) => {
      try {
        // #run answers its own failures; this is a throw from outside its try (a bug): still one answer.
        const err = e instanceof Error ? e : new Error(String(e));
        this.#d.metric({ name: 'pipeops_tunnel_handler_errors_total', op: 'inc', labels: { type: 'proxy_request', error: err.name || 'Error' } });
        this.#d.log.error({ request_id: req.requestId, err: err.message, stack: err.stack }, 'proxy request failed unexpectedly');
        conn.send({ type: 'proxy_error', payload: ProxyOut.error(`internal error handling proxy_request: ${err.message}`), requestId: req.requestId });
      } finally {
        done();
      }
    });
  }

  chunk(m: InboundMessage): void {
    const c = parseRequestChunk(m);
    const f = m.requestId ? this.#inflight.get(m.requestId) : undefined;
    if (c.ok && !f && this.#finished.has(m.requestId!)) {
      this.#d.metric({ name: 'pipeops_late_arrivals_total', op: 'inc', labels: { kind: 'request_chunk' } });
      this.#d.log.debug({ request_id: m.requestId }, 'proxy_request_chunk after the request finished; dropped');
      return;
    }
    if (!c.ok || !f?.body) {
      this.#d.metric({ name: 'pipeops_protocol_errors_total', op: 'inc', labels: { reason: c.ok ? 'chunk_for_unknown_request' : 'invalid_chunk' } });
      this.#d.log.warn({ request_id: m.requestId, err: c.ok ? 'no streamed request with this id' : c.error }, 'proxy_request_chunk dropped');
      // The body is over for this request: later chunks and the end message find it closed.
      if (!c.ok && f) this.fail(m.requestId!, c.error);
      return;
    }
    f.body.push(c.value);
    f.lastChunkAt = Date.now();
  }

  streamEnd(m: InboundMessage): void {
    const f = m.requestId ? this.#inflight.get(m.requestId) : undefined;
    if (!f?.body) return;
    f.body.end();
    if (f.bodyIdle) clearTimeout(f.bodyIdle);
    f.bodyIdle = null;
  }

  /**
   * The idle clock of a streamed body: a control plane that stops sending it does not pin the request. One timer
   * per request (not one per chunk): when it wakes before the idle time has passed since the last chunk, it
   * sleeps for the rest.
   */
  #armBodyIdle(requestId: string, f: Inflight, delay = this.#d.config.bodyIdleMs): void {
    const idle = this.#d.config.bodyIdleMs;
    if (!f.body || !idle || delay === undefined) return;
    if (!f.lastChunkAt) f.lastChunkAt = Date.now();
    f.bodyIdle = setTimeout(() => {
      f.bodyIdle = null;
      if (!f.body?.open) return;
      const left = f.lastChunkAt + idle - Date.now();
      if (left > 0) {
        this.#armBodyIdle(requestId, f, left);
        return;
      }
      this.#d.metric({ name: 'pipeops_tunnel_reclaimed_total', op: 'inc', labels: { kind: 'request_body' } });
      this.#d.log.warn({ request_id: requestId, idle_ms: idle }, 'streamed request body abandoned by the control plane; request failed');
      this.fail(requestId, `no proxy_request_chunk or proxy_request_stream_end for ${idle} ms (timeouts.proxy_body_idle): request body abandoned`);
    }, delay);
  }

  /** `proxy_window`: credit for a request's binary chunks (src/protocol/flow-control.ts). */
  window(m: InboundMessage): void {
    const f = m.requestId ? this.#inflight.get(m.requestId) : undefined;
    const inc = windowIncrement(m.payload);
    if (inc === null) {
      this.#d.metric({ name: 'pipeops_protocol_errors_total', op: 'inc', labels: { reason: 'invalid_window' } });
      return;
    }
    if (f) (f.window ??= new CreditWindow()).grant(inc);
  }

  /** P2: abort the backend call; at most one cancelled answer follows. */
  cancel(m: InboundMessage): void {
    const f = m.requestId ? this.#inflight.get(m.requestId) : undefined;
    if (!f) return;
    f.cancelled = true;
    f.body?.fail(new Error('request cancelled'));
    f.abort.abort(new Error('cancelled'));
  }

  closeAll(reason: string): void {
    for (const f of this.#inflight.values()) f.abort.abort(new Error(reason));
  }

  /** Fail one request in flight (its run sends the `proxy_error`/abort). False when none has this id. */
  fail(requestId: string, reason: string): boolean {
    const f = this.#inflight.get(requestId);
    if (!f) return false;
    f.body?.fail(new Error(reason));
    f.abort.abort(new Error(reason));
    return true;
  }

  #protocolError(reason: string, error: string, requestId: string | undefined, conn: SessionConnection): void {
    this.#d.metric({ name: 'pipeops_protocol_errors_total', op: 'inc', labels: { reason } });
    this.#d.log.warn({ request_id: requestId, reason, err: error }, 'proxy request rejected');
    if (requestId) conn.send({ type: 'proxy_error', payload: ProxyOut.error(error), requestId });
  }

  async #run(req: ProxyRequest, f: Inflight, binaryBody: Promise<Uint8Array<ArrayBuffer> | Error> | null, conn: SessionConnection): Promise<void> {
    const t0 = performance.now();
    const d = this.#d;
    const cfg = d.config;
    let target: TargetKind = 'error';
    let status = 0;
    let headerSent = false;
    let encoding: ResponseEncoding | 'error' = 'error';
    /** An upgrade is answered by the stream relay, which counts it with its real status (101 or the failure). */
    let handedOff = false;
    const deadline = req.deadlineMs ?? (req.responseStreaming ? null : Date.now() + cfg.bufferedTimeoutMs);
    if (deadline !== null) {
      f.startedAt = t0;
      f.deadlineAt = deadline;
      this.#deadlines.watch(deadline);
    }
    try {
      let body: BodyInit | null = req.body;
      if (binaryBody) {
        const b = await binaryBody;
        if (b instanceof Error) throw new RelayError('invalid_binary_body', b.message);
        body = b;
      } else if (f.body) body = f.body.stream;

      const decision = decideRoute(req, { routes: d.routes(), ingressController: cfg.ingressController });
      if (decision.kind === 'error') throw new RelayError('invalid_target', decision.error);
      if (decision.kind === 'kube-stream' || decision.kind === 'app-websocket') {
        if (!d.upgrade) throw new RelayError('unsupported', 'WebSocket upgrades are not available on this agent');
        target = 'kubernetes';
        d.upgrade(req, decision, conn);
        handedOff = true;
        return;
      }
      if (!d.kube && (decision.kind === 'kubernetes' || cfg.serviceProxy === 'apiserver')) throw new RelayError('no_kube', 'kubernetes client not initialized');
      const query = req.query ? `?${req.query}` : '';
      const method = req.method;
      const hasBody = body !== null && method !== 'GET' && method !== 'HEAD';
      let res: Response | Http1Response;
      if (decision.kind === 'kubernetes') {
        target = 'kubernetes';
        // A record (or pairs), not a Headers: fetch builds its own Headers from it (one instead of two per request).
        const path = decision.path + query;
        try {
          // A buffered answer is read whole anyway: the call may resolve once it is in (one promise, no body read).
          res = await d.kube!.forward(path, method, forwardRequestInit(req.headers), hasBody ? (body ?? undefined) : undefined, f.abort.signal, !req.responseStreaming);
        } catch (e) {
          throw d.kube!.forwardError(e, method, path);
        }
      } else {
        target = decision.via === 'explicit' ? 'service' : 'ingress';
        const ep = serviceEndpoint(decision.service, decision.path, req.query, { mode: cfg.serviceProxy, https: decision.https, clusterDomain: cfg.clusterDomain, serviceMap: cfg.serviceMap });
        if (ep.kind === 'error') throw new RelayError('invalid_target', ep.error);
        const headers = forwardRequestHeaders(req.headers);
        if (decision.https) headers['X-Forwarded-Proto'] = ['https'];
        const init = { method, body: hasBody ? body : undefined, signal: f.abort.signal, redirect: 'manual', decompress: false } as RequestInit;
        if (ep.kind === 'kube') {
          // Through the API server the agent authenticates as itself; the caller's Authorization is for the app.
          delete headers.Authorization;
          delete headers.authorization;
          res = await d.kube!.request(ep.path, { ...init, headers: mapToHeaders(headers) } as Parameters<KubeClient['request']>[1]);
        } else {
          // The original Host travels as the HTTP Host, so ingress controllers route by it (§3.4).
          res = await runtime.fetch(ep.url, { ...init, headers: mapToHeaders(headers), tls: { rejectUnauthorized: false } });
        }
      }
      status = res.status || 200;
      const h1 = res instanceof Http1Response ? res : null;
      const headers = h1 ? responseHeaderPairs(h1.rawHeaders) : responseHeaderMap(status, (res as Response).headers);
      // Streamed answers: the header goes first (synchronously, at the start of #streamBody), so a failure after this
      // point ends the request with proxy_response_abort.
      if (req.responseStreaming) {
        headerSent = true;
        encoding = 'stream';
        await this.#streamBody(conn, req, f, status, headers, [], res.body?.getReader() ?? null);
      } else {
        const switchAt = req.binaryChunks ? CHUNK_SWITCH_BYTES : Number.POSITIVE_INFINITY;
        // The declared length from the header map just built (no second lookup in `res.headers`); from `res.headers`
        // only when the map has none (no Content-Length, or one named in Connection).
        const cl = headers?.['Content-Length'];
        const declared = h1 ? h1.contentLength : Number(cl ? (cl.length === 1 ? cl[0] : cl.join(', ')) : ((res as Response).headers.get('content-length') ?? '-1'));
        let raw: Uint8Array<ArrayBuffer>;
        // A declared length within both bounds (most Kubernetes answers): one native read here, no reader, no read
        // loop and no call of readLimited (one async call fewer per request, issue 14), `res.body` never touched
        // (reading it makes a ReadableStream). A response without a body reads as empty. The request's abort signal
        // still ends it (fetch rejects the body read).
        // The relay's own client (src/kube/http1.ts) has read a body of up to 1 MiB already.
        if (h1?.whole) {
          raw = h1.whole;
          if (raw.length > cfg.maxBufferedBodyBytes) throw tooLarge(raw.length, cfg.maxBufferedBodyBytes);
        } else if (declared >= 0 && declared <= switchAt && declared <= cfg.maxBufferedBodyBytes) raw = await res.bytes();
        else {
          const read = await readLimited(res, declared, cfg.maxBufferedBodyBytes, f.abort.signal, switchAt);
          if (read.kind === 'switch') {
            headerSent = true;
            encoding = 'stream';
            await this.#streamBody(conn, req, f, status, headers, read.parts, read.reader);
            return;
          }
          raw = read.body;
        }
        const w = writeBuffered(conn, req.requestId, status, headers, raw, this.#limits(req.binaryChunks));
        const r = w instanceof Promise ? await w : w;
        encoding = r.encoding;
        // The signal went to the backend call only (no streamed request body that fetch may still be reading, no drain
        // wait, no credit window): see #spareAborts.
        f.reusable = !req.streamingBody;
        d.metric({ name: 'pipeops_proxy_bytes_total', op: 'inc', value: r.rawBytes, labels: RESPONSE_LABELS });
        d.metric({ name: 'pipeops_proxy_wire_bytes_total', op: 'inc', value: r.wireBytes, labels: ENCODING_LABELS[r.encoding] });
        if (r.gzipSavedBytes > 0) {
          d.metric({ name: 'pipeops_proxy_gzip_saved_bytes_total', op: 'inc', value: r.gzipSavedBytes });
          d.metric({ name: 'pipeops_proxy_gzip_ratio', op: 'observe', value: (r.rawBytes - r.gzipSavedBytes) / r.rawBytes });
        }
      }
    } catch (e) {
      const err = e as Error;
      const code = e instanceof RelayError ? e.code : f.cancelled ? 'cancelled' : f.abort.signal.aborted ? 'aborted' : 'backend_error';
      const message = f.cancelled ? 'cancelled' : f.abort.signal.aborted ? String((f.abort.signal.reason as Error)?.message ?? 'aborted') : err.message;
      if (code !== 'cancelled') d.log.warn({ request_id: req.requestId, code, err: message, path: req.path }, 'proxy request failed');
      if (e instanceof RelayError && e.code !== 'no_kube') d.metric({ name: 'pipeops_protocol_errors_total', op: 'inc', labels: { reason: e.code } });
      // Exactly one terminal message per request.
      if (headerSent) conn.send({ type: 'proxy_response_abort', payload: ProxyOut.abort(message), requestId: req.requestId });
      else conn.send({ type: 'proxy_error', payload: ProxyOut.error(message), requestId: req.requestId });
      status = status || (f.cancelled ? 499 : 502);
    } finally {
      f.deadlineAt = Number.POSITIVE_INFINITY;
      if (!handedOff) {
        d.metric({ name: 'pipeops_proxy_requests_total', op: 'inc', labels: requestLabels(target, status, encoding) });
        d.metric({ name: 'pipeops_proxy_request_duration_seconds', op: 'observe', value: (performance.now() - t0) / 1000, labels: TARGET_LABELS[target] });
      }
    }
  }

  /** A streamed answer: header, body chunks as the backend yields them (with backpressure), end. */
  async #streamBody(conn: SessionConnection, req: ProxyRequest, f: Inflight, status: number, headers: HeaderMap | null, first: Uint8Array[], reader: ReadableStreamDefaultReader<Uint8Array> | null): Promise<void> {
    conn.send({ type: 'proxy_response_header', payload: ProxyOut.header(status, headers), requestId: req.requestId });
    const bytes = req.binaryChunks
      ? await writeBinaryChunks(conn, req.requestId, first, reader, f.abort.signal, (f.window ??= new CreditWindow()))
      : reader
        ? await writeStream(conn, req.requestId, reader, this.#limits(), f.abort.signal)
        : 0;
    conn.send({ type: 'proxy_response_end', payload: ProxyOut.end(), requestId: req.requestId });
    this.#d.metric({ name: 'pipeops_proxy_bytes_total', op: 'inc', value: bytes, labels: RESPONSE_LABELS });
  }

  #limitsCache: WriterLimits | undefined;
  #anySizeLimitsCache: WriterLimits | undefined;

  /**
   * The writers' limits. `binaryAnySize`: the control plane negotiated `binary_chunks` (ours), so it decodes binary
   * response frames (§3.6) of any size: every non-empty buffered answer goes as one, without base64 and JSON around
   * the body at either end (issue 14). Other control planes get upstream's rule (binary from `binary_threshold_bytes`).
   */
  #limits(binaryAnySize = false): WriterLimits {
    const c = this.#d.config;
    if (binaryAnySize) return (this.#anySizeLimitsCache ??= { binaryThreshold: Math.min(c.binaryThreshold, 1), gzipMinBytes: c.gzipMinBytes, highWaterBytes: c.highWaterBytes });
    return (this.#limitsCache ??= { binaryThreshold: c.binaryThreshold, gzipMinBytes: c.gzipMinBytes, highWaterBytes: c.highWaterBytes });
  }
}

/** A buffered answer over the limit (P3): `bytes` when they are known. */
function tooLarge(bytes: number | null, limit: number): RelayError {
  return new RelayError('response_too_large', `response body ${bytes === null ? '' : `of ${bytes} bytes `}exceeds the buffered limit of ${limit} bytes; request it with supports_response_streaming`);
}

class RelayError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

type ReadResult =
  | { kind: 'body'; body: Uint8Array<ArrayBuffer> }
  /** Past `switchAt`: the parts read so far and the rest of the stream, to be relayed as chunks. */
  | { kind: 'switch'; parts: Uint8Array[]; reader: ReadableStreamDefaultReader<Uint8Array> | null };

/**
 * Read a whole body, failing clearly past `limit` bytes (P3: buffered responses have a size cap). `declared`: the
 * Content-Length (NaN or -1 when there is none or it is not a number). The relay reads a body of declared length
 * within both bounds itself, without this call; here it would take the read loop below, with the same result.
 */
async function readLimited(res: { readonly body: ReadableStream<Uint8Array> | null }, declared: number, limit: number, signal: AbortSignal, switchAt: number): Promise<ReadResult> {
  if (!res.body) return { kind: 'body', body: new Uint8Array(0) };
  if (declared > switchAt) return { kind: 'switch', parts: [], reader: res.body.getReader() };
  if (declared > limit) {
    await res.body.cancel();
    throw tooLarge(declared, limit);
  }
  const parts: Uint8Array[] = [];
  let total = 0;
  const reader = res.body.getReader();
  for (;;) {
    if (signal.aborted) throw signal.reason ?? new Error('aborted');
    const { value, done } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > switchAt) {
      parts.push(value);
      return { kind: 'switch', parts, reader };
    }
    if (total > limit) {
      await reader.cancel();
      throw tooLarge(null, limit);
    }
    parts.push(value);
  }
  if (parts.length === 1) return { kind: 'body', body: parts[0] as Uint8Array<ArrayBuffer> };
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return { kind: 'body', body: out };
}

export { headerValue };
