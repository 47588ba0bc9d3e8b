// One connection of the HTTP/1.1 client (src/kube/http1.ts) and the parser of its answers: status line, headers,
// a body framed by Content-Length, chunked coding or the connection's end (RFC 9112 §6), delivered whole or as a
// stream with backpressure. Malformed input fails the exchange with an Http1Error and closes the connection.
import { HTTP_TOKEN } from '../protocol/http-headers.ts';
import type { StreamSocket } from '../runtime/types.ts';

/** A malformed answer, a connection closed early, a connect timeout: `code` names which. */
export class Http1Error extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'Http1Error';
  }
}

export class Http1Response {
  constructor(
    readonly status: number,
    readonly statusText: string,
    /** Names and values as received, flat: [name, value, name, value, …]. */
    readonly rawHeaders: string[],
    /** The declared Content-Length, -1 when there is none (chunked, or delimited by the connection's end). */
    readonly contentLength: number,
    /**
     * The whole body, when the call was `whole` and it fit in `bufferUpTo`; an empty one, whatever the call, when the
     * answer has none (HEAD, 204, 304, Content-Length: 0); else null.
     */
    readonly whole: Uint8Array<ArrayBuffer> | null,
    /** The body (or its rest) as a stream, when it is not `whole`; null when there is none. */
    readonly body: ReadableStream<Uint8Array> | null,
  ) {}

  /** The first value of a header (name in lower case), or null. */
  header(lower: string): string | null {
    const h = this.rawHeaders;
    for (let i = 0; i < h.length; i += 2) if (h[i]!.length === lower.length && h[i]!.toLowerCase() === lower) return h[i + 1]!;
    return null;
  }

  /** The whole body, read from the stream when it was not read already. */
  async bytes(): Promise<Uint8Array<ArrayBuffer>> {
    if (this.whole) return this.whole;
    if (!this.body) return new Uint8Array(0);
    return new Uint8Array(await new Response(this.body).arrayBuffer());
  }
}

const CRLF2 = Buffer.from('\r\n\r\n');
const LF = Buffer.from('\n');
const NO_BYTES = Buffer.alloc(0);
/** Trailers begin right after the last chunk's size line, whose CRLF is their first delimiter's first half. */
const CRLF = Buffer.from('\r\n');
const EMPTY = new Uint8Array(0) as Uint8Array<ArrayBuffer>;
/**
 * A head may not hold a NUL, or a CR or LF but as CRLF (RFC 9110 §5.5, RFC 9112 §2.2): a bare LF could hide a second
 * header from us that another parser would see. A lone CR is this test (with indexOf for NUL: ≈ 50 ns for a 400-byte
 * head, where one regex for all three took 80 and a test per line 180); a bare LF is a line that does not end in CR.
 */
const LONE_CR = /\r(?!\n)/;
/** Methods a request of which is sent again when a reused connection closed before any answer (Go's rule). */
const REPLAYABLE = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);

const enum Phase {
  Idle,
  Head,
  Length,
  ChunkSize,
  ChunkData,
  ChunkEnd,
  Trailers,
  UntilClose,
}

export interface Exchange {
  readonly method: string;
  readonly wire: Uint8Array[];
  readonly signal: AbortSignal;
  readonly whole: boolean;
  resolve(r: Http1Response): void;
  reject(e: unknown): void;
  settled: boolean;
  /** Any byte of the answer arrived (then it is never sent again). */
  answered: boolean;
  retried: boolean;
  onAbort: (() => void) | null;
  status: number;
  statusText: string;
  rawHeaders: string[];
  contentLength: number;
  /** `whole`: the body so far, while it fits in bufferUpTo. */
  parts: Uint8Array[] | null;
  partsBytes: number;
  stream: ReadableStreamDefaultController<Uint8Array> | null;
  /** The answer allows the connection to serve again. */
  keepAlive: boolean;
}

/** A fresh exchange: nothing received yet. */
export function newExchange(method: string, wire: Uint8Array[], signal: AbortSignal, whole: boolean, resolve: (r: Http1Response) => void, reject: (e: unknown) => void): Exchange {
  return {
    method,
    wire,
    signal,
    whole,
    resolve,
    reject,
    settled: false,
    answered: false,
    retried: false,
    onAbort: null,
    status: 0,
    statusText: '',
    rawHeaders: [],
    contentLength: -1,
    parts: null,
    partsBytes: 0,
    stream: null,
    keepAlive: true,
  };
}

/** What a connection needs of its pool. */
export interface ConnPool {
  readonly maxHeaderBytes: number;
  readonly bufferUpTo: number;
  /** The exchange is over and the connection may serve again. */
  release(c: Conn): void;
  /** An idle connection closed (by the server, or an error). */
  forget(c: Conn): void;
  /** A replayable exchange whose reused connection closed before any answer: once more, on a new one. */
  retry(ex: Exchange): void;
}

/** One socket and the parser of its answers. */
export class Conn {
  readonly #pool: ConnPool;
  readonly #s: StreamSocket;
  #ex: Exchange | null = null;
  #phase = Phase.Idle;
  /**
   * Bytes of a head, chunk-size line or trailers not complete yet, kept as they came (joined once, when complete: a
   * head arriving in many small reads costs linear time, not quadratic), and the last bytes of them (`#tail`), where
   * a delimiter that straddles two reads starts.
   */
  readonly #pending: Buffer[] = [];
  #pendingBytes = 0;
  #tail: Buffer = NO_BYTES;
  /** Body bytes left of the Content-Length or of the current chunk. */
  #left = 0;
  /** Bytes of the chunk's CRLF still expected (2, 1). */
  #crlf = 0;
  #served = 0;
  /** Bytes of the 1xx heads of this exchange: they count against maxHeaderBytes (an endless stream of them fails). */
  #informational = 0;
  #lastUsed = 0;
  #dead = false;
  readonly #maxHeaderBytes: number;
  readonly #bufferUpTo: number;

  constructor(pool: ConnPool, s: StreamSocket) {
    this.#pool = pool;
    this.#s = s;
    this.#maxHeaderBytes = pool.maxHeaderBytes;
    this.#bufferUpTo = pool.bufferUpTo;
    s.on('data', (d: Buffer) => this.#data(d));
    s.on('end', () => this.#ended());
    s.on('error', (e: Error) => this.#failed(e));
    s.on('close', () => this.#failed(null));
  }

  usable(now: number, idleMs: number): boolean {
    return !this.#dead && !this.#s.destroyed && now - this.#lastUsed < idleMs;
  }

  start(ex: Exchange): void {
    this.#ex = ex;
    this.#phase = Phase.Head;
    this.#informational = 0;
    const s = this.#s;
    if (ex.wire.length === 1) s.write(ex.wire[0]!);
    else for (const w of ex.wire) s.write(w);
  }

  destroy(): void {
    this.#dead = true;
    this.#s.destroy();
  }

  /**
   * The abort listener of this connection's exchange (one function per connection, not a closure per request; the
   * exchange removes it when it ends, so it only ever sees the exchange in flight).
   */
  readonly onAbort = (): void => {
    const ex = this.#ex;
    if (ex) this.abort(ex);
  };

  abort(ex: Exchange): void {
    if (this.#ex !== ex) return;
    this.#finish(ex.signal.reason ?? new DOMException('The operation was aborted.', 'AbortError'));
  }

  #data(d: Buffer): void {
    const ex = this.#ex;
    if (!ex) {
      // Bytes nobody asked for: the connection cannot be trusted with the next request.
      this.#pool.forget(this);
      this.destroy();
      return;
    }
    ex.answered = true;
    try {
      this.#parse(ex, d);
    } catch (e) {
      this.#finish(e instanceof Http1Error ? e : new Http1Error('ERR_BAD_RESPONSE', String((e as Error)?.message ?? e)));
    }
  }

  #parse(ex: Exchange, d: Buffer): void {
    while (d.length && this.#ex === ex) {
      switch (this.#phase) {
        case Phase.Head: {
          const end = this.#find(d, CRLF2);
          if (end === null ? this.#pendingBytes + d.length > this.#maxHeaderBytes : end > this.#maxHeaderBytes) {
            throw new Http1Error('ERR_BAD_RESPONSE', `response header larger than ${this.#maxHeaderBytes} bytes`);
          }
          if (end === null) {
            this.#hold(d, 3);
            return;
          }
          const buf = this.#join(d);
          d = buf.subarray(end + 4);
          this.#head(ex, buf.toString('latin1', 0, end));
          break;
        }
        case Phase.Length: {
          const n = Math.min(this.#left, d.length);
          this.#left -= n;
          const part = d.subarray(0, n);
          d = d.subarray(n);
          this.#body(ex, part);
          if (this.#left === 0) this.#complete(ex, d);
          break;
        }
        case Phase.ChunkSize: {
          const nl = this.#find(d, LF);
          if (nl === null) {
            if (this.#pendingBytes + d.length > 1024) throw new Http1Error('ERR_BAD_RESPONSE', 'chunk size line longer than 1024 bytes');
            this.#hold(d, 0);
            return;
          }
          const buf = this.#join(d);
          if (nl === 0 || buf[nl - 1] !== 13) throw new Http1Error('ERR_BAD_RESPONSE', 'chunk size line not ended by CRLF');
          const line = buf.toString('latin1', 0, nl - 1);
          d = buf.subarray(nl + 1);
          const semi = line.indexOf(';');
          const hex = (semi < 0 ? line : line.slice(0, semi)).trim();
          if (!/^[0-9a-fA-F]{1,12}$/.test(hex)) throw new Http1Error('ERR_BAD_RESPONSE', `invalid chunk size ${JSON.stringify(hex.slice(0, 20))}`);
          const size = parseInt(hex, 16);
          if (size === 0) {
            this.#phase = Phase.Trailers;
            this.#tail = CRLF;
          } else {
            this.#left = size;
            this.#phase = Phase.ChunkData;
          }
          break;
        }
        case Phase.ChunkData: {
          const n = Math.min(this.#left, d.length);
          this.#left -= n;
          const part = d.subarray(0, n);
          d = d.subarray(n);
          this.#body(ex, part);
          if (this.#left === 0) {
            this.#phase = Phase.ChunkEnd;
            this.#crlf = 2;
          }
          break;
        }
        case Phase.ChunkEnd: {
          while (this.#crlf && d.length) {
            if (d[0] !== (this.#crlf === 2 ? 13 : 10)) throw new Http1Error('ERR_BAD_RESPONSE', 'chunk data not followed by CRLF');
            this.#crlf--;
            d = d.subarray(1);
          }
          if (!this.#crlf) this.#phase = Phase.ChunkSize;
          break;
        }
        case Phase.Trailers: {
          // Trailers are read and dropped (the relay has no place for them, as fetch does not give them either). The
          // search starts with the size line's CRLF (`#tail`): no trailers is a CRLF2 at -2 (found without a search
          // when it is all there).
          const end = !this.#pendingBytes && d.length >= 2 && d[0] === 13 && d[1] === 10 ? -2 : this.#find(d, CRLF2);
          if (end === null ? this.#pendingBytes + d.length > this.#maxHeaderBytes : end > this.#maxHeaderBytes) {
            throw new Http1Error('ERR_BAD_RESPONSE', `trailers larger than ${this.#maxHeaderBytes} bytes`);
          }
          if (end === null) {
            this.#hold(d, 3);
            return;
          }
          this.#complete(ex, this.#join(d).subarray(end + 4));
          return;
        }
        case Phase.UntilClose:
          this.#body(ex, d);
          return;
        default:
          throw new Http1Error('ERR_BAD_RESPONSE', 'bytes after the end of the response');
      }
    }
    if (d.length && this.#ex !== ex && !this.#dead) {
      // The answer was complete (no body) and more bytes followed it: nothing was asked for them.
      this.#pool.forget(this);
      this.destroy();
    }
  }

  /** Where `delim` starts in the pending bytes followed by `d` (before them when it begins in `#tail`), or null. */
  #find(d: Buffer, delim: Buffer): number | null {
    const t = this.#tail;
    if (!t.length) {
      const i = d.indexOf(delim);
      return i < 0 ? null : this.#pendingBytes + i;
    }
    // Only the boundary needs the tail: a delimiter wholly inside `d` is found without copying it.
    const edge = Buffer.concat([t, d.subarray(0, delim.length - 1)]).indexOf(delim);
    if (edge >= 0) return this.#pendingBytes - t.length + edge;
    const i = d.indexOf(delim);
    return i < 0 ? null : this.#pendingBytes + i;
  }

  /** Keep `d` for later, and its last `keep` bytes (with the tail's) to find a delimiter that straddles reads. */
  #hold(d: Buffer, keep: number): void {
    this.#pending.push(d);
    this.#pendingBytes += d.length;
    if (keep) {
      const t = d.length >= keep ? d.subarray(d.length - keep) : Buffer.concat([this.#tail, d]);
      this.#tail = t.length > keep ? t.subarray(t.length - keep) : t;
    }
  }

  /** The pending bytes and `d` in one buffer; nothing is pending afterwards. */
  #join(d: Buffer): Buffer {
    const p = this.#pending;
    if (!p.length) {
      this.#tail = NO_BYTES;
      return d;
    }
    const buf = Buffer.concat([...p, d]);
    p.length = 0;
    this.#pendingBytes = 0;
    this.#tail = NO_BYTES;
    return buf;
  }

  #head(ex: Exchange, head: string): void {
    if (LONE_CR.test(head) || head.indexOf('\0') >= 0) throw new Http1Error('ERR_BAD_RESPONSE', 'response head holds a NUL or a CR not in CRLF');
    // Split at LF (cheaper than at CRLF): every line but the last then ends in CR, or it was a bare LF.
    const lines = head.split('\n');
    const last = lines.length - 1;
    for (let i = 0; i < last; i++) if (lines[i]!.charCodeAt(lines[i]!.length - 1) !== 13) throw new Http1Error('ERR_BAD_RESPONSE', 'response head holds a LF not in CRLF');
    const sl = last ? lines[0]!.slice(0, -1) : lines[0]!;
    // HTTP/1.x SSS[ reason]
    if (!(sl.length >= 12 && sl.startsWith('HTTP/1.') && (sl[7] === '1' || sl[7] === '0') && sl[8] === ' ' && (sl.length === 12 || sl[12] === ' '))) {
      throw new Http1Error('ERR_BAD_RESPONSE', `malformed status line ${JSON.stringify(sl.slice(0, 60))}`);
    }
    const status = Number(sl.slice(9, 12));
    if (!(status >= 100 && status <= 999) || !/^\d{3}$/.test(sl.slice(9, 12))) throw new Http1Error('ERR_BAD_RESPONSE', `malformed status line ${JSON.stringify(sl.slice(0, 60))}`);
    const raw: string[] = [];
    let length = -1;
    let chunked = false;
    let te = false;
    let close = sl[7] === '0';
    for (let i = 1; i < lines.length; i++) {
      const l = lines[i]!;
      const c = l.indexOf(':');
      if (c <= 0) throw new Http1Error('ERR_BAD_RESPONSE', `malformed header line ${JSON.stringify(l.slice(0, 60))}`);
      const name = l.slice(0, c);
      if (!HTTP_TOKEN.test(name)) throw new Http1Error('ERR_BAD_RESPONSE', `malformed header name ${JSON.stringify(name.slice(0, 60))}`);
      const value = trimOws(l, c + 1, i < last ? l.length - 1 : l.length);
      raw.push(name, value);
      switch (name.length) {
        case 14:
          if (name.toLowerCase() === 'content-length') {
            if (!/^\d{1,15}$/.test(value)) throw new Http1Error('ERR_BAD_RESPONSE', `invalid Content-Length ${JSON.stringify(value.slice(0, 40))}`);
            const n = Number(value);
            if (length >= 0 && n !== length) throw new Http1Error('ERR_BAD_RESPONSE', 'conflicting Content-Length headers');
            length = n;
          }
          break;
        case 17:
          if (name.toLowerCase() === 'transfer-encoding') {
            te = true;
            const codings = value.toLowerCase().split(',');
            chunked = codings[codings.length - 1]!.trim() === 'chunked';
          }
          break;
        case 10:
          if (name.toLowerCase() === 'connection') {
            const v = value.toLowerCase();
            if (v.includes('close')) close = true;
            else if (sl[7] === '0' && v.includes('keep-alive')) close = false;
          }
          break;
      }
    }
    if (status < 200) {
      // 1xx: informational, another head follows (101 is not for this client: nothing was asked to switch).
      if (status === 101) throw new Http1Error('ERR_BAD_RESPONSE', 'unexpected 101 Switching Protocols');
      this.#informational += head.length + 4;
      if (this.#informational > this.#maxHeaderBytes) throw new Http1Error('ERR_BAD_RESPONSE', `1xx responses larger than ${this.#maxHeaderBytes} bytes in all`);
      this.#phase = Phase.Head;
      return;
    }
    ex.status = status;
    ex.statusText = sl.length > 13 ? sl.slice(13) : '';
    ex.rawHeaders = raw;
    ex.keepAlive = !close;
    const noBody = ex.method === 'HEAD' || status === 204 || status === 304;
    if (noBody) {
      ex.contentLength = length;
      this.#complete(ex, EMPTY);
      return;
    }
    if (te) {
      // Transfer-Encoding wins over Content-Length (RFC 9112 §6.3), and such a connection is not reused.
      if (length >= 0) ex.keepAlive = false;
      length = -1;
      if (chunked) this.#phase = Phase.ChunkSize;
      else {
        this.#phase = Phase.UntilClose;
        ex.keepAlive = false;
      }
    } else if (length >= 0) {
      this.#phase = Phase.Length;
      this.#left = length;
    } else {
      this.#phase = Phase.UntilClose;
      ex.keepAlive = false;
    }
    ex.contentLength = length;
    if (length === 0) this.#complete(ex, EMPTY);
    else this.#open(ex);
  }

  /** The head of an answer with a body is in: a streamed answer resolves now, a whole one collects its body first. */
  #open(ex: Exchange): void {
    if (ex.whole && (ex.contentLength < 0 || ex.contentLength <= this.#bufferUpTo)) {
      ex.parts = [];
      return;
    }
    this.#resolveStreaming(ex, []);
  }

  #resolveStreaming(ex: Exchange, first: Uint8Array[]): void {
    const s = this.#s;
    const body = new ReadableStream<Uint8Array>(
      {
        start: (c) => {
          ex.stream = c;
          for (const p of first) c.enqueue(p);
        },
        pull: () => {
          if (this.#ex === ex) s.resume();
        },
        cancel: () => {
          if (this.#ex !== ex) return;
          ex.stream = null;
          this.#finish(null, true);
        },
      },
      { highWaterMark: 256 * 1024, size: (c) => c?.byteLength ?? 0 },
    );
    ex.parts = null;
    ex.settled = true;
    if ((ex.stream?.desiredSize ?? 1) <= 0) s.pause();
    ex.resolve(new Http1Response(ex.status, ex.statusText, ex.rawHeaders, ex.contentLength, null, body));
  }

  #body(ex: Exchange, part: Uint8Array): void {
    if (!part.length) return;
    if (ex.parts) {
      ex.parts.push(part);
      ex.partsBytes += part.length;
      if (ex.partsBytes > this.#bufferUpTo) this.#resolveStreaming(ex, ex.parts);
      return;
    }
    const c = ex.stream;
    if (!c) return;
    c.enqueue(part);
    if ((c.desiredSize ?? 1) <= 0) this.#s.pause();
  }

  /** The answer is complete; `rest` is what came after it. */
  #complete(ex: Exchange, rest: Uint8Array): void {
    const keep = ex.keepAlive && rest.length === 0;
    this.#ex = null;
    this.#phase = Phase.Idle;
    ex.signal.removeEventListener('abort', ex.onAbort!);
    if (!ex.settled) {
      ex.settled = true;
      let whole: Uint8Array<ArrayBuffer> = EMPTY;
      const parts = ex.parts;
      if (parts && parts.length === 1) whole = parts[0] as Uint8Array<ArrayBuffer>;
      else if (parts && parts.length > 1) {
        whole = new Uint8Array(ex.partsBytes);
        let off = 0;
        for (const p of parts) {
          whole.set(p, off);
          off += p.length;
        }
      }
      ex.resolve(new Http1Response(ex.status, ex.statusText, ex.rawHeaders, ex.contentLength, whole, null));
    } else if (ex.stream) {
      ex.stream.close();
      ex.stream = null;
    }
    this.#served++;
    this.#lastUsed = Date.now();
    if (keep) {
      this.#s.resume();
      this.#pool.release(this);
    } else this.destroy();
  }

  /** The connection ended or failed (`e` null: closed). */
  #failed(e: Error | null): void {
    this.#dead = true;
    const ex = this.#ex;
    if (!ex) {
      this.#pool.forget(this);
      return;
    }
    if (this.#phase === Phase.UntilClose && !e) {
      this.#complete(ex, EMPTY);
      return;
    }
    if (!ex.answered && this.#served > 0 && !ex.retried && !ex.signal.aborted && REPLAYABLE.has(ex.method)) {
      // Go's errServerClosedIdle: the server closed a kept-alive connection as we wrote to it.
      this.#ex = null;
      this.#pool.retry(ex);
      return;
    }
    this.#finish(e ?? new Http1Error('ECONNRESET', ex.answered ? 'connection closed before the response was complete' : 'connection closed before any response'));
  }

  #ended(): void {
    // The server half-closed: a response delimited by the close is complete; anything else fails on 'close'.
    const ex = this.#ex;
    if (ex && this.#phase === Phase.UntilClose) this.#complete(ex, EMPTY);
  }

  /** End the exchange with an error (or, `cancelled`, because the reader gave up), closing the connection. */
  #finish(err: unknown, cancelled = false): void {
    const ex = this.#ex;
    this.#ex = null;
    this.#phase = Phase.Idle;
    this.destroy();
    if (!ex) return;
    ex.signal.removeEventListener('abort', ex.onAbort!);
    if (!ex.settled) {
      ex.settled = true;
      ex.reject(err);
    } else if (ex.stream && !cancelled) {
      try {
        ex.stream.error(err);
      } catch {
        // already closed or errored
      }
    }
    ex.stream = null;
  }
}

/** `s` from `a` to `b` without the optional whitespace around a field value: SP and HTAB only (`trim` takes more). */
function trimOws(s: string, a: number, b: number): string {
  while (a < b && (s.charCodeAt(a) === 32 || s.charCodeAt(a) === 9)) a++;
  while (b > a && (s.charCodeAt(b - 1) === 32 || s.charCodeAt(b - 1) === 9)) b--;
  return s.slice(a, b);
}
