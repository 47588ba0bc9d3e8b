// Bun's native sockets (Bun.connect) behind the runtime's StreamSocket (src/runtime/types.ts), for the relay's
// HTTP/1.1 client: at 64 concurrent small exchanges node:net under Bun cost ≈ 0.5 µs more per request and kept
// ≈ 5 MiB more RSS after the load (8 over TLS: 53.7 against 45.8 MiB in the same test, fetch 47.0), which is what
// made the agent miss "RSS 2 s after load ≤ 1.2× idle" (issue 14). TLS is verified here, as node:tls would: Bun is
// asked not to reject (a refused chain then closes the socket without saying why) and the handshake's verdict — a
// chain error, or a name that does not match (`ERR_TLS_CERT_ALTNAME_INVALID`) — fails the socket with its code.
import type { Socket, SocketHandler } from 'bun';
import type { StreamConnectOptions, StreamSocket } from '../types.ts';
import { WriteQueue } from './write-queue.ts';

type Listeners = { data: ((d: Buffer) => void)[]; end: (() => void)[]; error: ((e: Error) => void)[]; close: (() => void)[] };

class BunStreamSocket implements StreamSocket {
  #s: Socket<undefined> | null = null;
  /** Bytes written before the connection was ready, or that the kernel did not take yet. */
  readonly #queue = new WriteQueue();
  #ready = false;
  #destroyed = false;
  #closed = false;
  #paused = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  readonly #l: Listeners = { data: [], end: [], error: [], close: [] };

  constructor(o: StreamConnectOptions) {
    const verify = o.tls !== null && o.tls.rejectUnauthorized !== false;
    this.#timer = setTimeout(() => this.destroy(o.timeoutError()), o.timeoutMs);
    const handlers: SocketHandler<undefined> = {
      open: (s) => {
        this.#s = s;
        if (this.#destroyed) {
          s.terminate();
          return;
        }
        s.setNoDelay(true);
        if (this.#paused) (s as unknown as { pause(): void }).pause();
        if (!o.tls) this.#onReady();
      },
      handshake: (_s, success, authorizationError) => {
        if (verify && (!success || authorizationError)) {
          this.destroy(authorizationError ?? Object.assign(new Error('TLS handshake failed'), { code: 'ERR_TLS_HANDSHAKE' }));
          return;
        }
        this.#onReady();
      },
      data: (_s, d) => {
        for (const l of this.#l.data) l(d as Buffer);
      },
      drain: () => this.#flush(),
      end: () => {
        for (const l of this.#l.end) l();
      },
      error: (_s, e) => this.#error(e),
      connectError: (_s, e) => {
        this.#error(e);
        this.#close();
      },
      close: () => this.#close(),
    };
    const tls = o.tls
      ? { ...(o.tls.ca ? { ca: o.tls.ca } : {}), ...(o.tls.cert ? { cert: o.tls.cert } : {}), ...(o.tls.key ? { key: o.tls.key } : {}), ...(o.tls.serverName ? { serverName: o.tls.serverName } : {}), rejectUnauthorized: false }
      : undefined;
    Bun.connect<undefined>({ hostname: o.host, port: o.port, ...(tls ? { tls } : {}), socket: handlers }).catch((e: Error) => {
      this.#error(e);
      this.#close();
    });
  }

  get destroyed(): boolean {
    return this.#destroyed || this.#closed;
  }

  on(event: keyof Listeners, listener: never): this {
    (this.#l[event] as unknown[]).push(listener);
    return this;
  }

  write(d: Uint8Array): boolean {
    if (this.destroyed) return false;
    if (!this.#ready) {
      this.#queue.push(d);
      return false;
    }
    return this.#queue.write(this.#s!, d);
  }

  pause(): this {
    this.#paused = true;
    (this.#s as unknown as { pause?(): void } | null)?.pause?.();
    return this;
  }

  resume(): this {
    this.#paused = false;
    (this.#s as unknown as { resume?(): void } | null)?.resume?.();
    return this;
  }

  destroy(e?: Error): this {
    if (this.#destroyed) return this;
    this.#destroyed = true;
    this.#queue.clear();
    if (e) this.#error(e);
    if (this.#s) this.#s.terminate();
    else this.#close();
    return this;
  }

  #onReady(): void {
    clearTimeout(this.#timer);
    this.#ready = true;
    this.#flush();
  }

  #flush(): void {
    const s = this.#s;
    if (!s || !this.#ready) return;
    this.#queue.flush(s);
  }

  #error(e: Error): void {
    if (this.#closed) return;
    for (const l of this.#l.error) l(e);
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    for (const l of this.#l.close) l();
  }
}

export function connectStream(o: StreamConnectOptions): StreamSocket {
  return new BunStreamSocket(o);
}
