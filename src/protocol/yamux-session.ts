// A yamux session (hashicorp/yamux v0.1.2 semantics, protocol.md §5.2) over any byte transport: the caller feeds
// inbound bytes to `input` and sends what `out` is given. Streams have 256 KiB credit windows both ways, half-close
// (FIN), reset (RST), keep-alive pings and GoAway. No sockets here: the agent runs it over the gateway WebSocket,
// the hub over each agent's socket, tests over a byte pipe.
//
// Why not the npm `yamux-js` 0.2.0: fed a Go-style byte stream it drops a data frame's body that spans two chunks
// and a header cut in two (the very case of §5.2), ignores FIN (no half-close), grants window before the reader
// consumed anything (unbounded buffering) and polls every 100 ms when the send window is empty.
import { encodeDataFrame, Flag, FrameDecoder, type FrameHeader, FrameType, GoAwayCode, HEADER_BYTES, INITIAL_STREAM_WINDOW, writeHeader } from './yamux-frame.ts';

export interface YamuxConfig {
  /** Ping the peer this often (0 = no keep-alive); no answer within `writeTimeoutMs` ends the session. */
  keepAliveMs: number;
  writeTimeoutMs: number;
  /** The receive window a stream grows to (at least 256 KiB). */
  maxStreamWindow: number;
}

export const DEFAULT_YAMUX_CONFIG: YamuxConfig = { keepAliveMs: 30_000, writeTimeoutMs: 30_000, maxStreamWindow: 256 * 1024 };

export interface YamuxSessionHooks {
  /** Bytes to send, one yamux frame per call (the transport may add its own tag in the `prefix` bytes). */
  out(frame: Uint8Array<ArrayBuffer>): void;
  /**
   * True when `out` has sent or copied the frame by the time it returns (a WebSocket `send` does): the session then
   * encodes every data frame into one reused buffer instead of allocating (and zero-filling) one per frame.
   */
  outCopies?: boolean;
  /** A stream the peer opened. */
  stream?(s: YamuxStream): void;
  /** The session ended (peer GoAway with an error, protocol error, keep-alive timeout, or `close`). */
  closed?(reason: string): void;
}

/**
 * The largest Data frame body we send; larger writes go out as several frames. Bun's WebSocket endpoints spend less
 * CPU per MiB receiving 128 KiB messages than 512 KiB ones (a socket read's size, which we used to send whole):
 * measured here, the client (agent) 220–350 vs 360–470 µs/MiB, the server (hub) 450–540 vs 550–700.
 */
export const MAX_FRAME_BODY = 128 * 1024;

/** Spare bytes reserved in front of every frame passed to `out` (0, or 2 for our tagged framing). */
export type FramePrefix = number;

export class YamuxSession {
  readonly #streams = new Map<number, YamuxStream>();
  readonly #decoder = new FrameDecoder();
  readonly #cfg: YamuxConfig;
  readonly #hooks: YamuxSessionHooks;
  readonly prefix: FramePrefix;
  #nextId: number;
  #closed: string | null = null;
  #remoteGoAway = false;
  #pingId = 0;
  readonly #pings = new Map<number, ReturnType<typeof setTimeout>>();
  #keepAlive: ReturnType<typeof setInterval> | undefined;
  /** The reused data-frame buffer (hooks.outCopies). */
  #scratch: Uint8Array<ArrayBuffer> | null = null;

  constructor(role: 'client' | 'server', cfg: Partial<YamuxConfig>, hooks: YamuxSessionHooks, prefix: FramePrefix = 0) {
    this.#cfg = { ...DEFAULT_YAMUX_CONFIG, ...cfg };
    this.#cfg.maxStreamWindow = Math.max(INITIAL_STREAM_WINDOW, this.#cfg.maxStreamWindow);
    this.#hooks = hooks;
    this.prefix = prefix;
    this.#nextId = role === 'client' ? 1 : 2;
    if (this.#cfg.keepAliveMs > 0) this.#keepAlive = setInterval(() => this.ping(), this.#cfg.keepAliveMs);
  }

  get closed(): boolean {
    return this.#closed !== null;
  }
  get streamCount(): number {
    return this.#streams.size;
  }
  get maxStreamWindow(): number {
    return this.#cfg.maxStreamWindow;
  }

  /** Inbound bytes from the transport, in any chunking. */
  input(chunk: Uint8Array): void {
    if (this.#closed) return;
    const err = this.#decoder.push(chunk, this.#sink);
    if (err) this.#fail(GoAwayCode.protocolError, err);
  }

  /** Open a stream (SYN is sent at once, as the Go library does). Throws when the session cannot open streams. */
  open(): YamuxStream {
    if (this.#closed) throw new Error(`yamux session closed: ${this.#closed}`);
    if (this.#remoteGoAway) throw new Error('yamux peer sent GoAway: no new streams');
    const id = this.#nextId;
    this.#nextId += 2;
    const s = new YamuxStream(this, id, 'opened');
    this.#streams.set(id, s);
    s._sendWindowUpdate();
    return s;
  }

  /** Send a ping; the answer must come within writeTimeoutMs or the session ends. */
  ping(): void {
    if (this.#closed) return;
    const id = this.#pingId++ >>> 0;
    this.#pings.set(
      id,
      setTimeout(() => this.#fail(GoAwayCode.normal, 'keep-alive timeout: the peer did not answer a ping'), this.#cfg.writeTimeoutMs),
    );
    this._control(FrameType.Ping, Flag.SYN, 0, id);
  }

  /** End the session: GoAway (normal) to the peer if the transport still carries it, every stream closed. */
  close(reason = 'session closed', sendGoAway = true): void {
    if (this.#closed) return;
    if (sendGoAway) this._control(FrameType.GoAway, 0, 0, GoAwayCode.normal);
    this.#shutdown(reason);
  }

  #fail(code: number, reason: string): void {
    if (this.#closed) return;
    this._control(FrameType.GoAway, 0, 0, code);
    this.#shutdown(reason);
  }

  #shutdown(reason: string): void {
    this.#closed = reason;
    clearInterval(this.#keepAlive);
    for (const t of this.#pings.values()) clearTimeout(t);
    this.#pings.clear();
    const streams = [...this.#streams.values()];
    this.#streams.clear();
    for (const s of streams) s._terminate(`yamux session ended: ${reason}`);
    this.#hooks.closed?.(reason);
  }

  /** @internal A frame without body. */
  _control(type: number, flags: number, streamId: number, length: number): void {
    if (this.#closed && type !== FrameType.GoAway) return;
    const f = new Uint8Array(this.prefix + HEADER_BYTES);
    writeHeader(f, this.prefix, { type: type as FrameHeader['type'], flags, streamId, length });
    this.#hooks.out(f);
  }

  /** @internal A Data frame, or several: bodies above MAX_FRAME_BODY are cut (flags on the first). */
  _data(streamId: number, flags: number, body: Uint8Array): void {
    for (let at = 0; at < body.length || at === 0; at += MAX_FRAME_BODY) {
      if (this.#closed) return;
      const piece = at === 0 && body.length <= MAX_FRAME_BODY ? body : body.subarray(at, at + MAX_FRAME_BODY);
      this.#frame(streamId, at === 0 ? flags : 0, piece);
      if (body.length === 0) return;
    }
  }

  #frame(streamId: number, flags: number, body: Uint8Array): void {
    if (!this.#hooks.outCopies) return this.#hooks.out(encodeDataFrame(streamId, flags, body, this.prefix));
    const n = this.prefix + HEADER_BYTES + body.length;
    if (!this.#scratch || this.#scratch.length < n) this.#scratch = new Uint8Array(this.prefix + HEADER_BYTES + MAX_FRAME_BODY);
    const f = this.#scratch.subarray(0, n);
    // The prefix (a transport tag) is zero, as in a fresh frame.
    f.fill(0, 0, this.prefix);
    writeHeader(f, this.prefix, { type: FrameType.Data, flags, streamId, length: body.length });
    f.set(body, this.prefix + HEADER_BYTES);
    this.#hooks.out(f);
  }

  /** @internal */
  _forget(id: number): void {
    this.#streams.delete(id);
  }

  /** @internal A stream received more than its window: a protocol error (Go: ErrRecvWindowExceeded). */
  _windowExceeded(id: number): void {
    this.#fail(GoAwayCode.protocolError, `stream ${id} received more data than its window`);
  }

  readonly #sink = {
    header: (h: FrameHeader) => {
      switch (h.type) {
        case FrameType.Ping:
          if (h.flags & Flag.SYN) this._control(FrameType.Ping, Flag.ACK, 0, h.length);
          else if (h.flags & Flag.ACK) {
            const t = this.#pings.get(h.length);
            clearTimeout(t);
            this.#pings.delete(h.length);
          }
          return;
        case FrameType.GoAway:
          if (h.length === GoAwayCode.normal) this.#remoteGoAway = true;
          else this.#shutdown(h.length === GoAwayCode.protocolError ? 'peer reported a protocol error' : `peer ended the session (GoAway code ${h.length})`);
          return;
        default:
          this.#streamHeader(h);
      }
    },
    data: (h: FrameHeader, piece: Uint8Array) => {
      this.#streams.get(h.streamId)?._data(piece);
    },
    frameEnd: (h: FrameHeader) => {
      this.#streams.get(h.streamId)?._closeFlags(h.flags);
    },
  };

  #streamHeader(h: FrameHeader): void {
    let s = this.#streams.get(h.streamId);
    if (h.flags & Flag.SYN) {
      if (s) return this.#fail(GoAwayCode.protocolError, `duplicate stream id ${h.streamId}`);
      if (h.streamId === 0) return this.#fail(GoAwayCode.protocolError, 'stream id 0 opened');
      // Accepted at once (the owner limits concurrency and resets what it refuses): no accept backlog.
      s = new YamuxStream(this, h.streamId, 'accepted');
      this.#streams.set(h.streamId, s);
      // Accept at once: the ACK carries the extra window, as Go's AcceptStream does.
      s._sendWindowUpdate();
      this.#hooks.stream?.(s);
    }
    if (!s) return; // a stream we already reset or closed: drop, as Go does
    if (h.type === FrameType.WindowUpdate) {
      s._grant(h.length);
      s._closeFlags(h.flags);
    } else if (h.length > 0 && !s._reserve(h.length)) this._windowExceeded(h.streamId);
  }
}

type StreamEvents = {
  data?: (chunk: Uint8Array) => void;
  end?: () => void;
  close?: (error: string | null) => void;
  drain?: () => void;
};

/**
 * One yamux stream. Receive side: `ondata` gets each piece (a view: consume or copy), `pause()` holds further
 * data back and withholds window credit, so a slow consumer bounds what the peer may send. Send side: `write`
 * returns false once the send window is used up (wait for `ondrain`); `end()` half-closes (FIN) after queued data.
 */
export class YamuxStream {
  readonly id: number;
  readonly #session: YamuxSession;
  #needAck: boolean;
  #needSyn: boolean;
  #recvWindow = INITIAL_STREAM_WINDOW;
  #sendWindow = INITIAL_STREAM_WINDOW;
  #paused = false;
  #held: Uint8Array[] = [];
  #heldBytes = 0;
  #queue: Uint8Array[] = [];
  #queuedBytes = 0;
  #localFin = false;
  #finSent = false;
  #remoteFin = false;
  #endDelivered = false;
  #done = false;
  readonly on: StreamEvents = {};

  constructor(session: YamuxSession, id: number, origin: 'opened' | 'accepted') {
    this.#session = session;
    this.id = id;
    this.#needSyn = origin === 'opened';
    this.#needAck = origin === 'accepted';
  }

  get closed(): boolean {
    return this.#done;
  }
  /** Bytes accepted by `write` and not yet sent (waiting for window). */
  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  #flags(): number {
    let f = 0;
    if (this.#needSyn) {
      f |= Flag.SYN;
      this.#needSyn = false;
    }
    if (this.#needAck) {
      f |= Flag.ACK;
      this.#needAck = false;
    }
    return f;
  }

  /** Queue bytes for the peer. False: the window is used up; more writes are queued until `drain`. */
  write(chunk: Uint8Array): boolean {
    if (this.#done || this.#localFin) return false;
    if (chunk.length === 0) return true;
    if (this.#queuedBytes === 0 && this.#sendWindow >= chunk.length) {
      this.#sendWindow -= chunk.length;
      this.#session._data(this.id, this.#flags(), chunk);
      return true;
    }
    // Own the bytes: the caller may reuse its buffer.
    this.#queue.push(chunk.slice());
    this.#queuedBytes += chunk.length;
    this.#flush();
    return this.#queuedBytes === 0;
  }

  #flush(): void {
    while (this.#queue.length && this.#sendWindow > 0 && !this.#done) {
      const head = this.#queue[0]!;
      const n = Math.min(head.length, this.#sendWindow);
      const part = n === head.length ? head : head.subarray(0, n);
      if (n === head.length) this.#queue.shift();
      else this.#queue[0] = head.subarray(n);
      this.#queuedBytes -= n;
      this.#sendWindow -= n;
      this.#session._data(this.id, this.#flags(), part);
    }
    if (this.#queuedBytes === 0 && this.#localFin && !this.#finSent) this.#sendFin();
  }

  /** Half-close: no more writes; FIN goes out after the queued bytes. */
  end(): void {
    if (this.#done || this.#localFin) return;
    this.#localFin = true;
    if (this.#queuedBytes === 0) this.#sendFin();
  }

  #sendFin(): void {
    this.#finSent = true;
    this.#session._control(FrameType.WindowUpdate, this.#flags() | Flag.FIN, this.id, 0);
    if (this.#endDelivered) this.#finish(null);
  }

  /** Abort both directions (RST). */
  reset(reason = 'reset'): void {
    if (this.#done) return;
    this.#session._control(FrameType.WindowUpdate, this.#flags() | Flag.RST, this.id, 0);
    this._terminate(reason);
  }

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    while (this.#held.length && !this.#paused && !this.#done) {
      const c = this.#held.shift()!;
      this.#heldBytes -= c.length;
      this.on.data?.(c);
    }
    // Delivered bytes free window even if the consumer paused again (held bytes still count against it).
    this._sendWindowUpdate();
    if (!this.#paused) this.#maybeEnd();
  }

  /** @internal Send a window update when at least half the window was consumed (or to carry SYN/ACK). */
  _sendWindowUpdate(): void {
    if (this.#done) return;
    const max = this.#session.maxStreamWindow;
    const delta = max - this.#heldBytes - this.#recvWindow;
    const flags = this.#flags();
    if (delta < max / 2 && flags === 0) return;
    this.#recvWindow += delta;
    this.#session._control(FrameType.WindowUpdate, flags, this.id, delta);
  }

  /** @internal */
  _reserve(n: number): boolean {
    if (n > this.#recvWindow) return false;
    this.#recvWindow -= n;
    return true;
  }

  /** @internal */
  _data(piece: Uint8Array): void {
    if (this.#done || piece.length === 0) return;
    if (this.#paused || this.#held.length) {
      this.#held.push(piece.slice());
      this.#heldBytes += piece.length;
      return;
    }
    this.on.data?.(piece);
    this._sendWindowUpdate();
  }

  /** @internal */
  _grant(delta: number): void {
    if (delta === 0 || this.#done) return;
    const blocked = this.#queuedBytes > 0;
    this.#sendWindow += delta;
    this.#flush();
    if (blocked && this.#queuedBytes === 0) this.on.drain?.();
  }

  /** @internal FIN / RST flags of a frame (after its body). */
  _closeFlags(flags: number): void {
    if (this.#done) return;
    if (flags & Flag.RST) {
      this._terminate('stream reset by peer');
      return;
    }
    if (flags & Flag.FIN) {
      this.#remoteFin = true;
      this.#maybeEnd();
    }
  }

  #maybeEnd(): void {
    if (!this.#remoteFin || this.#endDelivered || this.#held.length || this.#done) return;
    this.#endDelivered = true;
    this.on.end?.();
    if (this.#finSent) this.#finish(null);
  }

  #finish(error: string | null): void {
    if (this.#done) return;
    this.#done = true;
    this.#queue = [];
    this.#queuedBytes = 0;
    this.#held = [];
    this.#heldBytes = 0;
    this.#session._forget(this.id);
    this.on.close?.(error);
  }

  /** @internal Closed without a FIN exchange (reset, session end). */
  _terminate(reason: string): void {
    this.#finish(reason);
  }
}
