// A front connection as a node stream (http-front.ts): what the front's own reader does not serve goes to node:http
// through `emit('connection')`, with every byte from the first request it passed on.
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
