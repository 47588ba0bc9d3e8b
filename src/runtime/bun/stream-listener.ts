// Bun-only: a TCP (or TLS) listener on Bun.listen whose accepted sockets queue what the kernel does not take, for the
// hub's kube gateway front (src/hub/kube-gateway/http-front.ts). The hub runs on Bun only (issue 16); the agent
// never loads this module. Measured (issue 14, `bench/relay-floor.ts --node-floor --listen-floor`): the least a
// relay's client side costs on Bun.listen with a head reader of its own was 21 µs of hub CPU per small HTTPS request
// against 32 on node:https and 24 on Bun.serve, and the load generator spent 3 µs less per request.
import type { Socket, TCPSocketListener } from 'bun';
import { WriteQueue } from './write-queue.ts';

/** One accepted connection. Callbacks are fields (one object per connection, no emitter). */
export interface AcceptedStream {
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localPort: number;
  /** Bytes written but not yet taken by the kernel. */
  readonly writableLength: number;
  readonly closed: boolean;
  onData: (d: Buffer) => void;
  /** The queue emptied after a write that did not go through whole. */
  onDrain: () => void;
  /** The peer ended its side. */
  onEnd: () => void;
  /** Once, when the connection is gone (either side, or destroy). */
  onClose: () => void;
  /** False when part of `d` waits in the queue. */
  write(d: Uint8Array): boolean;
  /** Ends the connection once the queue is written. */
  end(): void;
  destroy(): void;
  pause(): void;
  resume(): void;
}

export interface StreamListener {
  readonly port: number;
  /** Stops accepting; open connections stay (the caller ends them). */
  stop(): void;
}

export interface StreamListenOptions {
  hostname: string;
  port: number;
  tls: { cert: string; key: string } | null;
  onOpen(s: AcceptedStream): void;
}

const nop = () => {};

class BunAccepted implements AcceptedStream {
  onData: (d: Buffer) => void = nop;
  onDrain: () => void = nop;
  onEnd: () => void = nop;
  onClose: () => void = nop;
  readonly #queue = new WriteQueue();
  #ending = false;
  /** The peer ended its side (its FIN). */
  peerEnded = false;
  closed = false;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localPort: number;

  constructor(readonly s: Socket<BunAccepted>) {
    this.remoteAddress = s.remoteAddress;
    this.remotePort = (s as unknown as { remotePort?: number }).remotePort ?? 0;
    this.localPort = s.localPort;
  }

  get writableLength(): number {
    return this.#queue.bytes;
  }

  write(d: Uint8Array): boolean {
    if (this.closed || this.#ending) return false;
    return this.#queue.write(this.s, d);
  }

  end(): void {
    if (this.closed || this.#ending) return;
    this.#ending = true;
    if (!this.#queue.bytes) this.#shutdown();
  }

  /**
   * Our side's end once everything queued is written. While the peer's side is open: shutdown() (close_notify for
   * TLS, and FIN; the peer's side still readable). Not Bun's `end()` then: on a TLS socket (Bun 1.4.5) nothing closes
   * it after end() — terminate(), timeout() and close() are ignored — until the peer closes its side, so a peer that
   * ignored our FIN (keep-alive end, refusal) held the connection for good; after shutdown() terminate() still
   * works. Once the peer has ended its side: end(), which closes after the last bytes (shutdown() then closed the
   * socket at once and reset a relayed stream's tail: test/e2e/hub-replicas-l4.test.ts).
   */
  #shutdown(): void {
    if (this.peerEnded) this.s.end();
    else this.s.shutdown();
  }

  destroy(): void {
    if (this.closed) return;
    this.#queue.clear();
    this.s.terminate();
  }

  pause(): void {
    this.s.pause();
  }

  resume(): void {
    this.s.resume();
  }

  flush(): void {
    if (!this.#queue.flush(this.s)) return;
    if (this.#ending) {
      this.#shutdown();
      return;
    }
    this.onDrain();
  }

  gone(): void {
    if (this.closed) return;
    this.closed = true;
    this.#queue.clear();
    this.onClose();
  }
}

export function listenStream(o: StreamListenOptions): StreamListener {
  const l: TCPSocketListener<BunAccepted> = Bun.listen<BunAccepted>({
    hostname: o.hostname,
    port: o.port,
    // The peer's FIN ends only its side: an upgraded stream (an L4 forward) may still answer after it, and the front
    // ends an HTTP connection itself once its answer is written.
    allowHalfOpen: true,
    ...(o.tls ? { tls: { cert: o.tls.cert, key: o.tls.key } } : {}),
    socket: {
      open(s) {
        s.setNoDelay(true);
        const a = new BunAccepted(s);
        s.data = a;
        o.onOpen(a);
      },
      // With a handshake handler Bun calls `open` when the TCP connection is accepted; without one, only once the TLS
      // handshake is done, so a client that never finishes its handshake was nobody's to time out (node's TLS server
      // cuts it after 120 s). Now the front sees it from the start, as an idle connection. A failed handshake is
      // followed by `close`.
      ...(o.tls ? { handshake() {} } : {}),
      data(s, d) {
        s.data.onData(d as Buffer);
      },
      drain(s) {
        s.data.flush();
      },
      end(s) {
        s.data.peerEnded = true;
        s.data.onEnd();
      },
      close(s) {
        s.data?.gone();
      },
      error(s) {
        // A reset or a failed handshake: 'close' follows.
        s.data?.gone();
      },
    },
  });
  return {
    port: l.port,
    stop: () => l.stop(false),
  };
}
