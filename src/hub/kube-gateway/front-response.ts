// The answer to one request on the kube gateway front's own path (http-front.ts): the part of node's ServerResponse
// the gateway and its exchanges use, written straight to the connection (issue 14).
import { STATUS_CODES } from 'node:http';
import { HTTP_TOKEN } from '../../protocol/http-headers.ts';
import type { AcceptedStream } from '../../runtime/bun/stream-listener.ts';

/** What an answer needs of its connection (http-front.ts's FrontConn). */
export interface AnswerConn {
  readonly s: AcceptedStream;
  readonly front: { readonly keepAliveFields: string };
  /** The answer is complete: the connection reads its next request. */
  answered(res: FrontResponse): void;
  /** Nothing was sent: node's server answers the request instead. */
  replay(res: FrontResponse): void;
}

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

  constructor(readonly conn: AnswerConn) {}

  get writableLength(): number {
    return this.conn.s.writableLength;
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
    if (!this.headersSent) return this.conn.s.write(this.#framed(this.#takeHead(), body, false));
    if (this.#noBody || body.length === 0) return this.conn.s.writableLength === 0;
    if (!this.#chunked || body.length < COPY_BELOW) return this.conn.s.write(this.#framed('', body, false));
    // A bulk chunk is not copied to be framed: its size line, the bytes, and CRLF go as three writes.
    const s = this.conn.s;
    s.write(Buffer.from(`${body.length.toString(16)}\r\n`, 'latin1'));
    s.write(body);
    return s.write(CRLF);
  }

  end(chunk?: Uint8Array | string): this {
    if (this.#ended || this.destroyed) return this;
    const body = chunk === undefined ? EMPTY : typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    // A buffered answer: head, body and (chunked) the last chunk in one write.
    if (!this.headersSent) this.conn.s.write(this.#framed(this.#takeHead(), body, true));
    else if (body.length && !this.#noBody) this.conn.s.write(this.#framed('', body, true));
    else if (this.#chunked) this.conn.s.write(LAST_CHUNK);
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

  /** The head, marked sent (written with the first bytes that follow it). */
  #takeHead(): string {
    if (!this.#head) this.writeHead(this.statusCode);
    this.headersSent = true;
    return this.#head;
  }

  /**
   * `head` (may be empty), then `body` as the answer frames it (nothing for a no-body status; a chunk when chunked),
   * then, with `last` and chunked, the terminating chunk: one buffer, one write.
   */
  #framed(head: string, body: Uint8Array, last: boolean): Buffer {
    const bytes = this.#noBody ? EMPTY : body;
    const chunk = this.#chunked && bytes.length > 0;
    const prefix = chunk ? `${head}${bytes.length.toString(16)}\r\n` : head;
    const suffix = (chunk ? '\r\n' : '') + (last && this.#chunked ? '0\r\n\r\n' : '');
    const out = Buffer.allocUnsafe(prefix.length + bytes.length + suffix.length);
    out.write(prefix, 0, 'latin1');
    out.set(bytes, prefix.length);
    if (suffix) out.write(suffix, prefix.length + bytes.length, 'latin1');
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
