// A minimal SPDY/3 server session, enough for what client-go's spdystream asks of a kubelet: accept
// client-initiated streams (SYN_STREAM → SYN_REPLY), carry DATA with FIN half-closes, RST_STREAM, echo PING,
// honour GOAWAY. No flow control: spdystream never waits for WINDOW_UPDATE, so neither do we.
// The transport is any ordered byte pipe: a raw upgraded socket, or the binary messages of a WebSocket tunnel.
import { encodeSpdyFrame, RST, SpdyFrameParser, type SpdyFrame } from './spdy-frame.ts';
import { decodeHeaderBlock, encodeHeaderBlock, HeaderDeflater, HeaderInflater, type SpdyHeaders } from './spdy-header-block.ts';

/** Where a session reports protocol trouble (the sandbox's stream log, the hub's logger). */
export interface SpdyLog {
  warn(obj: Record<string, unknown> | string, msg?: string): void;
  debug(obj: Record<string, unknown> | string, msg?: string): void;
}

export interface SpdyTransport {
  write(bytes: Buffer): void;
  /** Flush and close the underlying connection. */
  end(): void;
}

/** Outgoing DATA frames are cut to this size; spdystream reads any size, smaller frames interleave better. */
const DATA_CHUNK = 32 * 1024;

export class SpdyStream {
  #dataListeners: ((d: Buffer) => void)[] = [];
  #endListeners: (() => void)[] = [];
  #resetListeners: (() => void)[] = [];
  #pendingData: Buffer[] = [];
  #remoteEnded = false;
  #localEnded = false;
  #reset = false;

  constructor(
    readonly id: number,
    readonly headers: SpdyHeaders,
    private readonly session: SpdySession,
  ) {}

  get isOpen(): boolean {
    return !this.#reset && !this.#localEnded;
  }

  write(data: Uint8Array): void {
    if (!this.isOpen) return;
    const buf = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    for (let off = 0; off < buf.length; off += DATA_CHUNK) {
      this.session.send({ kind: 'data', streamId: this.id, fin: false, data: buf.subarray(off, off + DATA_CHUNK) });
    }
  }

  /** Half-close our side (an empty DATA frame with FIN). */
  end(): void {
    if (!this.isOpen) return;
    this.#localEnded = true;
    this.session.send({ kind: 'data', streamId: this.id, fin: true, data: Buffer.alloc(0) });
    this.#maybeForget();
  }

  reset(status: number = RST.cancel): void {
    if (this.#reset) return;
    this.#reset = true;
    this.session.send({ kind: 'rstStream', streamId: this.id, status });
    this.session.forget(this.id);
  }

  /** Data before the first listener is kept: handlers attach after async work. */
  onData(cb: (d: Buffer) => void): void {
    this.#dataListeners.push(cb);
    const pending = this.#pendingData;
    this.#pendingData = [];
    for (const d of pending) cb(d);
  }

  /** The peer half-closed (FIN); called at once if that already happened. */
  onEnd(cb: () => void): void {
    if (this.#remoteEnded) queueMicrotask(cb);
    else this.#endListeners.push(cb);
  }

  /** The peer reset the stream, or the connection went away. */
  onReset(cb: () => void): void {
    if (this.#reset) queueMicrotask(cb);
    else this.#resetListeners.push(cb);
  }

  receiveData(data: Buffer, fin: boolean): void {
    if (this.#reset || this.#remoteEnded) return;
    if (data.length > 0) {
      if (this.#dataListeners.length === 0) this.#pendingData.push(data);
      else for (const cb of this.#dataListeners) cb(data);
    }
    if (fin) {
      this.#remoteEnded = true;
      for (const cb of this.#endListeners.splice(0)) cb();
      this.#maybeForget();
    }
  }

  receiveReset(): void {
    if (this.#reset) return;
    this.#reset = true;
    for (const cb of this.#resetListeners.splice(0)) cb();
    this.session.forget(this.id);
  }

  #maybeForget(): void {
    if (this.#remoteEnded && this.#localEnded) this.session.forget(this.id);
  }
}

export class SpdySession {
  readonly #parser = new SpdyFrameParser();
  readonly #deflater = new HeaderDeflater();
  readonly #inflater = new HeaderInflater();
  readonly #streams = new Map<number, SpdyStream>();
  #chain: Promise<void> = Promise.resolve();
  #closed = false;
  #lastStreamId = 0;
  #closeListeners: (() => void)[] = [];

  constructor(
    private readonly transport: SpdyTransport,
    private readonly onStream: (s: SpdyStream) => void,
    private readonly log: SpdyLog,
  ) {}

  get closed(): boolean {
    return this.#closed;
  }

  /** Feed bytes from the peer. Frames are handled strictly in order because header inflation is async. */
  receive(chunk: Buffer): void {
    if (this.#closed) return;
    let frames: SpdyFrame[];
    try {
      frames = this.#parser.push(chunk);
    } catch (err) {
      this.#fail(err as Error);
      return;
    }
    for (const f of frames) {
      this.#chain = this.#chain.then(() => (this.#closed ? undefined : this.#handle(f))).catch((err: Error) => this.#fail(err));
    }
  }

  send(frame: SpdyFrame): void {
    if (this.#closed) return;
    this.transport.write(encodeSpdyFrame(frame));
  }

  forget(id: number): void {
    this.#streams.delete(id);
  }

  onClose(cb: () => void): void {
    this.#closeListeners.push(cb);
  }

  /** GOAWAY, then close the transport (what the kubelet does when a stream handler returns). */
  close(): void {
    if (this.#closed) return;
    this.send({ kind: 'goaway', lastGoodStreamId: this.#lastStreamId, status: 0 });
    this.transport.end();
    this.transportClosed();
  }

  /** The owner tells us the socket is gone: every open stream counts as reset. */
  transportClosed(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#inflater.close();
    for (const s of [...this.#streams.values()]) s.receiveReset();
    this.#streams.clear();
    for (const cb of this.#closeListeners.splice(0)) cb();
  }

  async #handle(f: SpdyFrame): Promise<void> {
    switch (f.kind) {
      case 'synStream': {
        const headers = decodeHeaderBlock(await this.#inflater.decompress(f.headerBlock));
        if (f.streamId % 2 === 0 || f.streamId <= this.#lastStreamId) {
          this.send({ kind: 'rstStream', streamId: f.streamId, status: RST.protocolError });
          this.log.warn({ streamId: f.streamId }, 'spdy: SYN_STREAM with an even or non-increasing stream id');
          return;
        }
        this.#lastStreamId = f.streamId;
        const stream = new SpdyStream(f.streamId, headers, this);
        this.#streams.set(f.streamId, stream);
        // spdystream's CreateStream blocks until this reply arrives; an empty header block is what kubelet sends.
        const block = this.#deflater.compress(encodeHeaderBlock({}));
        this.send({ kind: 'synReply', streamId: f.streamId, fin: false, headerBlock: block });
        this.onStream(stream);
        if (f.fin) stream.receiveData(Buffer.alloc(0), true);
        return;
      }
      case 'synReply':
      case 'headers':
        // Nothing to act on, but the inflater must see every block to stay in sync with the peer's deflater.
        await this.#inflater.decompress(f.headerBlock);
        return;
      case 'data': {
        const stream = this.#streams.get(f.streamId);
        if (stream) stream.receiveData(f.data, f.fin);
        else if (f.data.length > 0) this.log.debug({ streamId: f.streamId }, 'spdy: data for an unknown or closed stream dropped');
        return;
      }
      case 'rstStream':
        this.#streams.get(f.streamId)?.receiveReset();
        return;
      case 'ping':
        this.send(f);
        return;
      case 'goaway':
        this.close();
        return;
      case 'settings':
      case 'windowUpdate':
        return;
      case 'unknown':
        this.log.debug({ type: f.type }, 'spdy: unknown control frame ignored');
        return;
    }
  }

  #fail(err: Error): void {
    if (this.#closed) return;
    this.log.warn({ err: err.message }, 'spdy: protocol error, closing the connection');
    this.send({ kind: 'goaway', lastGoodStreamId: this.#lastStreamId, status: 1 });
    this.transport.end();
    this.transportClosed();
  }
}
