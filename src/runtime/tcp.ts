// Bun's native TCP sockets (Bun.listen / Bun.connect) behind the small socket surface the L4 relays use
// (src/protocol/yamux-socket-pipe.ts): about twice the throughput of node:net under Bun on this machine (a plain
// proxy: ~980 vs ~550 MiB/s). Writes the kernel does not take at once are kept in order and flushed on `drain`;
// `end()` half-closes after them; `pause()`/`resume()` stop and restart reading (present at run time, absent from
// bun-types 1.4.5, hence the cast).
import type { Socket, TCPSocketConnectOptions, TCPSocketListener, TCPSocketListenOptions } from 'bun';

type Events = {
  data: (d: Uint8Array) => void;
  end: () => void;
  close: () => void;
  error: (e: Error) => void;
  drain: () => void;
};

/** What the L4 relays need from a TCP connection; node:net's Socket has the same shape. */
export interface PipeSocket {
  write(d: Uint8Array): boolean;
  end(): void;
  destroy(): void;
  readonly destroyed: boolean;
  pause(): void;
  resume(): void;
  setTimeout(ms: number, onIdle: () => void): void;
  on<K extends keyof Events>(event: K, l: Events[K]): void;
}

/** Queued bytes above which `write` returns false (the caller waits for `drain`). */
const HIGH_WATER = 256 * 1024;

interface Holder {
  conn: NativeTcp | null;
}

class NativeTcp implements PipeSocket {
  readonly #s: Socket<Holder>;
  #queue: Uint8Array[] = [];
  #queued = 0;
  #endAfterFlush = false;
  #destroyed = false;
  #needDrain = false;
  #peerEnded = false;
  #shutDown = false;
  /** Idle deadline: `last` is the time of the latest traffic; the timer re-arms for the rest when it fires early. */
  #idle: { ms: number; cb: () => void; last: number; timer: ReturnType<typeof setTimeout> | undefined } | null = null;
  readonly #l: { [K in keyof Events]: Events[K][] } = { data: [], end: [], close: [], error: [], drain: [] };

  constructor(s: Socket<Holder>) {
    this.#s = s;
    s.data.conn = this;
    s.setNoDelay(true);
  }

  get destroyed(): boolean {
    return this.#destroyed;
  }

  on<K extends keyof Events>(event: K, l: Events[K]): void {
    this.#l[event].push(l);
  }

  write(d: Uint8Array): boolean {
    if (this.#destroyed || this.#endAfterFlush) return false;
    this.#touch();
    if (this.#queued === 0) {
      const n = this.#s.write(d);
      if (n >= d.length) return true;
      d = d.subarray(Math.max(0, n));
    }
    this.#queue.push(d);
    this.#queued += d.length;
    if (this.#queued > HIGH_WATER) this.#needDrain = true;
    return !this.#needDrain;
  }

  end(): void {
    if (this.#destroyed) return;
    if (this.#queued) this.#endAfterFlush = true;
    else this.#shutdown();
  }

  /** Half-close our side; once the peer's side is closed too, the socket is done (half-open sockets stay open otherwise). */
  #shutdown(): void {
    if (this.#shutDown) return;
    this.#shutDown = true;
    this.#s.shutdown();
    if (this.#peerEnded) this.#s.end();
  }

  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#queue = [];
    this.#queued = 0;
    this.#s.terminate();
  }

  pause(): void {
    (this.#s as unknown as { pause(): void }).pause();
  }

  resume(): void {
    (this.#s as unknown as { resume(): void }).resume();
  }

  setTimeout(ms: number, cb: () => void): void {
    if (this.#idle) clearTimeout(this.#idle.timer);
    this.#idle = { ms, cb, last: Date.now(), timer: undefined };
    this.#armIdle(ms);
  }

  // Traffic only records the time (as src/timing/idle-timer.ts, which this leaf module may not import): re-arming
  // a timer per chunk cost about 1.5 % of the relay's CPU.
  #touch(): void {
    if (this.#idle) this.#idle.last = Date.now();
  }

  #armIdle(delay: number): void {
    const i = this.#idle!;
    i.timer = setTimeout(() => {
      if (this.#destroyed || this.#idle !== i) return;
      const left = i.last + i.ms - Date.now();
      if (left > 0) this.#armIdle(left);
      else i.cb();
    }, delay);
  }

  /** @internal socket handlers */
  _data(d: Uint8Array): void {
    this.#touch();
    for (const l of this.#l.data) l(d);
  }
  _drain(): void {
    while (this.#queue.length) {
      const head = this.#queue[0]!;
      const n = this.#s.write(head);
      if (n >= head.length) {
        this.#queue.shift();
        this.#queued -= head.length;
        continue;
      }
      const took = Math.max(0, n);
      this.#queue[0] = head.subarray(took);
      this.#queued -= took;
      return;
    }
    if (this.#endAfterFlush) {
      this.#endAfterFlush = false;
      this.#shutdown();
    }
    if (this.#needDrain) {
      this.#needDrain = false;
      for (const l of this.#l.drain) l();
    }
  }
  _end(): void {
    this.#peerEnded = true;
    for (const l of this.#l.end) l();
    if (this.#shutDown && !this.#destroyed) this.#s.end();
  }
  _error(e: Error): void {
    for (const l of this.#l.error) l(e);
  }
  _close(): void {
    this.#destroyed = true;
    if (this.#idle) clearTimeout(this.#idle.timer);
    for (const l of this.#l.close) l();
  }
}

const handlers = {
  data: (s: Socket<Holder>, d: Uint8Array) => s.data.conn?._data(d),
  drain: (s: Socket<Holder>) => s.data.conn?._drain(),
  end: (s: Socket<Holder>) => s.data.conn?._end(),
  error: (s: Socket<Holder>, e: Error) => s.data.conn?._error(e),
  close: (s: Socket<Holder>) => s.data.conn?._close(),
};

export interface TcpListener {
  port: number;
  stop(): void;
}

/** Listen; `onConnection` gets each accepted connection (set its handlers before returning). */
export function listenTcp(host: string, port: number, onConnection: (s: PipeSocket) => void): TcpListener {
  const l: TCPSocketListener<Holder> = Bun.listen<Holder>({
    hostname: host,
    port,
    // Never share a port with another process's socket (Bun's default may): a taken port is an error here.
    exclusive: true,
    allowHalfOpen: true,
    data: { conn: null },
    socket: {
      ...handlers,
      open: (s) => {
        s.data = { conn: null };
        onConnection(new NativeTcp(s));
      },
    },
  } as TCPSocketListenOptions<Holder>);
  return { port: l.port, stop: () => l.stop(true) };
}

/** Connect, or fail with the reason (refused, unreachable, `timeoutMs` passed). */
export function connectTcp(host: string, port: number, timeoutMs: number, keepAliveMs = 0): Promise<PipeSocket> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      settled = true;
      reject(new Error(`dial timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    Bun.connect<Holder>({
      hostname: host,
      port,
      allowHalfOpen: true,
      data: { conn: null },
      socket: {
        ...handlers,
        open: (s) => {
          clearTimeout(timer);
          if (settled) return void s.terminate();
          settled = true;
          if (keepAliveMs > 0) s.setKeepAlive(true, keepAliveMs);
          resolve(new NativeTcp(s));
        },
        connectError: (_s, e) => {
          clearTimeout(timer);
          if (!settled) {
            settled = true;
            reject(e);
          }
        },
      },
    } as TCPSocketConnectOptions<Holder>).catch((e: Error) => {
      clearTimeout(timer);
      if (!settled) {
        settled = true;
        reject(e);
      }
    });
  });
}
