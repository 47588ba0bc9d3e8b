// The kube gateway's listener (issue 14): TLS on Bun.listen, and a head reader of its own that serves the hot path —
// a plain `GET` without a body, upgrade or `Connection` option, which the gateway can answer from what it knows in
// memory — with a light response object. Every other request, and everything after it on that connection, goes to a
// node:http server, unchanged, through `SocketDuplex`: request bodies, upgrades (SPDY and WebSocket for exec, attach
// and port-forward, the replicas' L4 forwards), refusals, HTTP/1.0, and any head this reader does not accept exactly
// (a bare LF, folded lines, control characters, a head over 16 KiB: node answers those as it always did). node's
// server on Bun cost ≈ 10 µs of hub CPU more per small HTTPS request than this path, and kept the load generator
// busier too (`bench/relay-floor.ts --node-floor --listen-floor`); kubectl's upgrades still need node's raw sockets.
//
// One request at a time per connection: the next head is read once the answer is complete (a pipelined request
// waits in the buffer), so a hand-off always happens at a request boundary. An idle connection is closed after
// `keepAliveTimeoutMs` (node's keepAliveTimeout) and a head still incomplete after `headersTimeoutMs` (node's
// headersTimeout) is cut, on one sweep timer for all connections.
import type { Server as HttpServer } from 'node:http';
import { STATUS_CODES } from 'node:http';
import { Duplex } from 'node:stream';
import { HTTP_TOKEN } from '../../protocol/http-headers.ts';
import { type AcceptedStream, listenStream, type StreamListener } from '../../runtime/bun/stream-listener.ts';

/** node's default --max-http-header-size: a longer head goes to node (431). */
export const MAX_FAST_HEAD = 16 * 1024;
const MAX_FAST_FIELDS = 100;
/** A connection that buffers more than this while its answer is under way stops reading until the answer is done. */
const MAX_WAITING_INPUT = 64 * 1024;

/** What the gateway reads of a request on the fast path (a subset of node's IncomingMessage). */
export interface FrontRequest {
  readonly method: 'GET';
  readonly url: string;
  readonly rawHeaders: string[];
  readonly socket: { readonly remoteAddress: string };
}

type Listener = (this: FrontResponse) => void;
type HeaderValues = Record<string, string | string[] | number | undefined>;

/**
 * The answer to one fast-path request, with the part of node's ServerResponse the gateway and its exchanges use:
 * `writeHead` then `end(body)` (one write), or `writeHead`, `flushHeaders`, `write`… `end()` chunked; `writableLength`
 * and 'drain' for backpressure; 'close' once, when the answer is complete or the connection is gone.
 */
export class FrontResponse {
  statusCode = 200;
  headersSent = false;
  destroyed = false;
  #head = '';
  #chunked = false;
  #noBody = false;
  #ended = false;
  #close: Listener[] | null = null;
  #drain: Listener[] | null = null;
  #finish: Listener[] | null = null;

  constructor(readonly conn: FrontConn) {}

  get writableLength(): number {
    return this.conn.s.writableLength;
  }

  get writableEnded(): boolean {
    return this.#ended;
  }

  on(event: 'close' | 'drain' | 'finish', l: Listener): this {
    if (event === 'close') (this.#close ??= []).push(l);
    else if (event === 'drain') (this.#drain ??= []).push(l);
    else (this.#finish ??= []).push(l);
    return this;
  }

  once(event: 'close' | 'drain' | 'finish', l: Listener): this {
    const self = this;
    const w = function (this: FrontResponse) {
      self.off(event, w);
      l.call(self);
    };
    return this.on(event, w);
  }

  off(event: 'close' | 'drain' | 'finish', l: Listener): this {
    const list = event === 'close' ? this.#close : event === 'drain' ? this.#drain : this.#finish;
    const i = list ? list.indexOf(l) : -1;
    if (i >= 0) list!.splice(i, 1);
    return this;
  }

  writeHead(status: number, headers?: HeaderValues): this {
    if (this.headersSent || this.#head) throw Object.assign(new Error('Cannot write headers after they are sent to the client'), { code: 'ERR_HTTP_HEADERS_SENT' });
    if (!Number.isInteger(status) || status < 100 || status > 999) throw Object.assign(new RangeError(`Invalid status code: ${status}`), { code: 'ERR_HTTP_INVALID_STATUS_CODE' });
    this.statusCode = status;
    this.#noBody = status === 204 || status === 304 || status < 200;
    let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'unknown'}\r\n`;
    let length = false;
    let date = false;
    for (const name in headers) {
      const v = headers[name];
      if (v === undefined) continue;
      if (!HTTP_TOKEN.test(name)) throw Object.assign(new TypeError(`Header name must be a valid HTTP token ["${name}"]`), { code: 'ERR_INVALID_HTTP_TOKEN' });
      const l = name.length === 14 || name.length === 4 ? name.toLowerCase() : '';
      if (l === 'content-length') length = true;
      else if (l === 'date') date = true;
      if (Array.isArray(v)) for (const one of v) head += field(name, String(one));
      else head += field(name, String(v));
    }
    if (!date) head += `Date: ${httpDate()}\r\n`;
    head += this.conn.front.keepAliveFields;
    if (!length && !this.#noBody) {
      this.#chunked = true;
      head += 'Transfer-Encoding: chunked\r\n';
    }
    this.#head = `${head}\r\n`;
    return this;
  }

  /** Sends the status line and headers now (a stream's body may be long in coming). */
  flushHeaders(): void {
    if (this.headersSent || this.destroyed) return;
    if (!this.#head) this.writeHead(this.statusCode);
    this.headersSent = true;
    this.conn.s.write(Buffer.from(this.#head, 'latin1'));
  }

  write(chunk: Uint8Array | string): boolean {
    if (this.#ended || this.destroyed) return false;
    const body = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (!this.headersSent) {
      if (!this.#head) this.writeHead(this.statusCode);
      this.headersSent = true;
      if (this.#noBody || body.length === 0) return this.conn.s.write(Buffer.from(this.#head, 'latin1'));
      return this.conn.s.write(this.#framed(this.#head, body));
    }
    if (this.#noBody || body.length === 0) return this.conn.s.writableLength === 0;
    if (!this.#chunked || body.length < COPY_BELOW) return this.conn.s.write(this.#framed('', body));
    // A bulk chunk is not copied to be framed: its size line, the bytes, and CRLF go as three writes.
    const s = this.conn.s;
    s.write(Buffer.from(`${body.length.toString(16)}\r\n`, 'latin1'));
    s.write(body);
    return s.write(CRLF);
  }

  end(chunk?: Uint8Array | string): this {
    if (this.#ended || this.destroyed) return this;
    const body = chunk === undefined ? EMPTY : typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (!this.headersSent) {
      if (!this.#head) this.writeHead(this.statusCode);
      this.headersSent = true;
      const parts = this.#noBody || body.length === 0 ? EMPTY : body;
      const tail = this.#chunked ? (parts.length ? `${parts.length.toString(16)}\r\n` : '') : '';
      const head = this.#head + tail;
      const n = head.length;
      const closing = this.#chunked ? (parts.length ? '\r\n0\r\n\r\n' : '0\r\n\r\n') : '';
      const out = Buffer.allocUnsafe(n + parts.length + closing.length);
      out.write(head, 0, 'latin1');
      out.set(parts, n);
      if (closing) out.write(closing, n + parts.length, 'latin1');
      this.conn.s.write(out);
    } else {
      if (body.length && !this.#noBody) this.conn.s.write(this.#framed('', body));
      if (this.#chunked) this.conn.s.write(LAST_CHUNK);
    }
    this.#ended = true;
    emit(this, this.#finish);
    this.conn.answered(this);
    this.#closed();
    return this;
  }

  /**
   * Nothing was sent: node's server answers this request instead (the head is replayed to it, and the connection is
   * node's from then on). For a decision the gateway could only make after a wait (the cluster's record).
   */
  passToNode(): void {
    if (this.headersSent || this.#head || this.destroyed) throw new Error('passToNode after the answer began');
    this.destroyed = true;
    this.#close = null;
    this.#drain = null;
    this.conn.replay(this);
  }

  /** Cuts the connection (a stream that failed mid-way: the client must not see a clean end). */
  destroy(): this {
    if (this.destroyed) return this;
    this.conn.s.destroy();
    this.#closed();
    return this;
  }

  /** The answer is complete, or the connection went first: 'close', once. */
  #closed(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    const l = this.#close;
    this.#close = null;
    this.#drain = null;
    emit(this, l);
  }

  /** Called by the connection. */
  connectionGone(): void {
    this.#closed();
  }

  drained(): void {
    emit(this, this.#drain);
  }

  #framed(head: string, body: Uint8Array): Buffer {
    const prefix = this.#chunked ? `${head}${body.length.toString(16)}\r\n` : head;
    const suffix = this.#chunked ? 2 : 0;
    const out = Buffer.allocUnsafe(prefix.length + body.length + suffix);
    out.write(prefix, 0, 'latin1');
    out.set(body, prefix.length);
    if (suffix) {
      out[out.length - 2] = 13;
      out[out.length - 1] = 10;
    }
    return out;
  }
}

const EMPTY = Buffer.alloc(0);
const LAST_CHUNK = Buffer.from('0\r\n\r\n', 'latin1');
const CRLF = Buffer.from('\r\n', 'latin1');
/** Chunks below this size are copied into one framed buffer (one write); larger ones are written as they are. */
const COPY_BELOW = 16 * 1024;
const INVALID_FIELD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;

function field(name: string, value: string): string {
  if (INVALID_FIELD_VALUE.test(value)) throw Object.assign(new TypeError(`Invalid character in header content ["${name}"]`), { code: 'ERR_INVALID_CHAR' });
  return `${name}: ${value}\r\n`;
}

function emit(res: FrontResponse, list: Listener[] | null): void {
  if (!list) return;
  if (list.length === 1) list[0]!.call(res);
  else for (const l of [...list]) l.call(res);
}

// The Date header is the same for a whole second: formatted once per second, as node does.
let dateSecond = -1;
let dateText = '';
function httpDate(): string {
  const now = Date.now();
  const s = Math.floor(now / 1000);
  if (s !== dateSecond) {
    dateSecond = s;
    dateText = new Date(s * 1000).toUTCString();
  }
  return dateText;
}

const REQUEST_LINE = /^GET (\/[\x21-\x7e]*) HTTP\/1\.1$/;
/** Header lines, each `token:value CRLF`, a value without control characters but HTAB (no folding, no bare CR or LF). */
const FIELDS = /^(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[^\x00-\x08\x0a-\x1f\x7f]*\r\n)*$/;

/**
 * A request head this reader serves itself, or null: only `GET /… HTTP/1.1` with a Host, well-formed fields (token
 * names, no control characters, no folding), and none of Content-Length, Transfer-Encoding, Upgrade, Expect, or a
 * Connection other than keep-alive. Anything else is node's to answer. `head` ends with the last field's CRLF. One
 * regular expression checks every field line, then one pass cuts them (1.1 µs for kubectl's head, against 2.0 for a
 * test per line).
 */
export function fastHead(head: string): { url: string; rawHeaders: string[] } | null {
  const first = head.indexOf('\r\n');
  if (first < 0) return null;
  const m = REQUEST_LINE.exec(head.slice(0, first));
  if (!m || !FIELDS.test(head.slice(first + 2))) return null;
  const raw: string[] = [];
  let host = false;
  let at = first + 2;
  while (at < head.length) {
    const next = head.indexOf('\r\n', at);
    const colon = head.indexOf(':', at);
    const name = head.slice(at, colon);
    let vs = colon + 1;
    let ve = next;
    while (vs < ve && (head.charCodeAt(vs) === 32 || head.charCodeAt(vs) === 9)) vs++;
    while (ve > vs && (head.charCodeAt(ve - 1) === 32 || head.charCodeAt(ve - 1) === 9)) ve--;
    const value = head.slice(vs, ve);
    at = next + 2;
    switch (name.length) {
      case 4:
        if (name.toLowerCase() === 'host') {
          if (host) return null;
          host = true;
        }
        break;
      case 6:
        if (name.toLowerCase() === 'expect') return null;
        break;
      case 7:
        if (name.toLowerCase() === 'upgrade') return null;
        break;
      case 10:
        if (name.toLowerCase() === 'connection' && value.toLowerCase() !== 'keep-alive') return null;
        break;
      case 14:
        if (name.toLowerCase() === 'content-length') return null;
        break;
      case 17:
        if (name.toLowerCase() === 'transfer-encoding') return null;
        break;
    }
    raw.push(name, value);
    if (raw.length > 2 * MAX_FAST_FIELDS) return null;
  }
  return host ? { url: m[1]!, rawHeaders: raw } : null;
}

/**
 * A connection as a node stream, for node:http's `emit('connection')`: what the fast path does not serve goes to
 * node's server with every byte from the first request it passed on.
 */
export class SocketDuplex extends Duplex {
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly remoteFamily: string;
  readonly localPort: number;
  readonly encrypted: boolean;
  #waiting: ((e?: Error | null) => void) | null = null;
  /**
   * What the front's sweep needs to time this connection out, since Bun's node:http runs neither its keep-alive nor
   * its headers timer on a connection it is handed: requests node is answering now, an upgrade (the relay's from
   * then on), when the last answer ended, and when input began arriving with no request under way (-1: none).
   */
  requests = 0;
  upgraded = false;
  idleSince = performance.now();
  headSince = -1;
  /** When our side was ended (node's or the upgrade handler's end()), and when input last came (-1: not yet). */
  endedAt = -1;
  inputAt = -1;
  #timeoutMs = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(readonly s: AcceptedStream, encrypted: boolean) {
    super({ allowHalfOpen: true });
    this.remoteAddress = s.remoteAddress;
    this.remotePort = s.remotePort;
    this.remoteFamily = s.remoteAddress.includes(':') ? 'IPv6' : 'IPv4';
    this.localPort = s.localPort;
    this.encrypted = encrypted;
  }

  /** Bytes from the connection (the front's buffer first, then every read). */
  input(d: Uint8Array): void {
    this.#active();
    this.inputAt = performance.now();
    if (this.requests === 0 && this.headSince < 0) this.headSince = this.inputAt;
    if (!this.push(d)) this.s.pause();
  }

  override _read(): void {
    this.s.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.#active();
    if (this.s.closed) return cb(Object.assign(new Error('socket closed'), { code: 'EPIPE' }));
    if (this.s.write(chunk)) cb();
    else this.#waiting = cb;
  }

  override _final(cb: (e?: Error | null) => void): void {
    this.endedAt = performance.now();
    this.s.end();
    cb();
  }

  override _destroy(e: Error | null, cb: (e?: Error | null) => void): void {
    clearTimeout(this.#timer);
    this.s.destroy();
    const w = this.#waiting;
    this.#waiting = null;
    w?.(e ?? Object.assign(new Error('socket closed'), { code: 'EPIPE' }));
    cb(e);
  }

  /** node's server began answering a request on this connection. */
  began(res: { once(event: 'close', l: () => void): unknown }): void {
    this.requests++;
    this.headSince = -1;
    res.once('close', () => {
      if (--this.requests === 0) this.idleSince = performance.now();
    });
  }

  /**
   * What the sweep does now: nothing, 'end' (idle for keepAliveMs) or 'cut' (a head begun after the last answer and
   * still incomplete after headersMs). Bytes of a next head that came in with the previous request are not seen
   * apart from it (node's parser holds them): they run on the keep-alive clock, the shorter one by default.
   */
  expiry(now: number, keepAliveMs: number, headersMs: number): 'end' | 'cut' | null {
    if (this.destroyed) return null;
    // Our side is ended (a refusal, an upgrade relay that finished, Connection: close): a peer that neither closes
    // nor sends anything for keepAliveMs is cut (a refused upgrade whose client ignored the FIN stayed forever).
    if (this.endedAt >= 0) return now - Math.max(this.endedAt, this.inputAt) > keepAliveMs ? 'cut' : null;
    if (this.upgraded || this.requests > 0) return null;
    if (this.headSince >= 0) return now - this.headSince > headersMs ? 'cut' : null;
    return now - this.idleSince > keepAliveMs ? 'end' : null;
  }

  drained(): void {
    const w = this.#waiting;
    this.#waiting = null;
    w?.();
  }

  ended(): void {
    this.push(null);
  }

  gone(): void {
    clearTimeout(this.#timer);
    if (!this.destroyed) this.destroy();
  }

  setTimeout(ms: number, cb?: () => void): this {
    this.#timeoutMs = ms;
    if (cb) this.once('timeout', cb);
    this.#active();
    return this;
  }

  setNoDelay(): this {
    return this;
  }

  setKeepAlive(): this {
    return this;
  }

  address(): { port: number } {
    return { port: this.localPort };
  }

  #active(): void {
    clearTimeout(this.#timer);
    if (this.#timeoutMs > 0) this.#timer = setTimeout(() => this.emit('timeout'), this.#timeoutMs);
  }
}

/** Answers a fast-path request, or returns false for node to answer it (nothing may have been sent then). */
export type FrontHandler = (req: FrontRequest, res: FrontResponse) => boolean;

/** One accepted connection: the fast path's head reader, or, once handed off, a pipe into node's server. */
export class FrontConn {
  /** Bytes read and not yet consumed (a partial head, or a request waiting for the current answer). */
  #buf: Buffer | null = null;
  /** Where the search for the head's end resumes (no quadratic rescans of a head arriving in pieces). */
  #scanned = 0;
  #current: FrontResponse | null = null;
  /** The current request's head, as read (replayed to node by `passToNode`). */
  #headBytes: Buffer | null = null;
  #node: SocketDuplex | null = null;
  #paused = false;
  /** The keep-alive timeout ended this connection (the next sweep cuts it if it is still open). */
  #ending = false;
  /** The client ended its side: nothing more is read or answered. */
  #peerEnded = false;
  /** performance.now() when the connection went idle, or when the current head began (the sweep's clock). */
  since: number;
  closed = false;

  constructor(
    readonly s: AcceptedStream,
    readonly front: HttpFront,
  ) {
    this.since = performance.now();
    s.onData = (d) => this.#data(d);
    s.onDrain = () => {
      if (this.#node) this.#node.drained();
      else this.#current?.drained();
    };
    s.onEnd = () => {
      if (this.#node) this.#node.ended();
      else this.#peerGone();
    };
    s.onClose = () => this.#gone();
  }

  /** Idle (no answer under way, no part of a head) and not handed off: what the keep-alive sweep may close. */
  get idle(): boolean {
    return !this.#node && !this.#current && !this.#buf;
  }

  /** Part of a head has arrived and the rest not yet. */
  get readingHead(): boolean {
    return !this.#node && !this.#current && this.#buf !== null;
  }

  get handedOff(): boolean {
    return this.#node !== null;
  }

  /** node's side of a handed-off connection. */
  get node(): SocketDuplex | null {
    return this.#node;
  }

  #data(d: Buffer): void {
    if (this.#node) {
      this.#node.input(d);
      return;
    }
    // Ended for keep-alive: a request that crossed our FIN gets no answer (the client retries on a new connection).
    if (this.#ending) return;
    if (this.#buf) this.#buf = Buffer.concat([this.#buf, d]);
    else {
      this.#buf = d;
      this.since = performance.now();
    }
    if (this.#current) {
      if (this.#buf.length > MAX_WAITING_INPUT && !this.#paused) {
        this.#paused = true;
        this.s.pause();
      }
      return;
    }
    this.#next();
  }

  /** Reads the next head in the buffer: served here, handed to node, or waited for. */
  #next(): void {
    const b = this.#buf;
    if (!b || this.closed || this.#peerEnded) return;
    const end = b.indexOf(HEAD_END, Math.max(0, this.#scanned - 3));
    if (end < 0) {
      this.#scanned = b.length;
      if (b.length > MAX_FAST_HEAD) this.#handOff();
      return;
    }
    this.#scanned = 0;
    const parsed = end + 4 <= MAX_FAST_HEAD ? fastHead(b.toString('latin1', 0, end + 2)) : null;
    if (!parsed) return this.#handOff();
    const req: FrontRequest = { method: 'GET', url: parsed.url, rawHeaders: parsed.rawHeaders, socket: this.s };
    const res = new FrontResponse(this);
    this.#current = res;
    // Consumed before the handler runs: an answer completed within it must not find this head again.
    this.#headBytes = b.subarray(0, end + 4);
    this.#buf = end + 4 < b.length ? b.subarray(end + 4) : null;
    if (!this.front.handle(req, res)) {
      this.#current = null;
      this.#buf = b;
      return this.#handOff();
    }
    if (this.#buf) this.since = performance.now();
  }

  /** The current answer is complete: the next request (already buffered, or to come). */
  answered(res: FrontResponse): void {
    if (this.#current !== res) return;
    this.#current = null;
    this.#headBytes = null;
    this.since = performance.now();
    if (this.#paused) {
      this.#paused = false;
      this.s.resume();
    }
    // Never from inside the answer's own call chain (the exchange is still finishing it).
    if (this.#buf) queueMicrotask(() => this.#next());
  }

  /** The current request goes to node after all (nothing of its answer was sent), and the connection with it. */
  replay(res: FrontResponse): void {
    if (this.#current !== res || this.closed) return;
    this.#current = null;
    const head = this.#headBytes!;
    this.#headBytes = null;
    this.#buf = this.#buf ? Buffer.concat([head, this.#buf]) : head;
    this.#handOff();
  }

  /**
   * The client's FIN. An answer under way is abandoned ('close', so the exchange tells the agent proxy_cancel) and
   * requests still buffered are dropped, as node's server does (and Go's, which cancels the request's context): a
   * client that closed its connection sends just this FIN, and only a write that fails would tell it from a
   * half-close, so a quiet watch or a slow answer would otherwise hold its exchange, the agent's work and this
   * connection until the answer ends.
   */
  #peerGone(): void {
    this.#peerEnded = true;
    this.#buf = null;
    this.#headBytes = null;
    const c = this.#current;
    this.#current = null;
    this.s.end();
    c?.connectionGone();
  }

  /** node's server takes the connection from the request in the buffer on. */
  #handOff(): void {
    const d = new SocketDuplex(this.s, this.front.encrypted);
    this.#node = d;
    const b = this.#buf;
    this.#buf = null;
    if (this.#paused) {
      this.#paused = false;
      this.s.resume();
    }
    this.front.handOff(this, d);
    if (b) d.input(b);
  }

  /** The sweep (or stop) ended this connection once already. */
  get ending(): boolean {
    return this.#ending;
  }

  /** Ends an idle connection (keep-alive timeout) or cuts a head that did not complete in time. */
  close(cut: boolean): void {
    // Ended once already and still here (a peer that keeps its side open, or never reads what is queued): cut.
    if (cut || this.#ending) this.s.destroy();
    else {
      this.#ending = true;
      this.s.end();
    }
  }

  #gone(): void {
    if (this.closed) return;
    this.closed = true;
    this.front.forget(this);
    if (this.#node) this.#node.gone();
    const c = this.#current;
    this.#current = null;
    c?.connectionGone();
  }
}

const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');

export interface HttpFrontOptions {
  hostname: string;
  port: number;
  tls: { cert: string; key: string } | null;
  handle: FrontHandler;
  /** node's server for everything else (its 'request' and 'upgrade' listeners, its timeouts). */
  node: HttpServer;
  /** An idle keep-alive connection is ended after this long (node's default keepAliveTimeout, 5 s). */
  keepAliveTimeoutMs?: number;
  /** A head must be complete this long after its first byte (node's default headersTimeout, 60 s). */
  headersTimeoutMs?: number;
  /** Counted: a connection accepted, a connection handed to node. */
  opened?: () => void;
  handedOff?: () => void;
}

export class HttpFront {
  readonly conns = new Set<FrontConn>();
  readonly encrypted: boolean;
  readonly #listener: StreamListener;
  readonly #sweep: ReturnType<typeof setInterval>;
  readonly #keepAliveMs: number;
  readonly #headersMs: number;
  /** Connections node's server has (counted apart, for tests and stop()). */
  handedOff = 0;
  /** The keep-alive fields of every fast-path answer, as node's server writes them. */
  readonly keepAliveFields: string;

  constructor(readonly o: HttpFrontOptions) {
    this.encrypted = o.tls !== null;
    this.#keepAliveMs = o.keepAliveTimeoutMs ?? 5_000;
    this.#headersMs = o.headersTimeoutMs ?? 60_000;
    this.keepAliveFields = `Connection: keep-alive\r\nKeep-Alive: timeout=${Math.floor(this.#keepAliveMs / 1000)}\r\n`;
    // Which handed-off connections have a request or an upgrade under way (for the sweep).
    o.node.on('request', (req: { socket: unknown }, res: { once(event: 'close', l: () => void): unknown }) => {
      if (req.socket instanceof SocketDuplex) req.socket.began(res);
    });
    o.node.on('upgrade', (_req: unknown, socket: unknown) => {
      if (socket instanceof SocketDuplex) socket.upgraded = true;
    });
    this.#listener = listenStream({
      hostname: o.hostname,
      port: o.port,
      tls: o.tls,
      onOpen: (s) => {
        this.conns.add(new FrontConn(s, this));
        o.opened?.();
      },
    });
    const every = Math.max(50, Math.min(1_000, Math.floor(Math.min(this.#keepAliveMs, this.#headersMs) / 4)));
    this.#sweep = setInterval(() => this.#expire(), every);
    this.#sweep.unref?.();
  }

  get port(): number {
    return this.#listener.port;
  }

  handle(req: FrontRequest, res: FrontResponse): boolean {
    return this.o.handle(req, res);
  }

  handOff(c: FrontConn, d: SocketDuplex): void {
    this.handedOff++;
    this.o.handedOff?.();
    this.o.node.emit('connection', d);
    void c;
  }

  forget(c: FrontConn): void {
    this.conns.delete(c);
  }

  #expire(): void {
    const now = performance.now();
    for (const c of this.conns) {
      const node = c.node;
      if (node) {
        // Ended and still open a sweep later: cut, even when node began answering a request that crossed our FIN
        // (its answer can no longer be written, so it would never finish).
        const x = c.ending ? 'cut' : node.expiry(now, this.#keepAliveMs, this.#headersMs);
        if (x) c.close(x === 'cut');
      } else if (c.idle && now - c.since > this.#keepAliveMs) c.close(false);
      else if (c.readingHead && now - c.since > this.#headersMs) c.close(true);
    }
  }

  /** Stops accepting. Open connections are the caller's to end. */
  stop(): void {
    clearInterval(this.#sweep);
    this.#listener.stop();
  }
}
