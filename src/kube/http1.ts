// An HTTP/1.1 client with a keep-alive pool, for the HTTP relay's calls to the Kubernetes API (issue 14).
//
// Why not `fetch`: at 64 concurrent 1 KiB GETs with kubectl's headers Bun's fetch costs the process ≈ 14.5 µs of CPU
// per request (all threads), this client ≈ 10 (`bench/http1-client.ts`; 16.9 against 11.8 over TLS), and in the
// agent (`bench/ab-c64.ts`) the relay's CPU per request fell from ≈ 30 to ≈ 24 µs. The client does only what the relay
// needs and does it the way Go's net/http Transport does (what the shipped agent uses):
// - one origin, kept-alive connections reused last-in first-out, at most `maxIdle` idle ones, an idle one closed
//   after `idleMs`; no limit on connections in use (Go's MaxConnsPerHost 0: a long watch never starves a GET);
// - the caller's headers as given (already stripped of hop-by-hop ones), Host from the URL, Content-Length from the
//   body; no Accept-Encoding added (the body is relayed as the server encoded it, never decompressed); invalid names
//   or values (CR, LF, NUL, characters above U+00FF) are refused before anything is written, as fetch refuses them;
//   the target goes as fetch sent `origin + target` (percent-encoded outside RFC 3986, dot segments and fragment gone);
// - responses framed by Content-Length, chunked coding or the connection's end; 1xx answers skipped (up to
//   maxHeaderBytes of them); no body for HEAD, 204 and 304; a malformed status line, header (a NUL, or a CR or LF
//   outside CRLF, included), length or chunk fails the request and closes the connection;
// - a request that finds its reused connection closed by the server before any byte of the answer is sent again
//   once on a new connection when it is replayable (GET, HEAD, OPTIONS, TRACE: Go's rule); any other fails. A server
//   that closes a kept-alive connection right after an answer without `Connection: close` (the API server does send
//   it; a proxy in front may not) can so fail a POST sent in the next ≈ 65 µs, before Bun reports the close: Go's
//   Transport has the same rule with a narrower window;
// - `whole`: the caller reads the whole body anyway, so the call resolves once the body is in (one promise per
//   request), or with a stream of the rest once it passes `bufferUpTo`. Without it the call resolves at the header
//   and the body is a stream (watches, `logs -f`). Streams apply backpressure: the socket pauses while the reader
//   does not read.
// Sockets come from the runtime (`runtime.connectStream`): Bun's own (Bun.connect) under Bun, node:net and node:tls
// under Deno.
import { type ForwardHeaders, HTTP_TOKEN, INVALID_HEADER_VALUE } from '../protocol/http-headers.ts';
import type { ClientTls, StreamSocket } from '../runtime/types.ts';
import { runtime } from '#runtime';
import { Conn, type ConnPool, type Exchange, Http1Error, type Http1Response, newExchange } from './http1-conn.ts';

export { Http1Error, Http1Response } from './http1-conn.ts';

export interface Http1Options {
  /** Idle connections kept for reuse (Go's MaxIdleConnsPerHost is 2; a relay needs more). */
  maxIdle?: number;
  /** An idle connection older than this is closed (Go's IdleConnTimeout: 90 s). */
  idleMs?: number;
  /** Connecting (TCP and TLS) may take this long. */
  connectTimeoutMs?: number;
  /** The status line and headers of an answer (and the trailers of a chunked one) may be this large. */
  maxHeaderBytes?: number;
  /** `whole` calls resolve with the body in one piece up to this size. */
  bufferUpTo?: number;
}

/**
 * A request target that goes on the wire as it is: RFC 3986 characters only, no dot segment (`/.`, `%2e`), no
 * fragment or backslash. Anything else is what `new URL(origin + target)`, as fetch did, would rewrite.
 */
const PLAIN_TARGET = /^\/[A-Za-z0-9\-._~!$&()*+,;=:@/?%]*$/;
const DOT_SEGMENT = /\/\.|%2e/i;
/** Methods whose requests carry a Content-Length even without a body (as fetch and Go send them). */
const LENGTH_REQUIRED = new Set(['POST', 'PUT', 'PATCH']);
/** Request headers the client sets itself or never forwards (lower case). */
const OWN_HEADERS = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'expect', 'upgrade', 'te', 'trailer']);

export class Http1Pool implements ConnPool {
  readonly #host: string;
  readonly #hostHeader: string;
  readonly #port: number;
  /** TLS settings for https (verified unless rejectUnauthorized is false: the runtime's socket checks chain and name). */
  readonly #tls: ClientTls | null;
  readonly #maxIdle: number;
  readonly #idleMs: number;
  readonly #connectTimeoutMs: number;
  readonly #maxHeaderBytes: number;
  readonly #bufferUpTo: number;
  readonly #idle: Conn[] = [];
  #sweep: ReturnType<typeof setInterval> | null = null;
  #closed = false;
  /** Connections opened, for diagnostics and tests. */
  opened = 0;

  constructor(origin: string, clientTls: ClientTls | null, o: Http1Options = {}) {
    const u = new URL(origin);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`Http1Pool: unsupported scheme ${u.protocol}`);
    const https = u.protocol === 'https:';
    this.#host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
    this.#hostHeader = u.host;
    this.#port = u.port ? Number(u.port) : https ? 443 : 80;
    this.#tls = https ? { ...(clientTls ?? {}), rejectUnauthorized: clientTls?.rejectUnauthorized !== false } : null;
    this.#maxIdle = o.maxIdle ?? 128;
    this.#idleMs = o.idleMs ?? 90_000;
    this.#connectTimeoutMs = o.connectTimeoutMs ?? 30_000;
    this.#maxHeaderBytes = o.maxHeaderBytes ?? 1 << 20;
    this.#bufferUpTo = o.bufferUpTo ?? 1 << 20;
  }

  /** Idle connections now (diagnostics and tests). */
  get idle(): number {
    return this.#idle.length;
  }

  /**
   * One exchange. `target` is the path and query; `body` a whole body (a streamed one is not this client's). Rejects
   * with the socket's error (its `code`: ECONNREFUSED, ECONNRESET, a TLS code), an Http1Error, a TypeError for an
   * invalid request, or the signal's reason.
   */
  request(method: string, target: string, headers: ForwardHeaders, body: Uint8Array | string | undefined, signal: AbortSignal, whole: boolean): Promise<Http1Response> {
    if (this.#closed) return Promise.reject(new Http1Error('ERR_CLOSED', 'HTTP client closed'));
    if (signal.aborted) return Promise.reject(signal.reason);
    let wire: Uint8Array[];
    try {
      wire = this.#encode(method, target, headers, body);
    } catch (e) {
      return Promise.reject(e);
    }
    return new Promise<Http1Response>((resolve, reject) => {
      const ex = newExchange(method, wire, signal, whole, resolve, reject);
      const conn = this.#take();
      ex.onAbort = conn.onAbort;
      signal.addEventListener('abort', ex.onAbort);
      conn.start(ex);
    });
  }

  /** Close the idle connections; exchanges in flight go on. Later requests fail. */
  close(): void {
    this.#closed = true;
    for (const c of this.#idle.splice(0)) c.destroy();
    if (this.#sweep) clearInterval(this.#sweep);
    this.#sweep = null;
  }

  #encode(method: string, target: string, headers: ForwardHeaders, body: Uint8Array | string | undefined): Uint8Array[] {
    if (!HTTP_TOKEN.test(method)) throw new TypeError(`invalid HTTP method ${JSON.stringify(method)}`);
    if (!PLAIN_TARGET.test(target) || DOT_SEGMENT.test(target)) {
      // As fetch sent it: the URL parser percent-encodes what may not go on the wire as it is, removes dot segments
      // and the fragment. Parsed after an origin (not as a relative reference: `//x` would be a host).
      const u = new URL(`http://h${target.startsWith('/') ? '' : '/'}${target}`);
      target = u.pathname + u.search;
    }
    let head = `${method} ${target} HTTP/1.1\r\nHost: ${this.#hostHeader}\r\n`;
    if (Array.isArray(headers)) for (const p of headers) head += headerLine(p[0], p[1]);
    else for (const k in headers) head += headerLine(k, headers[k]!);
    const b = typeof body === 'string' ? Buffer.from(body) : body;
    if (b !== undefined) head += `Content-Length: ${b.length}\r\n`;
    else if (LENGTH_REQUIRED.has(method)) head += 'Content-Length: 0\r\n';
    head += '\r\n';
    const h = Buffer.from(head, 'latin1');
    if (!b || !b.length) return [h];
    // A small body goes in the same write as the head (one segment); a large one after it.
    if (b.length <= 16 * 1024) {
      const one = new Uint8Array(h.length + b.length);
      one.set(h, 0);
      one.set(b, h.length);
      return [one];
    }
    return [h, b];
  }

  /** An idle connection (the most recently used), or a new one. */
  #take(): Conn {
    const now = Date.now();
    for (;;) {
      const c = this.#idle.pop();
      if (!c) break;
      if (c.usable(now, this.#idleMs)) return c;
      c.destroy();
    }
    this.opened++;
    return new Conn(this, this.#connect());
  }

  #connect(): StreamSocket {
    const ms = this.#connectTimeoutMs;
    return runtime.connectStream({
      host: this.#host,
      port: this.#port,
      tls: this.#tls,
      timeoutMs: ms,
      timeoutError: () => new Http1Error('ETIMEDOUT', `connecting to ${this.#hostHeader} timed out after ${ms} ms`),
    });
  }

  /** @internal A connection's exchange is over and it may serve again. */
  release(c: Conn): void {
    if (this.#closed || this.#idle.length >= this.#maxIdle) {
      c.destroy();
      return;
    }
    this.#idle.push(c);
    if (!this.#sweep) {
      this.#sweep = setInterval(() => this.#purge(), Math.max(1000, this.#idleMs / 2));
      (this.#sweep as { unref?: () => void }).unref?.();
    }
  }

  /** @internal An idle connection closed (by the server, or an error). */
  forget(c: Conn): void {
    const i = this.#idle.indexOf(c);
    if (i >= 0) this.#idle.splice(i, 1);
  }

  /** @internal A replayable exchange whose reused connection closed before any answer: once more, on a new one. */
  retry(ex: Exchange): void {
    ex.retried = true;
    this.opened++;
    const conn = new Conn(this, this.#connect());
    ex.signal.removeEventListener('abort', ex.onAbort!);
    ex.onAbort = conn.onAbort;
    ex.signal.addEventListener('abort', ex.onAbort);
    conn.start(ex);
  }

  #purge(): void {
    const now = Date.now();
    for (let i = this.#idle.length - 1; i >= 0; i--) {
      const c = this.#idle[i]!;
      if (!c.usable(now, this.#idleMs)) {
        this.#idle.splice(i, 1);
        c.destroy();
      }
    }
    if (!this.#idle.length && this.#sweep) {
      clearInterval(this.#sweep);
      this.#sweep = null;
    }
  }

  /** @internal */
  get maxHeaderBytes(): number {
    return this.#maxHeaderBytes;
  }

  /** @internal */
  get bufferUpTo(): number {
    return this.#bufferUpTo;
  }
}

/** Header names seen before: true to forward, false for one the client sets itself (bounded; names repeat). */
const NAME_OK = new Map<string, boolean>();
const NAME_CACHE_MAX = 1024;

function headerLine(k: string, v: string): string {
  let ok = NAME_OK.get(k);
  if (ok === undefined) {
    if (!HTTP_TOKEN.test(k)) throw new TypeError(`invalid header name ${JSON.stringify(k)}`);
    ok = !(k.length <= 17 && OWN_HEADERS.has(k.toLowerCase()));
    if (NAME_OK.size < NAME_CACHE_MAX) NAME_OK.set(k, ok);
  }
  if (!ok) return '';
  if (INVALID_HEADER_VALUE.test(v)) throw new TypeError(`invalid value for header ${k}`);
  return `${k}: ${v}\r\n`;
}
