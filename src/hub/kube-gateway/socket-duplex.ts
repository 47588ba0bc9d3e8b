// A front connection as a node stream (http-front.ts): what the front's own reader does not serve goes to node:http
// through `emit('connection')`, with every byte from the first request it passed on.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Duplex } from 'node:stream';
import type { AcceptedStream } from '../../runtime/bun/stream-listener.ts';
import { IdleTimer } from '../../timing/idle-timer.ts';

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
  /**
   * The request node began last, and its answer: the request timeout runs until node's parser has all of its body
   * (`complete`; node's requestTimeout counts to the same point), from `#requestSince` (its head's first byte when
   * seen, else the 'request' event). Only the last one begun can be incomplete: the parser reads requests in order.
   */
  #req: Pick<IncomingMessage, 'complete' | 'method'> | null = null;
  #res: ServerResponse | null = null;
  #requestSince = 0;
  /** When the request timeout answered this connection (-1: it did not): input is dropped from then on. */
  timedOutAt = -1;
  /** node's socket timeout (`setTimeout`; the L4 forward's idle bound): one IdleTimer, touched by traffic. */
  #timeoutMs = 0;
  #idle: IdleTimer | null = null;

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
    // The rest of a body that came too late: node must not complete the request (its handler would forward it).
    if (this.timedOutAt >= 0) return;
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
    this.#idle?.stop();
    this.s.destroy();
    const w = this.#waiting;
    this.#waiting = null;
    w?.(e ?? Object.assign(new Error('socket closed'), { code: 'EPIPE' }));
    cb(e);
  }

  /** node's server began answering a request on this connection. */
  began(req: Pick<IncomingMessage, 'complete' | 'method'>, res: ServerResponse): void {
    this.requests++;
    this.#requestSince = this.headSince >= 0 ? this.headSince : performance.now();
    this.headSince = -1;
    this.#req = req;
    this.#res = res;
    // Kept after its answer: a request answered before its body was all here (a replica's forward, which streams the
    // body on) still has to complete in time, as node's requestTimeout runs until the parser has the whole message.
    res.once('close', () => {
      if (--this.requests === 0) this.idleSince = performance.now();
    });
  }

  /**
   * What the sweep does now: nothing, 'end' (idle for keepAliveMs), 'cut' (a head begun after the last answer and
   * still incomplete after headersMs), or 'timeout' (a request whose body is still incomplete requestMs after it
   * began; 0: never). Bytes of a next head that came in with the previous request are not seen apart from it
   * (node's parser holds them): they run on the keep-alive clock, the shorter one by default.
   */
  expiry(now: number, keepAliveMs: number, headersMs: number, requestMs: number): 'end' | 'cut' | 'timeout' | null {
    if (this.destroyed) return null;
    // Answered 408: a peer that neither reads it nor closes is cut keepAliveMs later, whatever it still sends.
    if (this.timedOutAt >= 0) return now - this.timedOutAt > keepAliveMs ? 'cut' : null;
    // Our side is ended (a refusal, an upgrade relay that finished, Connection: close): a peer that neither closes
    // nor sends anything for keepAliveMs is cut (a refused upgrade whose client ignored the FIN stayed forever).
    if (this.endedAt >= 0) return now - Math.max(this.endedAt, this.inputAt) > keepAliveMs ? 'cut' : null;
    // Upgraded (exec, attach, port-forward, a replica's L4 forward): the relay's from then on, no request timeout.
    if (this.upgraded) return null;
    // A request whose body is all here (every GET: a watch or `logs -f` may stream its answer for hours) is done.
    if (requestMs > 0 && this.#req !== null && !this.#req.complete && now - this.#requestSince > requestMs) return 'timeout';
    if (this.requests > 0) return null;
    if (this.headSince >= 0) return now - this.headSince > headersMs ? 'cut' : null;
    return now - this.idleSince > keepAliveMs ? 'end' : null;
  }

  /**
   * The request timeout passed (expiry said 'timeout'). When nothing of its answer was sent (nor did it end) and no
   * other answer is under way, `res` is returned for the caller's `408` with `Connection: close`, and our side ends
   * once that is written, as node's server ends the connection after its 408. Otherwise the connection is destroyed
   * (an answer begun cannot be replaced) and `res` is null. Either way what the client sends from now on is
   * dropped, so the request never completes.
   */
  timeOut(): { req: Pick<IncomingMessage, 'method'>; res: ServerResponse | null } {
    const req = this.#req!;
    const res = this.#res!;
    this.timedOutAt = performance.now();
    if (res.headersSent || res.writableEnded || this.requests !== 1) {
      this.destroy();
      return { req, res: null };
    }
    res.once('finish', () => {
      if (!this.writableEnded) this.end();
    });
    return { req, res };
  }

  drained(): void {
    const w = this.#waiting;
    this.#waiting = null;
    w?.();
  }

  ended(): void {
    // After a 408 node's parser must not see the end of an incomplete request either (it would destroy the socket,
    // and the 408 with it, before that is written): our side ends after the 408, and the socket closes then.
    if (this.timedOutAt >= 0) return;
    this.push(null);
  }

  gone(): void {
    this.#idle?.stop();
    if (!this.destroyed) this.destroy();
  }

  setTimeout(ms: number, cb?: () => void): this {
    this.#timeoutMs = ms;
    if (cb) this.once('timeout', cb);
    this.#idle?.stop();
    this.#idle = null;
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

  /** Traffic: the timeout moves out (no timer per chunk); after it fired, the next traffic starts a new one, as node's. */
  #active(): void {
    if (this.#idle) this.#idle.touch();
    else if (this.#timeoutMs > 0 && !this.destroyed)
      this.#idle = new IdleTimer(this.#timeoutMs, () => {
        this.#idle = null;
        this.emit('timeout');
      });
  }
}
