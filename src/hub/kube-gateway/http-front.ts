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
// `keepAliveTimeoutMs` (node's keepAliveTimeout), a head still incomplete after `headersTimeoutMs` (node's
// headersTimeout) is cut, and on a handed-off connection a request whose body is still incomplete
// `requestTimeoutMs` after it began (node's requestTimeout) is answered 408 and its connection closed, on one sweep
// timer for all connections. Bun's node:http runs none of these on a connection it is handed.
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import { type AcceptedStream, listenStream, type StreamListener } from '../../runtime/bun/stream-listener.ts';
import { type FrontRequest, FrontResponse } from './front-response.ts';
import { SocketDuplex } from './socket-duplex.ts';

export { type FrontRequest, FrontResponse } from './front-response.ts';
export { SocketDuplex } from './socket-duplex.ts';

/** node's default --max-http-header-size: a longer head goes to node (431). */
export const MAX_FAST_HEAD = 16 * 1024;
const MAX_FAST_FIELDS = 100;
/** A connection that buffers more than this while its answer is under way stops reading until the answer is done. */
const MAX_WAITING_INPUT = 64 * 1024;

/** Fields that send a request to node: a body, an upgrade, an expectation. */
const TO_NODE = new Set(['content-length', 'transfer-encoding', 'upgrade', 'expect']);
/** 1 at the length of every name the reader looks at (TO_NODE, Host, Connection): the others are not lower-cased. */
const WATCHED_LENGTHS = new Uint8Array(32);
for (const n of [...TO_NODE, 'host', 'connection']) WATCHED_LENGTHS[n.length] = 1;

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
    if (WATCHED_LENGTHS[name.length] === 1) {
      const n = name.toLowerCase();
      if (TO_NODE.has(n)) return null;
      if (n === 'host') {
        if (host) return null;
        host = true;
      } else if (n === 'connection' && value.toLowerCase() !== 'keep-alive') return null;
    }
    raw.push(name, value);
    if (raw.length > 2 * MAX_FAST_FIELDS) return null;
  }
  return host ? { url: m[1]!, rawHeaders: raw } : null;
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
    this.front.handOff(d);
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
  /**
   * A request handed to node must have all of its body this long after it began (node's default requestTimeout,
   * 300 s; 0: no bound): else 408 with `Connection: close` and the connection's end, or, when its answer had begun,
   * the connection destroyed. Not for upgrades, nor for answers: a watch's request is complete at once.
   */
  requestTimeoutMs?: number;
  /**
   * A request was timed out. `res` when nothing of its answer was sent: the caller writes the 408 (with `Connection:
   * close`; without this option a bare one, as node's server writes); null when its connection was destroyed.
   */
  requestTimedOut?: (req: Pick<IncomingMessage, 'method'>, res: ServerResponse | null, remote: string) => void;
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
  /** How long a request handed to node may take to arrive whole (0: no bound). */
  readonly requestTimeoutMs: number;
  /** Connections node's server has (counted apart, for tests and stop()). */
  handedOff = 0;
  /** The keep-alive fields of every fast-path answer, as node's server writes them. */
  readonly keepAliveFields: string;

  constructor(readonly o: HttpFrontOptions) {
    this.encrypted = o.tls !== null;
    this.#keepAliveMs = o.keepAliveTimeoutMs ?? 5_000;
    this.requestTimeoutMs = o.requestTimeoutMs ?? 300_000;
    // A head is part of its request: node requires headersTimeout ≤ requestTimeout; here the shorter one bounds it.
    this.#headersMs = Math.min(o.headersTimeoutMs ?? 60_000, this.requestTimeoutMs > 0 ? this.requestTimeoutMs : Infinity);
    this.keepAliveFields = `Connection: keep-alive\r\nKeep-Alive: timeout=${Math.floor(this.#keepAliveMs / 1000)}\r\n`;
    // Which handed-off connections have a request or an upgrade under way, and whether its body is all here (for the sweep).
    o.node.on('request', (req: IncomingMessage, res: ServerResponse) => {
      if (req.socket instanceof SocketDuplex) req.socket.began(req, res);
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

  handOff(d: SocketDuplex): void {
    this.handedOff++;
    this.o.handedOff?.();
    this.o.node.emit('connection', d);
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
        const x = c.ending ? 'cut' : node.expiry(now, this.#keepAliveMs, this.#headersMs, this.requestTimeoutMs);
        if (x === 'timeout') this.#timeOut(node);
        else if (x) c.close(x === 'cut');
      } else if (c.idle && now - c.since > this.#keepAliveMs) c.close(false);
      else if (c.readingHead && now - c.since > this.#headersMs) c.close(true);
    }
  }

  /** 408 with `Connection: close` (the caller's, or a bare one as node's server writes), or the connection cut. */
  #timeOut(node: SocketDuplex): void {
    const { req, res } = node.timeOut();
    if (this.o.requestTimedOut) this.o.requestTimedOut(req, res, node.remoteAddress);
    else if (res) {
      res.writeHead(408, { 'Content-Length': '0', Connection: 'close' });
      res.end();
    }
  }

  /** Stops accepting. Open connections are the caller's to end. */
  stop(): void {
    clearInterval(this.#sweep);
    this.#listener.stop();
  }
}
